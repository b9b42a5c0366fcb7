"""Entity linking: index build/load round trip, type restriction, ranking, encoder parity with sentence-transformers.

Offline: a tiny random BERT embedder (and its WordPiece tokenizer) and a tiny KB are written in the test.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertModel, BertTokenizerFast

import build_linking_index
from linking.kb import load_kb
from linking_vaner import EntityLinker, MeanPoolingEncoder, normalize_name

KB_ROWS = [
    ("Breast Neoplasms", "Disease", "MeSH", "MESH:D001943"),
    ("breast cancer", "Disease", "MeSH", "MESH:D001943"),
    ("Breast Cancer", "Disease", "MONDO", "MONDO:0007254"),
    ("ovarian cancer", "Disease", "MeSH", "MESH:D010051"),
    ("colorectal cancer", "Disease", "MeSH", "MESH:D015179"),
    ("nephrotoxicity", "Disease", "MeSH", "MESH:D007674"),
    ("kidney disease", "Disease", "MeSH", "MESH:D007674"),
    ("aspirin", "Chemical", "MeSH", "MESH:D001241"),
    ("acetylsalicylic acid", "Chemical", "MeSH", "MESH:D001241"),
    ("cisplatin", "Chemical", "MeSH", "MESH:D002945"),
    ("insulin", "Chemical", "ChEBI", "CHEBI:5931"),
    ("insulin", "Gene/Protein", "HGNC", "HGNC:6081"),
    ("INS", "Gene/Protein", "HGNC", "HGNC:6081"),
    ("BRCA1", "Gene/Protein", "HGNC", "HGNC:1100"),
    ("BRCA1 DNA repair associated", "Gene/Protein", "HGNC", "HGNC:1100"),
    ("BRCA2", "Gene/Protein", "HGNC", "HGNC:1101"),
    ("human", "Species", "NCBI Taxonomy", "NCBITaxon:9606"),
    ("Homo sapiens", "Species", "NCBI Taxonomy", "NCBITaxon:9606"),
    ("house mouse", "Species", "NCBI Taxonomy", "NCBITaxon:10090"),
    ("Mus musculus", "Species", "NCBI Taxonomy", "NCBITaxon:10090"),
]


@pytest.fixture(scope="module")
def tiny_embedder(tmp_path_factory) -> str:
    """A random 2-layer BERT with a WordPiece tokenizer over the KB names' words, saved as a HF folder."""
    folder = tmp_path_factory.mktemp("embedder")
    # A fixed vocabulary (whole KB words, then single characters) rather than a trained one: WordPieceTrainer
    # breaks ties in hash order, so a trained vocabulary (and the seeded embedding each name gets) changes per run.
    normalizer, pre_tokenizer = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    words = {word for row in KB_ROWS for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(row[0]))}
    pieces = sorted(words) + sorted({c for w in words for c in w} | {"##" + c for w in words for c in w})
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece({token: i for i, token in enumerate(special + pieces)}, unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer = normalizer, pre_tokenizer
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    tokenizer = BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                  sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def kb_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("kb") / "kb.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("name\ttype\tsource\tid\n")
        for row in KB_ROWS:
            handle.write("\t".join(row) + "\n")
    return path


@pytest.fixture(scope="module")
def index_folder(tmp_path_factory, tiny_embedder, kb_file):
    out = tmp_path_factory.mktemp("index") / "idx"
    build_linking_index.main(["--kb", str(kb_file), "--embedder", tiny_embedder, "--output", str(out), "--chunk", "7",
                              "--dtype", "float32"])
    return out


@pytest.fixture(scope="module")
def linker(index_folder):
    return EntityLinker.from_pretrained(index_folder)


def test_index_round_trip(index_folder, linker, tiny_embedder):
    manifest = json.loads((index_folder / "manifest.json").read_text())
    assert manifest["count"] == len(KB_ROWS) == len(linker)
    assert manifest["counts"] == {"Disease": 7, "Chemical": 4, "Gene": 5, "Species": 4}
    assert manifest["dims"] == 32 and manifest["embedder"] == tiny_embedder
    assert not (index_folder / "progress.json").exists()
    # every KB row is stored with its name, id and type, grouped by type
    stored = {(linker.names[i], linker.ids[i]) for i in range(len(linker))}
    assert stored == {(r[0], r[3]) for r in KB_ROWS}
    # stored (dequantised) vectors equal a fresh encoding of the names
    encoder = MeanPoolingEncoder.from_pretrained(tiny_embedder, max_length=32)
    names = [linker.names[i] for i in range(len(linker))]
    fresh = encoder.encode(names)
    stored_vectors = np.asarray(linker.embeddings, dtype=np.float32) * linker.scales.numpy()[:, None]
    assert np.abs(fresh - stored_vectors).max() < 0.02


def test_link_exact_name_is_top1_and_scores_match_brute_force(linker):
    mentions = ["cisplatin", "BRCA2", "house mouse", "ovarian cancer"]
    types = ["Chemical", "Gene", "Species", "Disease"]
    out = linker.link(mentions, types, top_k=2)
    assert [r[0]["id"] for r in out] == ["MESH:D002945", "HGNC:1101", "NCBITaxon:10090", "MESH:D010051"]
    assert [r[0]["name"] for r in out] == mentions
    assert all(abs(r[0]["score"] - 1.0) < 0.02 for r in out)
    # scores equal a brute-force dot product with the stored (dequantised) vectors
    q = linker.encoder.encode(mentions)
    for qi, (etype, result) in enumerate(zip(types, out)):
        lo, hi = linker.type_ranges[etype]
        vecs = np.asarray(linker.embeddings[lo:hi], dtype=np.float32) * linker.scales[lo:hi].numpy()[:, None]
        best = (vecs @ q[qi]).max()
        assert result[0]["score"] == pytest.approx(float(best), abs=1e-4)


def test_link_restricts_to_type(linker):
    type_ids = {}
    for name, ktype, _, eid in KB_ROWS:
        type_ids.setdefault({"Gene/Protein": "Gene"}.get(ktype, ktype), set()).add(eid)
    out = linker.link(["insulin", "insulin", "insulin", "insulin"], ["Gene", "Chemical", "Disease", "Species"], top_k=10)
    assert out[0][0]["id"] == "HGNC:6081" and out[1][0]["id"] == "CHEBI:5931"
    for result, etype in zip(out, ["Gene", "Chemical", "Disease", "Species"]):
        assert {r["id"] for r in result} <= type_ids[etype]


def test_top_k_order_and_distinct_ids(linker):
    (full,) = linker.link(["breast cancer"], ["Disease"], top_k=10)
    assert len(full) == 5  # the Disease slice has 5 distinct ids
    assert len({r["id"] for r in full}) == len(full)
    scores = [r["score"] for r in full]
    assert scores == sorted(scores, reverse=True)
    assert set(full[0]) == {"id", "name", "score"} and isinstance(full[0]["score"], float)
    (two,) = linker.link(["breast cancer"], ["Disease"], top_k=2)
    assert two == full[:2]
    assert linker.link([], []) == []


def test_mean_pooling_equals_sentence_transformers(tiny_embedder):
    from sentence_transformers import SentenceTransformer

    texts = ["breast cancer", "BRCA1 DNA repair associated", "Mus musculus", "aspirin and cisplatin in mice"]
    st = SentenceTransformer(tiny_embedder, device="cpu")
    expected = st.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    ours = MeanPoolingEncoder.from_pretrained(tiny_embedder, max_length=st.max_seq_length).encode(texts, batch_size=3)
    np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_missing_index_folder_names_path(tmp_path):
    missing = tmp_path / "no-such-index"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        EntityLinker.from_pretrained(missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=str(empty)):
        EntityLinker.from_pretrained(empty)


def test_hub_repo_id_goes_through_snapshot_download(monkeypatch, index_folder):
    import huggingface_hub

    calls = []

    def fake_snapshot_download(repo_id, **kwargs):
        calls.append(repo_id)
        return str(index_folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    linker = EntityLinker.from_pretrained("some-org/vaner-linking-index")
    assert calls == ["some-org/vaner-linking-index"] and len(linker) == len(KB_ROWS)


def test_id_prefix_filter(linker, index_folder):
    manifest = json.loads((index_folder / "manifest.json").read_text())
    assert set(manifest["id_prefix_ranges"]["Disease"]) == {"MESH", "MONDO"}
    (both,) = linker.link(["Breast Cancer"], ["Disease"], top_k=10)
    assert {r["id"].split(":")[0] for r in both} == {"MESH", "MONDO"}
    out = linker.link(["Breast Cancer", "insulin"], ["Disease", "Chemical"], top_k=10, id_prefixes=["MESH:"])
    assert out[0] and all(r["id"].startswith("MESH:") for r in out[0])
    assert out[0][0]["id"] == "MESH:D001943"
    assert sorted(r["id"] for r in out[1]) == ["MESH:D001241", "MESH:D002945"]  # CHEBI:5931 filtered out
    assert linker.link(["human"], ["Species"], id_prefixes=["MESH"]) == [[]]
    with pytest.raises(ValueError, match="none of the id prefixes"):
        linker.link(["human"], ["Species"], id_prefixes=["UMLS"])


def test_bad_arguments(linker):
    with pytest.raises(ValueError, match="unknown entity type 'Protein'"):
        linker.link(["BRCA1"], ["Protein"])
    with pytest.raises(ValueError, match="2 mentions but 1 entity types"):
        linker.link(["BRCA1", "aspirin"], ["Gene"])


def test_index_of_some_types_rejects_the_others(tmp_path, tiny_embedder, kb_file):
    out = tmp_path / "idx"
    build_linking_index.main(["--kb", str(kb_file), "--embedder", tiny_embedder, "--output", str(out), "--types", "Species",
                              "--dtype", "float32"])
    linker = EntityLinker.from_pretrained(out)
    assert linker.types == ["Species"]
    assert linker.link(["human"], ["Species"], top_k=1)[0][0]["id"] == "NCBITaxon:9606"
    with pytest.raises(ValueError, match="has no 'Gene' names"):
        linker.link(["BRCA1"], ["Gene"])


def test_bfloat16_index_and_precomputed_vectors(tmp_path, tiny_embedder, kb_file, index_folder):
    out = tmp_path / "bf16"
    build_linking_index.main(["--kb", str(kb_file), "--embedder", tiny_embedder, "--output", str(out), "--dtype", "bfloat16"])
    linker = EntityLinker.from_pretrained(out)
    assert linker.manifest["encoder_dtype"] == "bfloat16"
    assert linker.encoder.model.dtype == torch.bfloat16  # mentions are encoded the way the index was
    assert linker.link(["BRCA2"], ["Gene"], top_k=1)[0][0]["id"] == "HGNC:1101"
    # --precomputed: vectors of the distinct names in dbr.kb order give the same index as encoding
    from dbr.kb import load_kb as load_dbr_kb

    names = load_dbr_kb(kb_file).names
    vectors = MeanPoolingEncoder.from_pretrained(tiny_embedder, max_length=32).encode(names)
    np.save(tmp_path / "pre.npy", vectors.astype(np.float16))
    pre = tmp_path / "pre"
    build_linking_index.main(["--kb", str(kb_file), "--embedder", tiny_embedder, "--output", str(pre), "--dtype", "float32",
                              "--precomputed", str(tmp_path / "pre.npy")])
    a = np.asarray(np.load(pre / "embeddings.npy"), dtype=np.float32) * np.load(pre / "scales.npy")[:, None]
    b = np.asarray(np.load(index_folder / "embeddings.npy"), dtype=np.float32) * np.load(index_folder / "scales.npy")[:, None]
    assert np.abs(a - b).max() < 0.02


def test_training_batches_are_deterministic_and_one_type(kb_file):
    from train_embedder import batch_for_step, build_groups, split_holdout

    kb = load_kb(kb_file)
    per_type, _ = build_groups(kb)
    train, held = split_holdout(per_type, 1, seed=0)
    assert all(len(v) == 1 for v in held.values())
    assert all(not ({e for e, _ in held[t]} & {e for e, _ in train[t]}) for t in held)
    train, _ = split_holdout(per_type, 0, seed=0)
    trainable = {t: v for t, v in train.items() if len(v) >= 2}
    names = list(trainable)
    probs = np.full(len(names), 1 / len(names))
    a = batch_for_step(trainable, names, probs, 5, 2, 0, kb.names)
    assert a == batch_for_step(trainable, names, probs, 5, 2, 0, kb.names)
    etype, anchors, positives = a
    id_of = {}
    for name, ktype, _, eid in KB_ROWS:
        id_of.setdefault(name, set()).add(eid)
    for x, y in zip(anchors, positives):
        assert x.lower() != y.lower() and id_of[x] & id_of[y]


def test_find_abbreviations():
    from linking_vaner import find_abbreviations

    text = ("Duchenne muscular dystrophy (DMD) and the adenomatous polyposis coli (APC) gene; "
            "ataxia-telangiectasia (A-T); treated with 5 mg (p<0.05) aspirin (see above).")
    assert find_abbreviations(text) == {"DMD": "Duchenne muscular dystrophy", "APC": "adenomatous polyposis coli",
                                        "A-T": "ataxia-telangiectasia"}
    # a definition followed by a reference in the same parentheses (NCBI-disease: 'Cowden disease (CD; MIM 158350)')
    assert find_abbreviations("two syndromes, Cowden disease (CD; MIM 158350) and Wolfram syndrome (WFS, OMIM 222300)"
                              ) == {"CD": "Cowden disease", "WFS": "Wolfram syndrome"}


def test_add_names_extends_the_search(index_folder):
    linker = EntityLinker.from_pretrained(index_folder)
    linker.add_names(["BC", "nephrotox"], ["Disease", "Disease"], ["MESH:D001943", "MESH:D007674"])
    linker.add_names(["mice"], ["Species"], ["NCBITaxon:10090"])
    out = linker.link(["BC", "nephrotox", "mice"], ["Disease", "Disease", "Species"], top_k=3)
    assert [r[0]["id"] for r in out] == ["MESH:D001943", "MESH:D007674", "NCBITaxon:10090"]
    assert out[0][0]["name"] == "BC" and out[0][0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert len({r["id"] for r in out[0]}) == 3
    (restricted,) = linker.link(["BC"], ["Disease"], top_k=3, id_prefixes=["MONDO"])
    assert all(r["id"].startswith("MONDO:") for r in restricted)
    fresh = EntityLinker.from_pretrained(index_folder)
    assert fresh.link(["mice"], ["Species"], top_k=1)[0][0]["name"] != "mice"  # added rows stay with their linker
    linker.clear_added_names()
    assert linker.link(["mice"], ["Species"], top_k=1) == fresh.link(["mice"], ["Species"], top_k=1)
    with pytest.raises(ValueError, match="none of the id prefixes"):
        linker.link(["BC"], ["Disease"], id_prefixes=["UMLS"])


def test_build_never_empties_a_foreign_folder_and_resumes_only_with_its_settings(
    tmp_path, tiny_embedder, kb_file, index_folder, monkeypatch
):
    common = ["--kb", str(kb_file), "--embedder", tiny_embedder, "--dtype", "float32"]
    foreign = tmp_path / "artifacts"  # e.g. --output naming the parent of the index folder
    foreign.mkdir()
    (foreign / "keep.txt").write_text("a week of work")
    with pytest.raises(ValueError, match="neither empty nor a linking index; not emptying it"):
        build_linking_index.main([*common, "--output", str(foreign)])
    assert (foreign / "keep.txt").read_text() == "a week of work"
    with pytest.raises(ValueError, match="a file, not a folder"):
        build_linking_index.main([*common, "--output", str(foreign / "keep.txt")])

    out = tmp_path / "idx"
    quantize, calls = build_linking_index.quantize_rows, []

    def fail_on_the_third_chunk(vectors):
        calls.append(len(vectors))
        if len(calls) == 3:
            raise KeyboardInterrupt  # the build is stopped mid-way
        return quantize(vectors)

    monkeypatch.setattr(build_linking_index, "quantize_rows", fail_on_the_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        build_linking_index.main([*common, "--output", str(out), "--chunk", "7"])
    monkeypatch.setattr(build_linking_index, "quantize_rows", quantize)
    assert json.loads((out / "progress.json").read_text())["chunks_done"] == 2
    with pytest.raises(ValueError, match=r"other settings \(then, now\): \{'chunk': \[7, 5\]\}"):
        build_linking_index.main([*common, "--output", str(out), "--chunk", "5", "--resume"])
    build_linking_index.main([*common, "--output", str(out), "--chunk", "7", "--resume"])
    assert np.array_equal(np.load(out / "embeddings.npy"), np.load(index_folder / "embeddings.npy"))
    assert sorted(p.name for p in out.glob("*.tmp.npy")) == [] and not (out / "progress.json").exists()
    with pytest.raises(ValueError, match="is a finished index"):
        build_linking_index.main([*common, "--output", str(out), "--chunk", "7", "--resume"])


def test_build_checks_id_prefixes_and_the_embedder_to_copy_up_front(tmp_path, tiny_embedder, kb_file):
    common = ["--kb", str(kb_file), "--embedder", tiny_embedder, "--dtype", "float32", "--types", "Disease"]
    build_linking_index.main([*common, "--output", str(tmp_path / "colon"), "--id-prefixes", "MESH:"])
    assert EntityLinker.from_pretrained(tmp_path / "colon").manifest["counts"] == {"Disease": 6}
    with pytest.raises(ValueError, match=r"--id-prefixes \['MeSH'\]: no \['Disease'\] id .* has that prefix; it has "
                                         r"\['MESH', 'MONDO'\]"):
        build_linking_index.main([*common, "--output", str(tmp_path / "typo"), "--id-prefixes", "MeSH"])
    assert not (tmp_path / "typo").exists()
    with pytest.raises(SystemExit):
        build_linking_index.main([*common, "--output", str(tmp_path / "hub"), "--embedder", "org/some-embedder",
                                  "--copy-embedder"])


def test_index_of_some_id_prefixes(tmp_path, tiny_embedder, kb_file):
    out = tmp_path / "mesh"
    build_linking_index.main(["--kb", str(kb_file), "--embedder", tiny_embedder, "--output", str(out),
                              "--types", "Disease,Chemical", "--id-prefixes", "MESH", "--dtype", "float32"])
    linker = EntityLinker.from_pretrained(out)
    assert linker.manifest["counts"] == {"Disease": 6, "Chemical": 3}  # MONDO / ChEBI rows left out
    assert {r["id"] for r in linker.link(["Breast Cancer"], ["Disease"], top_k=10)[0]} <= {
        "MESH:D001943", "MESH:D010051", "MESH:D015179", "MESH:D007674"}
    linker.add_names(["mice"], ["Species"], ["NCBITaxon:10090"])  # a type the index has no names of
    assert linker.link(["mice"], ["Species"], top_k=1, id_prefixes=["NCBITaxon"])[0][0]["id"] == "NCBITaxon:10090"
    with pytest.raises(ValueError, match="has no 'Gene' names .* and add_names gave it none"):
        linker.link(["BRCA1"], ["Gene"])


@pytest.fixture
def nen_dir(tmp_path):
    """A two-document NEN corpus (train/dev/test) in the shared/data/nen format."""
    docs = {
        "train": [("1", "Breast cancer (BC) risk. BC and nephrotoxicity."),
                  ("4", "breast cancer, breast cancer and Breast cancer.")],
        "dev": [("2", "Aspirin and ovarian cancer.")],
        "test": [("3", "kidney disease")],
    }
    mentions = {
        "train": [("1", 0, 13, "Breast cancer", "Disease", "D001943"), ("1", 25, 27, "BC", "Disease", "D001943"),
                  ("1", 32, 46, "nephrotoxicity", "Disease", "D007674|D001943"),
                  ("1", 32, 46, "nephrotoxicity", "Disease", "OMIM:123"),
                  ("4", 0, 13, "breast cancer", "Disease", "D061325"), ("4", 15, 28, "breast cancer", "Disease", "D061325"),
                  ("4", 33, 46, "Breast cancer", "Disease", "D001943")],
        "dev": [("2", 0, 7, "Aspirin", "Chemical", "D001241"), ("2", 12, 26, "ovarian cancer", "Disease", "-1")],
        "test": [("3", 0, 14, "kidney disease", "Disease", "D007674")],
    }
    folder = tmp_path / "nen" / "TOY"
    folder.mkdir(parents=True)
    for split in docs:
        (folder / f"{split}.docs.tsv").write_text("doc_id\ttext\n" + "".join(f"{d}\t{t}\n" for d, t in docs[split]))
        (folder / f"{split}.mentions.tsv").write_text(
            "doc_id\tstart\tend\tmention\ttype\tids\n" + "".join("\t".join(map(str, r)) + "\n" for r in mentions[split]))
    return tmp_path / "nen"


def test_train_dictionary_uses_single_id_train_dev_mentions_and_long_forms(nen_dir):
    from linking.nen_data import train_dictionary

    entries = train_dictionary(nen_dir, "TOY", hgnc={})
    # "breast cancer" (any case): D001943 from doc 1 (the mention and BC's long form) and doc 4, D061325 twice in
    # doc 4: a 3-2 vote for D001943, spelled "Breast cancer" (3 of 5); "BC" -> its long form counts for it too
    assert entries == {("Breast cancer", "Disease", "MESH:D001943"), ("BC", "Disease", "MESH:D001943"),
                       ("Aspirin", "Chemical", "MESH:D001241")}
    assert train_dictionary(nen_dir, "TOY", hgnc={}, splits=("dev",)) == {("Aspirin", "Chemical", "MESH:D001241")}
    with pytest.raises(ValueError, match="test split"):
        train_dictionary(nen_dir, "TOY", hgnc={}, splits=("train", "test"))


def test_mention_batches_pair_gold_mentions_with_kb_names_of_their_id(kb_file, nen_dir):
    from types import SimpleNamespace

    from train_embedder import build_groups, build_mention_groups, is_mention_step, mention_batch_for_step, split_holdout

    kb = load_kb(kb_file)
    per_type, _ = build_groups(kb)
    _, held = split_holdout(per_type, 0, seed=0)
    args = SimpleNamespace(mention_corpora=["TOY"], nen_dir=str(nen_dir), hgnc_table=None, mention_splits=["train", "dev"])
    groups = build_mention_groups(args, kb, held)
    assert {t: [m for m, _ in v] for t, v in groups.items()} == {
        "Chemical": [["Aspirin"]], "Disease": [["BC", "Breast cancer"]]}
    batch = mention_batch_for_step(groups, 3, 4, 0, kb.names)
    assert batch == mention_batch_for_step(groups, 3, 4, 0, kb.names)
    etype, anchors, positives, negatives = batch
    assert negatives is None  # none mined
    kb_names_of = {"Disease": {"Breast Neoplasms", "breast cancer"}, "Chemical": {"aspirin", "acetylsalicylic acid"}}
    assert len(anchors) == 1 and positives[0] in kb_names_of[etype] and positives[0].lower() != anchors[0].lower()
    # held-out concepts are never paired
    _, held_all = split_holdout(per_type, 10, seed=0)
    assert build_mention_groups(args, kb, held_all) == {}
    shares = [is_mention_step(s, 0, 0.25) for s in range(400)]
    assert 60 < sum(shares) < 140 and shares == [is_mention_step(s, 0, 0.25) for s in range(400)]


def test_hard_negatives_are_look_alike_names_of_other_concepts(kb_file, nen_dir, tiny_embedder):
    from contextlib import nullcontext
    from types import SimpleNamespace

    from sentence_transformers import SentenceTransformer

    from train_embedder import build_groups, build_mention_groups, mention_batch_for_step, mine_hard_negatives, split_holdout

    kb = load_kb(kb_file)
    per_type, _ = build_groups(kb)
    _, held = split_holdout(per_type, 0, seed=0)
    args = SimpleNamespace(mention_corpora=["TOY"], nen_dir=str(nen_dir), hgnc_table=None, mention_splits=["train"])
    groups = build_mention_groups(args, kb, held)
    assert {t: [m for m, _ in v] for t, v in groups.items()} == {"Disease": [["BC", "Breast cancer"]]}  # train only
    model = SentenceTransformer(tiny_embedder, device="cpu")
    mined = mine_hard_negatives(model, kb, groups, 2, ["MESH"], nullcontext)
    [rows] = mined["Disease"]
    ids = {kb.ids[r] for r in rows}
    assert len(ids) == 2 and ids <= {"MESH:D010051", "MESH:D015179", "MESH:D007674"}  # other MESH concepts only
    assert set(kb.types[rows]) == {"Disease"}
    # the prefix filter: MONDO's "Breast Cancer" is a look-alike of another vocabulary and never mined with MESH
    assert all(not kb.ids[r].startswith("MONDO") for r in rows)
    etype, anchors, positives, negatives = mention_batch_for_step(groups, 3, 4, 0, kb.names, mined)
    assert (etype, anchors, positives) == mention_batch_for_step(groups, 3, 4, 0, kb.names)[:3]  # same pairs
    assert negatives[0] in {kb.names[r] for r in rows}


def test_contrastive_losses_take_pairs_and_triplets(tiny_embedder):
    from sentence_transformers import SentenceTransformer

    from train_embedder import contrastive_losses

    model = SentenceTransformer(tiny_embedder, device="cpu")
    pair_loss, triplet_loss = contrastive_losses(model, 20.0)
    preprocess = getattr(model, "preprocess", None) or model.tokenize
    anchors, positives, negatives = ["breast cancer", "aspirin"], ["Breast Neoplasms", "acetylsalicylic acid"], ["ovarian cancer", "cisplatin"]
    pair = pair_loss([preprocess(anchors), preprocess(positives)], None)
    triplet = triplet_loss([preprocess(anchors), preprocess(positives), preprocess(negatives)], None)
    assert torch.isfinite(pair) and torch.isfinite(triplet)
    assert triplet.item() > pair.item()  # two more candidates per anchor can only make the ranking harder
    triplet.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_shipped_embedder_is_fp16_on_disk_and_float32_when_loaded(tiny_embedder, tmp_path):
    from safetensors import safe_open
    from sentence_transformers import SentenceTransformer

    from ship_embedder import ship_embedder

    trained = SentenceTransformer(tiny_embedder, device="cpu")
    trained.save(str(tmp_path / "trained"))
    record = {"command": "python train_embedder.py --output X", "train": {"seconds_this_run": 12.0},
              "before": {"all": {"acc@1": 30.0, "acc@5": 40.0}}, "after": {"all": {"acc@1": 45.5, "acc@5": 57.0}}}
    out = ship_embedder(tmp_path / "trained", tmp_path / "shipped", [record])
    with safe_open(out / "model.safetensors", "pt") as handle:
        assert {handle.get_tensor(k).dtype for k in handle.keys() if handle.get_tensor(k).is_floating_point()} == {torch.float16}
    shipped = SentenceTransformer(str(out), device="cpu")
    assert next(shipped.parameters()).dtype == torch.float32
    names = ["breast cancer", "acetylsalicylic acid", "BRCA1"]
    a, b = trained.encode(names, convert_to_tensor=True), shipped.encode(names, convert_to_tensor=True)
    assert torch.allclose(a, b, atol=2e-3)
    card = (out / "README.md").read_text()
    assert "held-out synonyms acc@1 45.50 / acc@5 57.00 (base model: 30.00 / 40.00)" in card


@pytest.mark.parametrize(("mention", "parts"), [
    ("breast and ovarian cancer", ["breast cancer", "ovarian cancer"]),
    ("breast, ovarian, or other cancers", ["breast cancers", "ovarian cancers", "other cancers"]),
    ("Duchenne and Becker muscular dystrophy", ["Duchenne muscular dystrophy", "Becker muscular dystrophy"]),
    ("breast and/or ovarian cancer", ["breast cancer", "ovarian cancer"]),
    ("cleft lip and palate", []),                      # a two-word conjunct: one concept
    ("hereditary breast and ovarian cancer", []),
    ("ataxia and telangiectasia", []),                 # no shared head
    ("breast and 79 ovarian cancer", []),              # a footnote number is no conjunct
    ("breast and ovarian and colon cancer", []),
    ("breast cancer", []),
])
def test_split_coordination(mention, parts):
    from linking_vaner import split_coordination

    assert split_coordination(mention) == parts


def test_expand_short_forms_replaces_whole_mentions_and_words():
    from linking_vaner import expand_short_forms

    abbreviations = {"GLD": "globoid cell leukodystrophy", "HPT": "hyperparathyroidism", "A-T": "ataxia-telangiectasia"}
    assert expand_short_forms("GLD", abbreviations) == "globoid cell leukodystrophy"
    assert expand_short_forms("AO-GLD", abbreviations) == "AO-globoid cell leukodystrophy"
    assert expand_short_forms("primary HPT", abbreviations) == "primary hyperparathyroidism"
    assert expand_short_forms("A-T patients", abbreviations) == "ataxia-telangiectasia patients"
    assert expand_short_forms("GLDX and hpt", abbreviations) == "GLDX and hpt"  # whole words, case-sensitive
    assert expand_short_forms("GLD", {}) == "GLD"


def test_coordinated_mention_gets_one_id_per_conjunct(index_folder):
    linker = EntityLinker.from_pretrained(index_folder)
    linker.add_names(["breast and ovarian cancer"], ["Disease"], ["MESH:D061325"])  # the hereditary syndrome's name
    (whole,) = linker.link(["breast and ovarian cancer"], ["Disease"], top_k=1, split_composites=False)
    assert [c["id"] for c in whole] == ["MESH:D061325"]
    (split,) = linker.link(["breast and ovarian cancer"], ["Disease"], top_k=1)
    assert [(c["id"], c["part"]) for c in split] == [("MESH:D001943", "breast cancer"), ("MESH:D010051", "ovarian cancer")]
    (longer,) = linker.link(["breast and ovarian cancer"], ["Disease"], top_k=4)
    assert [c["id"] for c in longer][:3] == ["MESH:D001943", "MESH:D010051", "MESH:D061325"]
    assert len({c["id"] for c in longer}) == len(longer) == 4
    plain = linker.link(["ovarian cancer", "breast and ovarian cancer"], ["Disease"] * 2, top_k=2)
    alone = linker.link(["ovarian cancer"], ["Disease"], top_k=2)[0]  # other mentions are unaffected
    assert [(c["id"], c["name"]) for c in plain[0]] == [(c["id"], c["name"]) for c in alone]
    # batch composition changes the embedder's float sums in the last digits, never the ranking
    assert [c["score"] for c in plain[0]] == pytest.approx([c["score"] for c in alone], abs=1e-5)


def test_added_name_spelled_like_the_mention_comes_first(index_folder):
    linker = EntityLinker.from_pretrained(index_folder)
    (plain,) = linker.link(["breast cancer"], ["Disease"], top_k=2)
    assert plain[0]["id"] == "MESH:D001943" and "exact" not in plain[0]  # the KB's own name, no dictionary yet
    # a corpus dictionary says this exact string means the hereditary syndrome (case/hyphen differ)
    linker.add_names(["Breast-Cancer", "ovarian cancer"], ["Disease", "Disease"], ["MESH:D061325", "MONDO:0008170"])
    (first,) = linker.link(["breast  cancer"], ["Disease"], top_k=2)
    assert first[0]["id"] == "MESH:D061325" and first[0]["exact"] and first[0]["name"] == "Breast-Cancer"
    assert first[1]["id"] != "MESH:D061325" and len(first) == 2  # the dense candidates follow, ids distinct
    assert first[0]["score"] == pytest.approx(linker.encoder.encode(["breast  cancer"])[0]
                                              @ linker.encoder.encode(["Breast-Cancer"])[0], abs=1e-5)
    (mesh_only,) = linker.link(["ovarian cancer"], ["Disease"], top_k=1, id_prefixes=["MESH"])
    assert mesh_only[0]["id"] == "MESH:D010051"  # the dictionary id is outside the asked vocabulary
    assert "exact" not in linker.link(["breast cancers"], ["Disease"], top_k=1)[0][0]  # exact means exact
    linker.clear_added_names()
    assert linker.link(["breast cancer"], ["Disease"], top_k=2) == [plain]
    with pytest.raises(ValueError, match="unknown entity type"):
        linker.add_names(["x"], ["Protein"], ["HGNC:1"])
    assert normalize_name(" Duchenne-muscular  dystrophy ") == "duchenne muscular dystrophy"
