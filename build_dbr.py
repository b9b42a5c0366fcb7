#!/usr/bin/env python
"""Build VANER's Dense Bioentities Recognition (DBR) data and write it as a Hugging Face dataset folder.

For every training sentence of each source corpus: mine candidate phrases (AutoPhrase-style, `dbr.phrase_mining`),
embed them and the sentence's gold mentions, retrieve their nearest KB names (`dbr.retrieval`), and assemble a
dense pseudo-sentence of <= 10 names of the corpus' entity type (B/I) and <= 5 names of other types (O)
(`dbr.assembly`). `--variant random` draws the names from the whole KB instead (the paper's ablation);
`--variant matched --reference BUILD` swaps each name of a retrieved build for a random one of the same polarity
and word count (`dbr.matched`), the control that isolates retrieval.

    python build_dbr.py --corpora NCBI-disease --data-dir ../shared/data/bioner \
        --kb ../shared/data/kb/biomed_entity_kb.tsv.gz --output-dir OUT [--kb-limit N] [--embedder PATH] \
        [--variant retrieved|random|matched] [--reference BUILD] [--seed S] [--cache-dir D] [--push-to-hub REPO]

Load the result with `datasets.load_dataset(OUT, "NCBI-disease")` (one config per source corpus); for a local
folder that may be rebuilt, `dbr.export.load_config(OUT, "NCBI-disease")` (datasets caches a local folder by name).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from datasets import Dataset
from tqdm.auto import tqdm

from cli_args import positive_int
from dataset_scripts import DBR_CORPUS, CorpusNotAvailableError, canonical_corpora, load_corpus
from dataset_scripts.entity_types import ENTITY_TYPES
from dbr.assembly import (
    VARIANTS,
    AssemblyOptions,
    SentenceNeighbours,
    dense_example,
    draw_random,
    draw_retrieved,
    iter_queries,
    sentence_rng,
)
from dbr.embedding import cached_embeddings, default_embedder, set_threads
from dbr.export import push_folder, write_dataset_folder
from dbr.kb import KnowledgeBase, load_kb
from dbr.matched import assemble_matched
from dbr.phrase_mining import PhraseMiner
from dbr.retrieval import INDEX_KINDS, cached_index, choose_index_kind, search
from dbr.text import gold_spans, normalise_phrase, split_words
from precision import resolve_cpu_dtype

__all__ = [
    "RetrievalOptions",
    "build_dbr",
    "load_sources",
    "mine_queries",
    "retrieve_neighbours",
    "assemble",
    "main",
]

DEFAULT_CACHE_DIR = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "vaner_dbr"


@dataclass(frozen=True)
class RetrievalOptions:
    embedder: str = field(default_factory=default_embedder)
    top_k: int = 10
    index: str = "auto"
    dtype: str = "auto"  # bfloat16 where the CPU runs it natively, else float32 (precision.resolve_cpu_dtype)
    miner_threshold: float = 0.3
    cache_dir: str = str(DEFAULT_CACHE_DIR)


@dataclass
class SentenceQueries:
    """Per sentence, the row numbers (into the distinct query list) of its gold mentions and candidates."""

    gold: list[np.ndarray]
    candidates: list[np.ndarray]


# ---- inputs -------------------------------------------------------------------------------------------------
def load_sources(corpora: Sequence[str], data_dir: str | os.PathLike | None) -> dict[str, Dataset]:
    """The train split of each corpus via `dataset_scripts.load_corpus`."""
    return {name: load_corpus(name, data_dir=data_dir)["train"] for name in canonical_corpora(corpora)}


def _entity_type(name: str, dataset: Dataset) -> str:
    types = set(dataset.unique("entity_type"))
    if len(types) != 1 or not types <= set(ENTITY_TYPES):
        raise ValueError(f"source corpus {name!r}: expected one entity type of {ENTITY_TYPES}, found {sorted(types)}")
    return types.pop()


# ---- phrase mining and queries ------------------------------------------------------------------------------
def fit_miner(sources: dict[str, Dataset], kb: KnowledgeBase, threshold: float) -> PhraseMiner:
    """Mine quality phrases from all source sentences, with the KB names as AutoPhrase's positive pool."""
    known = {normalise_phrase(split_words(name)) for name in tqdm(kb.names, desc="KB phrase keys", mininterval=2)}
    sentences = [tokens for dataset in sources.values() for tokens in dataset["tokens"]]
    return PhraseMiner(threshold=threshold, overlapping=True).fit(sentences, known)


