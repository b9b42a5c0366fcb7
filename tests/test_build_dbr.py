"""DBR builder: KB loading, phrase mining, retrieval, dense-sentence assembly and the dataset folder.

Everything runs offline on a KB fixture and a tiny random-init sentence-transformers model built here.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import ClassLabel, Dataset, Features, List, Value, load_dataset

import build_dbr
from build_dbr import RetrievalOptions, build_dbr as run_build
from dbr import embedding
from dbr.assembly import AssemblyOptions
from dbr.export import load_config, read_build_info, write_dataset_folder
from dbr.kb import load_kb
from dbr.matched import WordCountPools, ids_to_indices, reference_slots
from dbr.phrase_mining import PhraseMiner
from dbr.retrieval import build_index, cached_index, exact_search
from dbr.text import gold_spans, normalise_phrase, split_words

KB_ROWS = [
    *[(n, "Disease", f"MESH:D{i:03d}") for i, n in enumerate([
        "breast cancer", "ovarian cancer", "colorectal cancer", "lung cancer", "prostate carcinoma",
        "diabetes mellitus",
        "type 2 diabetes", "Huntington disease", "cystic fibrosis", "retinoblastoma", "von Willebrand disease",
        "X-linked adrenoleukodystrophy", "Addison's disease", "hepatitis B", "myopathy", "nephrotoxicity",
        "renal cell carcinoma", "skin cancer",
    ])],
    *[(n, "Chemical", f"CHEBI:{i}") for i, n in enumerate(
        ["aspirin", "cisplatin", "insulin", "ethanol", "glucose", "tamoxifen", "doxorubicin", "5-fluorouracil"]
    )],
    *[(n, "Gene/Protein", f"HGNC:{i}") for i, n in enumerate(
        ["BRCA1", "BRCA2", "insulin", "TP53", "IL-2", "CFTR", "huntingtin", "tumor necrosis factor"]
    )],
    *[(n, "Species", f"NCBITaxon:{i}") for i, n in enumerate(
        ["human", "mouse", "Mus musculus", "Escherichia coli", "rat", "zebrafish", "Homo sapiens", "yeast"]
    )],
]
ID_TO_NAME = {kb_id: name for name, _, kb_id in KB_ROWS}

DISEASE_SENTENCES = [
    ("Mutations in BRCA1 cause hereditary breast cancer and ovarian cancer .", [(4, 6), (7, 9)]),
    ("Patients with breast cancer were treated with tamoxifen .", [(2, 4)]),
    ("Cisplatin caused nephrotoxicity in lung cancer patients .", [(2, 3), (4, 6)]),
    ("Huntington disease is caused by huntingtin expansion .", [(0, 2)]),
    ("Cystic fibrosis and breast cancer were studied in mice .", [(0, 2), (3, 5)]),
    ("The risk of colorectal cancer and lung cancer fell .", [(3, 5), (6, 8)]),
    ("No disease was observed in this cohort .", []),
]
SPECIES_SENTENCES = [
    ("Human and mouse cells were infected with Escherichia coli .", [(0, 1), (2, 3), (7, 9)]),
    ("Zebrafish and yeast models of breast cancer .", [(0, 1), (2, 3)]),
    ("We sequenced the human genome .", [(3, 4)]),
]


def make_source(corpus: str, entity_type: str, sentences) -> Dataset:
    """A train split with the columns of dataset_scripts.load_corpus."""
    rows = {"id": [], "tokens": [], "ner_tags": [], "corpus": [], "entity_type": []}
    for i, (text, spans) in enumerate(sentences):
        tokens = text.split()
        tags = [0] * len(tokens)
        for start, end in spans:
            tags[start : end] = [1] + [2] * (end - start - 1)
        for key, value in zip(rows, (str(i), tokens, tags, corpus, entity_type)):
            rows[key].append(value)
    features = Features(
        {
            "id": Value("string"),
            "tokens": List(Value("string")),
            "ner_tags": List(ClassLabel(names=["O", "B", "I"])),
            "corpus": Value("string"),
            "entity_type": Value("string"),
        }
    )
    return Dataset.from_dict(rows, features=features)


@pytest.fixture(scope="module")
def kb_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kb") / "kb.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("name\ttype\tsource\tid\n")
        for name, kb_type, kb_id in KB_ROWS:
            handle.write(f"{name}\t{kb_type}\ttest\t{kb_id}\n")
    return path


@pytest.fixture(scope="module")
def tiny_embedder(tmp_path_factory) -> str:
    """A random-init 2-layer BERT (hidden 32) + mean pooling + normalisation, as a sentence-transformers folder."""
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from sentence_transformers import SentenceTransformer

    root = tmp_path_factory.mktemp("embedder")
    words = {w.lower() for name, _, _ in KB_ROWS for w in split_words(name)}
    words |= {w.lower() for text, _ in DISEASE_SENTENCES + SPECIES_SENTENCES for w in text.split()}
    chars = sorted({c for w in words for c in w})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words), *chars, *[f"##{c}" for c in chars]]
    (root / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(root / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    BertModel(config).save_pretrained(root / "bert")
    tokenizer.save_pretrained(root / "bert")
    transformer = Transformer(str(root / "bert"), max_seq_length=32)
    model = SentenceTransformer(modules=[transformer, Pooling(32, "mean"), Normalize()], device="cpu")
    model.save(str(root / "st"))
    return str(root / "st")


@pytest.fixture(scope="module")
def sources() -> dict[str, Dataset]:
    return {
        "NCBI-disease": make_source("NCBI-disease", "Disease", DISEASE_SENTENCES),
        "s800": make_source("s800", "Species", SPECIES_SENTENCES),
    }


@pytest.fixture(scope="module")
def kb(kb_file):
    return load_kb(kb_file)


def build(sources, kb, tmp_path: Path, embedder: str, cache_dir: Path, **assembly) -> tuple[Path, dict]:
    options = RetrievalOptions(embedder=embedder, top_k=10, index="auto", dtype="float32", cache_dir=str(cache_dir))
    return run_build(sources, kb, tmp_path, AssemblyOptions(**assembly), options)


@pytest.fixture(scope="module")
def built(sources, kb, tiny_embedder, tmp_path_factory) -> tuple[Path, dict, Path]:
    cache = tmp_path_factory.mktemp("cache")
    folder, report = build(sources, kb, tmp_path_factory.mktemp("out"), tiny_embedder, cache, seed=3)
    return folder, report, cache


def check_rows(rows: Dataset, kb_rows=KB_ROWS) -> None:
    """Every inserted name is labelled B/I exactly when the KB types it with the row's entity type."""
    types_of = {}
    for name, kb_type, _ in kb_rows:
        types_of.setdefault(name, set()).add({"Gene/Protein": "Gene"}.get(kb_type, kb_type))
    for row in rows:
        position, positives, negatives = 0, 0, 0
        for kb_id in row["kb_ids"]:
            name = ID_TO_NAME[kb_id]
            words = split_words(name)
            assert row["tokens"][position : position + len(words)] == words
            is_positive = row["entity_type"] in types_of[name]
            expected = [1] + [2] * (len(words) - 1) if is_positive else [0] * len(words)
            assert row["ner_tags"][position : position + len(words)] == expected, name
            positives += is_positive
            negatives += not is_positive
            position += len(words)
        assert position == len(row["tokens"]) == len(row["ner_tags"])
        assert positives <= 10 and negatives <= 5
        assert row["corpus"] == "DBR"


