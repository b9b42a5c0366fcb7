"""benchmarks/ablation_table.py: rows of an earlier table survive when their run folders are gone."""

from pathlib import Path

import pytest

from benchmarks.ablation_table import finished_runs, kept_rows, parse_paused


def test_kept_rows_keeps_only_runs_not_rederived_and_says_where_from():
    previous = {"git_revision": "abc", "date": "2026-11-24", "rows": [
        {"run": "ncbi-dbr", "test": {"f1": 79.09}},
        {"run": "ncbi-causal", "test": {"f1": 69.95}, "kept_from": {"file": "older.json"}},
        {"run": "ncbi-random", "test": {"f1": 1.0}},
    ]}
    rows = kept_rows(previous, {"ncbi-random"}, Path("ablations.json"))
    assert [r["run"] for r in rows] == ["ncbi-dbr", "ncbi-causal"]
    assert rows[0]["kept_from"] == {"file": "ablations.json", "git_revision": "abc", "date": "2026-11-24"}
    assert rows[1]["kept_from"] == {"file": "older.json"}  # the first origin is the true one
    assert "kept_from" not in previous["rows"][0]  # the earlier record is not mutated


def test_parse_paused_reads_run_seconds_and_names_a_bad_item():
    assert parse_paused(["ncbi-random=6007", "s800-dbr=12.5"]) == {"ncbi-random": 6007.0, "s800-dbr": 12.5}
    with pytest.raises(SystemExit, match="ncbi-random:6007"):
        parse_paused(["ncbi-random:6007"])
    with pytest.raises(SystemExit, match="=-3"):
        parse_paused(["ncbi-random=-3"])


def test_finished_runs_skips_runs_not_yet_scored_and_other_folders(tmp_path, capsys):
    for name in ("ncbi-random", "s800-nodbr", "notes", "s800-weird"):
        (tmp_path / name).mkdir()
    (tmp_path / "ncbi-random" / "test").mkdir()
    (tmp_path / "ncbi-random" / "test" / "metrics.test.json").write_text("{}")
    assert finished_runs(tmp_path) == [tmp_path / "ncbi-random"]
    assert "s800-nodbr: not scored on test yet" in capsys.readouterr().err
