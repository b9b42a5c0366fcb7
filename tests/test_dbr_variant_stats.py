"""benchmarks/dbr_variant_stats.py on a hand-checked two-row DBR config."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import Dataset

from benchmarks import dbr_variant_stats
from dbr.export import write_dataset_folder


def test_build_stats_counts_names_polarity_and_words():
    rows = Dataset.from_dict({
        "tokens": [["breast", "cancer", "aspirin"], ["myopathy"]],
        "ner_tags": [[1, 2, 0], [1]],
        "kb_ids": [["MESH:D001", "CHEBI:1"], ["MESH:D002"]],
    })  # fmt: skip
    assert dbr_variant_stats.build_stats(rows) == {
        "rows": 2, "names_per_row": 1.5, "positives_per_row": 1.0, "negatives_per_row": 0.5, "words_per_row": 2.0,
        "words": 4,
    }  # fmt: skip


def test_main_writes_one_entry_per_build_and_rejects_a_bad_item(tmp_path, monkeypatch, capsys):
    row = {"id": "s-0", "corpus": "DBR", "entity_type": "Disease", "source_corpus": "s", "source_id": "0",
           "tokens": ["myopathy"], "ner_tags": [1], "kb_ids": ["MESH:D002"]}  # fmt: skip
    folder = write_dataset_folder({"NCBI-disease": [row]}, tmp_path / "build", {})
    written = {}

    def fake_write_results(name: str, figures: dict) -> Path:
        written[name] = figures
        return tmp_path / f"{name}.json"

    monkeypatch.setattr(dbr_variant_stats, "write_results", fake_write_results)
    assert dbr_variant_stats.main(["--corpus", "NCBI-disease", "--name", "stats", "--builds", f"one={folder}"]) == 0
    assert written["stats"]["corpus"] == "NCBI-disease"
    assert written["stats"]["builds"]["one"] == {"folder": str(folder), **dbr_variant_stats.build_stats(
        Dataset.from_list([row]))}
    with pytest.raises(SystemExit) as exited:
        dbr_variant_stats.main(["--corpus", "NCBI-disease", "--name", "stats", "--builds", str(folder)])
    assert exited.value.code == 2 and "expected LABEL=FOLDER" in capsys.readouterr().err