def mine_queries(sources: dict[str, Dataset], miner: PhraseMiner) -> tuple[list[str], dict[str, SentenceQueries]]:
    """Distinct query strings over all sentences, and per corpus and sentence which of them it uses."""
    index: dict[str, int] = {}
    per_corpus: dict[str, SentenceQueries] = {}

    def ids(strings: list[str]) -> np.ndarray:
        return np.asarray([index.setdefault(s, len(index)) for s in strings], dtype=np.int64)

    for name, dataset in sources.items():
        queries = SentenceQueries([], [])
        rows = zip(dataset["tokens"], dataset["ner_tags"])
        for tokens, tags in tqdm(rows, total=len(dataset), desc=f"Queries {name}"):
            gold = gold_spans(tags)
            queries.gold.append(ids(iter_queries(tokens, gold)))
            queries.candidates.append(ids(iter_queries(tokens, [s for s in miner.candidates(tokens) if s not in gold])))
        per_corpus[name] = queries
    return list(index), per_corpus


def _strings_key(strings: Sequence[str]) -> str:
    digest = hashlib.sha1()
    for s in strings:
        digest.update(s.encode("utf-8") + b"\n")
    return digest.hexdigest()[:16]


# ---- retrieval ----------------------------------------------------------------------------------------------
def retrieve_neighbours(
    kb: KnowledgeBase, queries: list[str], options: RetrievalOptions, seed: int = 0, timings: dict | None = None
) -> np.ndarray:
    """(len(queries), top_k) KB indices of each query's nearest names; KB embedding and index are cached."""
    timings = timings if timings is not None else {}
    started = time.perf_counter()
    kb_vectors, kb_meta = cached_embeddings(
        kb.names, kb.fingerprint(), options.embedder, options.cache_dir, "kb", options.dtype
    )
    timings["kb_embedding_s"] = round(time.perf_counter() - started, 2)
    timings["kb_embedding_cache_hit"] = kb_meta["cache_hit"]
    started = time.perf_counter()
    kind = choose_index_kind(options.index, len(kb))
    index = kb_vectors if kind == "exact" else cached_index(kb_vectors, kb_meta["path"], kind, seed=seed)
    timings["index_s"] = round(time.perf_counter() - started, 2)
    timings["index_kind"] = kind
    started = time.perf_counter()
    query_vectors, _ = cached_embeddings(
        queries, _strings_key(queries), options.embedder, options.cache_dir, "queries", options.dtype
    )
    timings["query_embedding_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    _, neighbours = search(index, query_vectors, options.top_k)
    timings["search_s"] = round(time.perf_counter() - started, 2)
    timings["queries"] = len(queries)
    return neighbours


# ---- assembly -----------------------------------------------------------------------------------------------
def _row(source: str, source_id: str, entity_type: str, example: dict) -> dict:
    return {
        "id": f"{source}-{source_id}",
        "corpus": DBR_CORPUS,
        "entity_type": entity_type,
        "source_corpus": source,
        "source_id": source_id,
        **example,
    }


def assemble(
    kb: KnowledgeBase,
    sources: dict[str, Dataset],
    options: AssemblyOptions,
    neighbours: np.ndarray | None = None,
    queries: dict[str, SentenceQueries] | None = None,
) -> dict[str, list[dict]]:
    """Dense rows per source corpus; `neighbours`/`queries` are needed for the retrieved variant only."""
    rows: dict[str, list[dict]] = {}
    for name, dataset in sources.items():
        entity_type = _entity_type(name, dataset)
        pools = (kb.indices_of_type(entity_type), kb.indices_without_type(entity_type))
        rows[name] = []
        for i, source_id in enumerate(tqdm(dataset["id"], desc=f"Assembling {name}")):
            rng = sentence_rng(options.seed, name, i)
            if options.variant == "random":
                positives, negatives = draw_random(*pools, options, rng)
            else:
                q = queries[name]
                found = SentenceNeighbours(neighbours[q.gold[i]], neighbours[q.candidates[i]])
                positives, negatives = draw_retrieved(kb, found, entity_type, options, rng)
            example = dense_example(kb, positives, negatives, entity_type, rng)
            if example is not None:
                rows[name].append(_row(name, str(source_id), entity_type, example))
    return rows


# ---- the whole build ----------------------------------------------------------------------------------------
def build_dbr(
    sources: dict[str, Dataset],
    kb: KnowledgeBase,
    output_dir: str | os.PathLike,
    assembly: AssemblyOptions = AssemblyOptions(),
    retrieval: RetrievalOptions = RetrievalOptions(),
    build_info: dict | None = None,
) -> tuple[Path, dict]:
    """Build the DBR dataset folder from train splits (`sources`: corpus name -> Dataset) and a loaded KB.

    Returns the folder and a report (rows per config, seconds per step) for logs and benchmarks.
    """
    report: dict = {"timings": {}}
    timings = report["timings"]
    neighbours = per_sentence = None
    if assembly.variant == "retrieved":
        started = time.perf_counter()
        miner = fit_miner(sources, kb, retrieval.miner_threshold)
        queries, per_sentence = mine_queries(sources, miner)
        timings["phrase_mining_s"] = round(time.perf_counter() - started, 2)
        neighbours = retrieve_neighbours(kb, queries, retrieval, seed=assembly.seed, timings=timings)
    started = time.perf_counter()
    if assembly.variant == "matched":
        rows = assemble_matched(kb, sources, assembly)
    else:
        rows = assemble(kb, sources, assembly, neighbours, per_sentence)
    timings["assembly_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    info = {**(build_info or {}), **asdict(assembly), "kb_names": len(kb)}
    if assembly.variant == "retrieved":
        info.update({k: v for k, v in asdict(retrieval).items() if k != "cache_dir"})
    folder = write_dataset_folder(rows, output_dir, info)
    timings["write_s"] = round(time.perf_counter() - started, 2)
    report["rows"] = {name: len(r) for name, r in rows.items()}
    return folder, report


# ---- CLI ----------------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", nargs="+", required=True, help="source corpora (their train splits)")
    parser.add_argument("--data-dir", help="folder holding <corpus>/{train,dev,test}.tsv (default: download)")
    parser.add_argument("--kb", required=True, help="KB TSV(.gz) with columns name, type, source, id")
    parser.add_argument("--output-dir", required=True, help="dataset folder to write")
    parser.add_argument("--kb-limit", type=int,
                        help="a seeded sample of N KB names per entity type, each with all its types (quick runs)")
    parser.add_argument("--embedder", default=default_embedder(), help="sentence-transformers folder or Hub id")
    parser.add_argument("--variant", choices=VARIANTS, default="retrieved")
    parser.add_argument("--reference", help="--variant matched: the retrieved DBR build (folder or Hub id) to mirror")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=str(DEFAULT_CACHE_DIR), help="KB/query embedding and index cache")
    parser.add_argument("--top-k", type=positive_int, default=10, help="KB neighbours per query phrase")
    parser.add_argument("--index", choices=INDEX_KINDS, default="auto", help="search back end (see dbr/retrieval.py)")
    parser.add_argument("--dtype", choices=("auto", "bfloat16", "float32"), default="auto",
                        help="embedder weights (auto: bfloat16 where the CPU runs it natively, else float32)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch and faiss (default: all)")
    parser.add_argument("--push-to-hub", metavar="REPO", help="upload the folder to this Hub dataset repo")
    args = parser.parse_args(argv)
    args.dtype = resolve_cpu_dtype(args.dtype)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    set_threads(args.threads)
    started = time.perf_counter()
    args.corpora = canonical_corpora(args.corpora, args.data_dir)  # before the KB loads: a typo costs nothing
    kb = load_kb(args.kb, limit=args.kb_limit, seed=args.seed)
    sources = load_sources(args.corpora, args.data_dir)
    folder, report = build_dbr(
        sources,
        kb,
        args.output_dir,
        AssemblyOptions(variant=args.variant, seed=args.seed, reference=args.reference),
        RetrievalOptions(args.embedder, args.top_k, args.index, args.dtype, cache_dir=args.cache_dir),
        build_info={"kb": Path(args.kb).name, "kb_limit": args.kb_limit},
    )
    print(f"DBR rows {report['rows']} written to {folder} in {time.perf_counter() - started:.1f}s; {report['timings']}")
    if args.push_to_hub:
        print(f"pushed to {push_folder(folder, args.push_to_hub)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (FileNotFoundError, ValueError, CorpusNotAvailableError) as error:
        sys.exit(f"build_dbr.py: error: {error}")
