"""benchmarks/precision_comparison.py: two evaluate_model.py runs side by side, differing sentences counted."""

from __future__ import annotations

import json

import pytest

import benchmarks.common
from benchmarks import precision_comparison
from evaluation import write_conll

SENTENCES = [["Hereditary", "breast", "cancer"], ["Mice", "were", "used"], ["No", "disease"]]
GOLD = [[0, 1, 2], [0, 0, 0], [0, 1]]


def _run(folder, predicted, f1, seconds, corpora=("NCBI-disease",)):
    folder.mkdir(parents=True)
    for corpus in corpora:
        write_conll(folder / f"{corpus}.validation.conll", SENTENCES, GOLD, predicted, "Disease")
    metrics = {"model": "m", "decoding": "viterbi", "abbreviation_reach": 20,
               "corpora": {c: {"f1": f1, "seconds": seconds, "sentences": len(SENTENCES)} for c in corpora}}
    (folder / "metrics.validation.json").write_text(json.dumps(metrics))
    return folder


def test_differences_speed_up_and_changed_sentences(tmp_path, monkeypatch):
    monkeypatch.setattr(benchmarks.common, "RESULTS_DIR", tmp_path / "results")
    fp32 = _run(tmp_path / "fp32", [[0, 1, 2], [0, 0, 0], [0, 1]], 85.004, 30.0)
    bf16 = _run(tmp_path / "bf16", [[0, 1, 2], [1, 0, 0], [0, 0]], 84.5, 10.0)  # sentences 2 and 3 changed
    path = precision_comparison.main(["--name", "p", "--runs", str(fp32), str(bf16), "--labels", "fp32", "bf16"])
    record = json.loads(path.read_text())
    row = record["rows"][0]
    assert row["fp32"] == {"f1": 85.0, "seconds": 30.0}
    assert row["bf16"] == {"f1": 84.5, "seconds": 10.0, "f1_difference": -0.5, "speed_up": 3.0,
                           "sentences_tagged_differently": 2}
    assert record["rows"][-1]["corpus"] == "mean" and record["rows"][-1]["bf16"]["sentences_tagged_differently"] == 2
    table = path.with_suffix(".md").read_text()
    assert "| NCBI-disease | 3 | 85.00 | 30.0 | 84.50 | -0.50 | 10.0 | 3.00x | 2 |" in table
    assert record["command"].startswith("python") and record["git_revision"]


def test_runs_on_other_corpora_or_sentences_are_refused(tmp_path):
    fp32 = _run(tmp_path / "fp32", GOLD, 85.0, 30.0)
    other = _run(tmp_path / "other", GOLD, 85.0, 30.0, corpora=("s800",))
    with pytest.raises(SystemExit, match="scored validation"):
        precision_comparison.main(["--name", "p", "--runs", str(fp32), str(other), "--labels", "a", "b"])
    short = _run(tmp_path / "short", GOLD, 85.0, 30.0)
    conll = short / "NCBI-disease.validation.conll"
    conll.write_text(conll.read_text().split("\n\n", 1)[1])  # one sentence fewer
    with pytest.raises(SystemExit, match="not the same sentences"):
        precision_comparison.main(["--name", "p", "--runs", str(fp32), str(short), "--labels", "a", "b"])
    conll.write_text("word\tO\n")
    with pytest.raises(SystemExit, match=r"NCBI-disease.validation.conll:1: expected token<TAB>gold<TAB>predicted"):
        precision_comparison.main(["--name", "p", "--runs", str(fp32), str(short), "--labels", "a", "b"])
