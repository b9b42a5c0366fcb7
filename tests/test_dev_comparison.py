"""benchmarks/dev_comparison.py: two calibrations joined into one dev table, mismatched corpora refused."""

from __future__ import annotations

import pytest

from benchmarks.dev_comparison import comparison_rows, markdown


def _calibration(f1_0: float, f1_chosen: float, corpora=("NCBI-disease", "s800")) -> dict:
    return {
        "corpora": {c: {"sentences": 10, "bias_0": {"f1": f1_0}, "chosen": {"f1": f1_chosen}} for c in corpora},
        "mean_dev_f1_bias_0": f1_0,
        "mean_dev_f1_chosen": f1_chosen,
    }


def test_rows_and_table_put_each_checkpoint_beside_the_other():
    rows = comparison_rows({"trunk": _calibration(79.531, 80.5), "branch": _calibration(79.45, 80.344)})
    assert rows[0] == {"corpus": "NCBI-disease", "sentences": 10, "trunk": {"bias_0": 79.53, "chosen": 80.5},
                       "branch": {"bias_0": 79.45, "chosen": 80.34}}
    assert rows[-1]["corpus"] == "mean" and rows[-1]["sentences"] == 20
    table = markdown(rows, ["trunk", "branch"], "note")
    assert "| **mean** | 20 | 79.53 | 80.50 | 79.45 | 80.34 |" in table and table.endswith("note\n")


def test_calibrations_on_different_corpora_or_sentences_are_refused():
    with pytest.raises(SystemExit, match="calibrated on"):
        comparison_rows({"a": _calibration(1, 2), "b": _calibration(1, 2, corpora=("NCBI-disease",))})
    fewer = _calibration(1, 2)
    fewer["corpora"]["s800"]["sentences"] = 5
    with pytest.raises(SystemExit, match=r"s800 was scored on different numbers of dev sentences \{'a': 10, 'b': 5\}"):
        comparison_rows({"a": _calibration(1, 2), "b": fewer})