# ---- KB ---------------------------------------------------------------------------------------------------------
def test_kb_maps_types_and_keeps_each_name_once(kb):
    insulin = kb.names.index("insulin")
    assert kb.names.count("insulin") == 1
    assert kb.has_type(insulin, "Chemical") and kb.has_type(insulin, "Gene")
    assert kb.kb_id(insulin, "Gene") == "HGNC:2" and kb.kb_id(insulin, "Chemical") == "CHEBI:2"
    assert len(kb.indices_of_type("Species")) == 8


def test_kb_limit_samples_names_per_type_with_seed_and_keeps_their_types(kb_file):
    full = load_kb(kb_file)
    small = load_kb(kb_file, limit=3, seed=1)
    counts = {t: len(small.indices_of_type(t)) for t in ("Disease", "Chemical", "Gene", "Species")}
    assert all(c >= 3 for c in counts.values()) and len(small) < len(full)
    # a sampled name keeps every type it has (insulin stays Chemical and Gene: never a negative of either)
    for i, name in enumerate(small.names):
        assert small.type_mask[i] == full.type_mask[full.names.index(name)], name
    assert load_kb(kb_file, limit=3, seed=1).names == small.names
    assert load_kb(kb_file, limit=3, seed=2).names != small.names


def test_names_differing_only_in_case_share_their_types(tmp_path):
    path = tmp_path / "kb.tsv"
    path.write_text("name\ttype\tsource\tid\n"
                    "Acrodermatitis enteropathica\tDisease\tMeSH\tMESH:C538178\n"
                    "Acrodermatitis enteropathica\tChemical\tCTD\tMESH:C538178\n"
                    "acrodermatitis enteropathica\tDisease\tMONDO\tMONDO:0008752\n")
    kb = load_kb(path)
    assert kb.names == ["Acrodermatitis enteropathica", "acrodermatitis enteropathica"]
    assert list(kb.indices_of_type("Chemical")) == [0, 1] and list(kb.indices_without_type("Chemical")) == []
    assert kb.kb_id(1, "Disease") == "MONDO:0008752" and kb.kb_id(1, "Chemical") == "MESH:C538178"


