"""baselines/minilm_token_classifier.py on a tiny random BERT + tiny WordPiece vocab (no downloads)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertModel, BertTokenizerFast

import benchmarks.common
from baselines import minilm_token_classifier as baseline

SENTENCES = [
    [("Hereditary", "B-Disease"), ("breast", "I-Disease"), ("cancer", "I-Disease"), ("in", "O"), ("mice", "O"), (".", "O")],
    [("BRCA1", "O"), ("carriers", "O"), ("develop", "O"), ("ovarian", "B-Disease"), ("cancer", "I-Disease"), (".", "O")],
    [("Aspirin", "O"), ("lowers", "O"), ("the", "O"), ("risk", "O"), ("of", "O"), ("colorectal", "B-Disease"), ("cancer", "I-Disease")],
    [("Patients", "O"), ("developed", "O"), ("nephrotoxicity", "B-Disease"), ("(", "O"), ("12", "O"), ("%", "O"), (")", "O")],
]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hereditary", "breast", "cancer", "in", "mice", ".", "br",
         "##ca", "##1", "carriers", "develop", "ovarian", "as", "##pi", "##rin", "lowers", "the", "risk", "of",
         "colo", "##rec", "##tal", "patients", "developed", "ne", "##phr", "##oto", "##xi", "##city", "(", "12",
         "%", ")"]  # fmt: skip


def write_corpus(root: Path) -> Path:
    folder = root / "NCBI-disease"
    folder.mkdir(parents=True)
    text = "\n".join(line for s in SENTENCES for line in [*(f"{t}\t{g}" for t, g in s), ""]) + "\n"
    for split in ("train", "dev", "test"):
        (folder / f"{split}.tsv").write_text(text)
    return root


@pytest.fixture()
def tiny_bert(tmp_path) -> Path:
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    tokenizer = BertTokenizerFast(vocab=str(tmp_path / "vocab.txt"), do_lower_case=True)  # WordPiece from the file
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)  # fmt: skip
    folder = tmp_path / "bert"
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_first_subtoken_labels_and_windows(tiny_bert):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    words = [w for w, _ in SENTENCES[3]]
    tags = [0, 0, 1, 0, 0, 0, 0]
    import datasets

    split = datasets.Dataset.from_dict({"tokens": [words], "ner_tags": [tags]})
    (row,) = baseline.featurize(split, tokenizer, max_length=128, stride=4)
    tokens = tokenizer.convert_ids_to_tokens(row["input_ids"])
    assert tokens == ["[CLS]", "patients", "developed", "ne", "##phr", "##oto", "##xi", "##city", "(", "12", "%", ")", "[SEP]"]
    assert row["labels"] == [-100, 0, 0, 1, -100, -100, -100, -100, 0, 0, 0, 0, -100]
    # longer than max_length: word-aligned windows, each within the limit, every word labelled somewhere
    windows = baseline.featurize(split, tokenizer, max_length=8, stride=2)
    assert len(windows) > 1 and all(len(w["input_ids"]) <= 8 for w in windows)
    labelled = sorted({lab for w in windows for lab in w["labels"] if lab != -100})
    assert labelled == [0, 1]


def test_two_training_steps_write_metrics(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.setattr(benchmarks.common, "RESULTS_DIR", tmp_path / "results")
    data = write_corpus(tmp_path / "data")
    out = tmp_path / "run"
    record = baseline.main([
        "--corpora", "NCBI-disease", "--data-dir", str(data), "--cache-dir", str(tmp_path / "cache"),
        "--model", str(tiny_bert), "--max-steps", "2", "--eval-steps", "1", "--batch-size", "2",
        "--lr", "1e-3", "--seed", "0", "--output-dir", str(out), "--max-length", "8", "--stride", "2",
    ])  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(record))
    assert metrics["training"]["global_step"] == 2
    assert metrics["training"]["non_pad_tokens_seen"] > 0
    assert [h["step"] for h in metrics["training"]["dev_mean_f1_by_step"]] == [1, 2]
    for split in ("dev", "test"):
        scores = metrics["scores"]["NCBI-disease"][split]
        assert scores["entities"] == 4 and scores["sentences"] == 4  # max_length 8 windows: no gold entity dropped
        assert 0 <= scores["f1"] <= 100
    assert metrics["inference"]["sentences_per_second"]["NCBI-disease"] > 0
    assert (out / "model" / "config.json").is_file()
    saved = json.loads((tmp_path / "results" / "baseline_minilm_ncbi_disease_seed0.json").read_text())
    assert {"command", "machine", "git_revision"} <= saved.keys() and saved["scores"] == metrics["scores"]


def test_results_name_keeps_a_repeat_with_another_seed_apart():
    assert baseline.results_name(["NCBI-disease"]) == "baseline_minilm_ncbi_disease"
    assert baseline.results_name(["NCBI-disease", "s800"], seed=43) == "baseline_minilm_ncbi_disease_s800_seed43"