def test_kb_errors_name_file_and_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.tsv"):
        load_kb(tmp_path / "missing.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_text("name\ttype\tsource\tid\naspirin\tChemical\tChEBI\tCHEBI:1\nbroken\tDisease\n")
    with pytest.raises(ValueError, match=r"bad.tsv:3: expected 4 tab-separated fields, got 2"):
        load_kb(bad)
    bad.write_text("name\ttype\tsource\tid\naspirin\tDrug\tChEBI\tCHEBI:1\n")
    with pytest.raises(ValueError, match=r"bad.tsv:2: unknown KB type 'Drug'"):
        load_kb(bad)
    bad.write_text("name\tkind\n")
    with pytest.raises(ValueError, match=r"bad.tsv:1: .*lacks column"):
        load_kb(bad)
    latin = "name\ttype\tsource\tid\naspirin\tChemical\tChEBI\tCHEBI:1\nna\xefve\tDisease\tx\t1\n"
    bad.write_bytes(latin.encode("latin-1"))
    with pytest.raises(ValueError, match=r"bad.tsv:3: not UTF-8"):
        load_kb(bad)


def test_kb_damaged_gzip_is_named_not_a_bare_zlib_error(tmp_path):
    rows = "".join(f"name{i}\tDisease\tsrc\tD{i}\n" for i in range(5000))
    whole = gzip.compress(("name\ttype\tsource\tid\n" + rows).encode())
    truncated = tmp_path / "truncated.tsv.gz"  # an interrupted download
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=r"truncated.tsv.gz: not a complete gzip file, read up to line \d+"):
        load_kb(truncated)
    plain = tmp_path / "plain.tsv.gz"  # a plain TSV saved under a .gz name
    plain.write_text("name\ttype\tsource\tid\n")
    with pytest.raises(ValueError, match=r"plain.tsv.gz: not a complete gzip file"):
        load_kb(plain)
    (tmp_path / "whole.tsv.gz").write_bytes(whole)
    assert len(load_kb(tmp_path / "whole.tsv.gz").names) == 5000


# ---- text and phrase mining --------------------------------------------------------------------------------------
def test_split_words_and_gold_spans():
    words = ["X", "-", "linked", "adrenoleukodystrophy", "(", "ALD", ")"]
    assert split_words("X-linked adrenoleukodystrophy (ALD)") == words
    assert split_words("Addison's disease") == ["Addison", "'", "s", "disease"]
    assert gold_spans([0, 1, 2, 0, 1, 1, 2]) == [(1, 3), (4, 5), (5, 7)]


def test_phrase_miner_finds_repeated_kb_phrases():
    sentences = [text.split() for text, _ in DISEASE_SENTENCES] * 3
    known = {normalise_phrase(split_words(name)) for name, _, _ in KB_ROWS}
    miner = PhraseMiner(threshold=0.5, overlapping=False).fit(sentences, known)
    tokens = "Patients with breast cancer were treated with tamoxifen .".split()
    spans = miner.candidates(tokens)
    assert (2, 4) in spans  # "breast cancer" kept whole, not split into "breast" + "cancer"
    assert all(tokens[s].lower() not in {"with", "were"} for s, _ in spans)
    miner.overlapping = True
    assert set(spans) <= set(miner.candidates(tokens))


# ---- retrieval ---------------------------------------------------------------------------------------------------
def test_exact_search_agrees_with_faiss_and_ivf_runs():
    rng = np.random.default_rng(0)
    kb = rng.normal(size=(3000, 16)).astype(np.float32)
    kb /= np.linalg.norm(kb, axis=1, keepdims=True)
    queries = kb[:50] + 0.01
    scores, ids = exact_search(kb.astype(np.float16), queries, k=5, kb_chunk=700)
    flat_scores, flat_ids = build_index(kb, "flat").search(queries, 5)
    assert (ids[:, 0] == np.arange(50)).all()
    assert (ids == flat_ids).mean() > 0.95 and np.allclose(scores, flat_scores, atol=1e-2)
    _, ivf_ids = build_index(kb, "ivf", nprobe=64).search(queries, 5)
    assert (ivf_ids[:, 0] == np.arange(50)).mean() > 0.9


def test_the_ivf_cache_keeps_one_index_per_seed(tmp_path):
    """An IVF index trains on a seeded sample: a run with another seed must not load the first seed's index."""
    kb = np.random.default_rng(0).normal(size=(3000, 16)).astype(np.float32)
    embedding_path = tmp_path / "kb-0123.npy"
    cached_index(kb, embedding_path, "ivf", seed=0)
    cached_index(kb, embedding_path, "ivf", seed=1)
    cached_index(kb, embedding_path, "flat", seed=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kb-0123.flat.faiss", "kb-0123.ivf-seed0.faiss",
                                                          "kb-0123.ivf-seed1.faiss"]


# ---- the build ---------------------------------------------------------------------------------------------------
def test_folder_loads_with_datasets_and_labels_match_kb(built, sources):
    folder, report, _ = built
    default = load_dataset(str(folder))["train"]
    assert default[0]["source_corpus"] == "NCBI-disease"
    assert default.features["ner_tags"].feature.names == ["O", "B", "I"]
    species = load_dataset(str(folder), "s800")["train"]
    assert set(species["entity_type"]) == {"Species"} and set(default["entity_type"]) == {"Disease"}
    assert report["rows"] == {"NCBI-disease": len(default), "s800": len(species)}
    assert len(default) == len(sources["NCBI-disease"])
    check_rows(default)
    check_rows(species)
    assert max(sum(t == 1 for t in r) for r in default["ner_tags"]) == 10  # the pool is larger; the cap bites
    assert len(set(default["id"]) | set(species["id"])) == len(default) + len(species)


def test_same_seed_same_rows_other_seed_other_rows(built, sources, kb, tiny_embedder, tmp_path):
    folder, _, cache = built
    first = load_dataset(str(folder))["train"]
    again, _ = build(sources, kb, tmp_path / "a", tiny_embedder, cache, seed=3)
    other, _ = build(sources, kb, tmp_path / "b", tiny_embedder, cache, seed=4)
    assert load_dataset(str(again))["train"]["tokens"] == first["tokens"]
    assert load_dataset(str(other))["train"]["tokens"] != first["tokens"]


def test_cache_is_reused(built, sources, kb, tiny_embedder, tmp_path, monkeypatch):
    _, report, cache = built
    assert report["timings"]["kb_embedding_cache_hit"] is False
    assert list(cache.glob("kb-*.npy")) and list(cache.glob("queries-*.npy"))

    def no_model(*args, **kwargs):
        raise AssertionError("the embedder was loaded although every embedding is cached")

    monkeypatch.setattr(embedding, "load_embedder", no_model)
    _, again = build(sources, kb, tmp_path, tiny_embedder, cache, seed=3)
    assert again["timings"]["kb_embedding_cache_hit"] is True


def test_random_variant_draws_from_whole_kb(sources, kb, tmp_path):
    folder, report = run_build(sources, kb, tmp_path, AssemblyOptions(variant="random", seed=0))
    species = load_dataset(str(folder), "s800")["train"]
    diseases = load_dataset(str(folder), "NCBI-disease")["train"]
    check_rows(species)
    check_rows(diseases)
    assert {len(r) for r in species["kb_ids"]} == {8 + 5}  # all 8 species names, 5 others
    assert {len(r) for r in diseases["kb_ids"]} == {10 + 5}  # 10 of the 18 disease names, 5 others
    assert "phrase_mining_s" not in report["timings"]


def test_cli_builds_from_corpus_files_and_reports_bad_input(tmp_path, kb_file, tiny_embedder):
    data = tmp_path / "data" / "NCBI-disease"
    data.mkdir(parents=True)
    lines = []
    for text, spans in DISEASE_SENTENCES:
        tags = ["O"] * len(text.split())
        for s, e in spans:
            tags[s : e] = ["B-Disease"] + ["I-Disease"] * (e - s - 1)
        lines += [f"{t}\t{g}" for t, g in zip(text.split(), tags)] + [""]
    for split in ("train", "dev", "test"):
        (data / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    common = ["--data-dir", str(tmp_path / "data"), "--embedder", tiny_embedder, "--cache-dir", str(tmp_path / "c")]
    out = tmp_path / "out"
    assert build_dbr.main(["--corpora", "NCBI-disease", "--kb", str(kb_file), "--output-dir", str(out), *common]) == 0
    check_rows(load_dataset(str(out), "NCBI-disease")["train"])
    with pytest.raises(ValueError, match=r"--corpora: unknown corpus \['NCBI-disaese'\]"):
        build_dbr.main(["--corpora", "NCBI-disaese", "--kb", str(kb_file), "--output-dir", str(out), *common])
    with pytest.raises(FileNotFoundError, match="nowhere.tsv.gz"):
        build_dbr.main(["--corpora", "NCBI-disease", "--kb", "nowhere.tsv.gz", "--output-dir", str(out), *common])
    with pytest.raises(ValueError, match="--kb-limit"):
        build_dbr.main(
            ["--corpora", "NCBI-disease", "--kb", str(kb_file), "--output-dir", str(out), "--kb-limit", "0", *common]
        )


def test_push_uploads_exactly_the_folder(built, monkeypatch):
    import huggingface_hub

    from dbr.export import push_folder

    calls = []

    class FakeApi:
        def create_repo(self, repo_id, **kwargs):
            calls.append(("create", repo_id, kwargs["repo_type"]))

        def upload_folder(self, **kwargs):
            calls.append(("upload", kwargs["repo_id"], kwargs["repo_type"], kwargs["folder_path"]))

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    folder = built[0]
    assert push_folder(folder, "me/vaner-dbr").endswith("datasets/me/vaner-dbr")
    assert calls == [("create", "me/vaner-dbr", "dataset"), ("upload", "me/vaner-dbr", "dataset", str(folder))]


def test_matched_variant_keeps_every_reference_row_and_swaps_only_the_names(built, sources, kb, tmp_path):
    reference, _, _ = built
    options = AssemblyOptions(variant="matched", seed=0, reference=str(reference))
    folder, report = run_build(sources, kb, tmp_path, options)

    def name_lengths(rows: Dataset) -> list[list[int]]:
        return [[len(split_words(ID_TO_NAME[kb_id])) for kb_id in ids] for ids in rows["kb_ids"]]

    swapped = 0
    for corpus in sources:
        before = load_dataset(str(reference), corpus)["train"]
        after = load_dataset(str(folder), corpus)["train"]
        check_rows(after)
        assert report["rows"][corpus] == len(before) > 0
        assert after["source_id"] == before["source_id"] and after["ner_tags"] == before["ner_tags"]
        assert name_lengths(after) == name_lengths(before)
        swapped += sum(a != b for a, b in zip(after["tokens"], before["tokens"]))
    assert swapped > 0


def test_matched_variant_needs_a_reference_built_from_the_same_kb(built, sources, tmp_path):
    with pytest.raises(ValueError, match="required by --variant matched"):
        AssemblyOptions(variant="matched")
    with pytest.raises(ValueError, match="only by it"):
        AssemblyOptions(variant="random", reference="somewhere")
    other = tmp_path / "other.tsv"
    other.write_text("name\ttype\tsource\tid\nasthma\tDisease\tt\tMESH:9\nrat\tSpecies\tt\tNCBITaxon:9\n")
    options = AssemblyOptions(variant="matched", reference=str(built[0]))
    with pytest.raises(ValueError, match=r"NCBI-disease row 0 \(NCBI-disease-0\): .*was it built from this KB"):
        run_build(sources, load_kb(other), tmp_path / "out", options)


def test_reference_slots_backtrack_over_synonyms_that_are_prefixes(tmp_path):
    path = tmp_path / "kb.tsv"
    path.write_text(
        "name\ttype\tsource\tid\nENGL\tGene/Protein\tt\tHGNC:1\nENGL-b\tGene/Protein\tt\tHGNC:1\n"
        "- b asthma\tDisease\tt\tMESH:1\n"
    )
    kb = load_kb(path)
    ids = ids_to_indices(kb, {"HGNC:1", "MESH:1"})
    tokens = ["ENGL", "-", "b", "asthma"]  # the longer synonym ENGL-b fits first but leaves `asthma` unmatched
    assert reference_slots(tokens, [0, 1, 2, 2], ["HGNC:1", "MESH:1"], ids, kb) == [(False, 1), (True, 3)]
    with pytest.raises(ValueError, match="do not split into KB names"):
        reference_slots(tokens, [0, 0, 0, 0], ["HGNC:1"], ids, kb)


def test_word_count_pools_fall_back_to_the_nearest_length(kb):
    pools = WordCountPools(kb)
    assert {kb.names[i] for i in pools.pool("Species", True, 2)} == {"Mus musculus", "Escherichia coli", "Homo sapiens"}
    assert {len(split_words(kb.names[i])) for i in pools.pool("Species", True, 7)} == {2}  # no longer species name
    negatives = {kb.names[i] for i in pools.pool("Species", False, 1)}
    assert "aspirin" in negatives and "human" not in negatives


def test_load_config_reads_each_folder_of_the_same_name_afresh(tmp_path):
    """datasets caches `load_dataset(folder, name)` by folder name: two `dbr-random` builds once loaded the same rows."""
    cache = str(tmp_path / "cache")

    def write(folder: Path, word: str) -> Path:
        row = {"id": "s-0", "corpus": "DBR", "entity_type": "Disease", "source_corpus": "s", "source_id": "0",
               "tokens": [word], "ner_tags": [1], "kb_ids": ["MESH:D000"]}  # fmt: skip
        return write_dataset_folder({"NCBI-disease": [row]}, folder, {"word": word})

    first = write(tmp_path / "seed1" / "dbr-random", "asthma")
    second = write(tmp_path / "seed2" / "dbr-random", "myopathy")
    assert load_config(first, "NCBI-disease", cache)["tokens"] == [["asthma"]]
    assert load_config(second, "NCBI-disease", cache)["tokens"] == [["myopathy"]]
    assert load_config(second, "NCBI-disease", cache).features["ner_tags"].feature.names == ["O", "B", "I"]
    write(first, "hepatitis")  # rebuilt in place
    assert load_config(first, "NCBI-disease", cache)["tokens"] == [["hepatitis"]]
    with pytest.raises(ValueError, match=r"seed1/dbr-random has no s800/train-\*\.parquet"):
        load_config(first, "s800")


def test_a_rebuild_replaces_the_whole_folder_and_a_foreign_folder_is_refused(tmp_path):
    row = {"id": "s-0", "corpus": "DBR", "entity_type": "Disease", "source_corpus": "s", "source_id": "0",
           "tokens": ["asthma"], "ner_tags": [1], "kb_ids": ["MESH:D000"]}  # fmt: skip
    folder = tmp_path / "dbr"
    write_dataset_folder({"NCBI-disease": [row], "BC2GM": [row]}, folder, {"seed": 0})
    write_dataset_folder({"NCBI-disease": [row]}, folder, {"seed": 1})  # fewer corpora this time
    assert sorted(p.name for p in folder.iterdir()) == ["NCBI-disease", "README.md"]  # BC2GM's old rows are gone
    assert read_build_info(folder) == {"seed": 1} and not list(tmp_path.glob(".dbr*"))
    with pytest.raises(ValueError, match="has no BC2GM/train"):
        load_config(folder, "BC2GM")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    with pytest.raises(ValueError, match="notes: a folder that is neither empty nor a DBR build"):
        write_dataset_folder({"NCBI-disease": [row]}, tmp_path / "notes", {})
    assert (tmp_path / "notes" / "todo.txt").read_text() == "mine"
    committed = Path(__file__).resolve().parents[1] / "artifacts" / "dbr" / "vaner-dbr-minilm"
    assert read_build_info(committed)["variant"] == "retrieved"  # the committed build's card parses
