"""benchmarks/ablation_table.py: rows of an earlier table survive when their run folders are gone; seeds are told apart."""

import json
from pathlib import Path

import pytest

from benchmarks.ablation_table import (
    VARIANTS,
    finished_runs,
    kept_rows,
    markdown,
    paired_comparisons,
    parse_paused,
    paused_per_run,
    read_note_file,
    row_seed,
    run_row,
    seed_summary,
)


def test_kept_rows_keeps_only_runs_not_rederived_and_says_where_from():
    previous = {"git_revision": "abc", "date": "2026-11-24", "rows": [
        {"run": "ncbi-dbr", "test": {"f1": 79.09}},
        {"run": "ncbi-causal", "test": {"f1": 69.95}, "kept_from": {"file": "older.json"}},
        {"run": "ncbi-random", "test": {"f1": 1.0}},
    ]}
    rows = kept_rows(previous, {("ncbi-random", 42)}, Path("ablations.json"))
    assert [r["run"] for r in rows] == ["ncbi-dbr", "ncbi-causal"]
    assert [r["seed"] for r in rows] == [42, 42]
    assert rows[0]["kept_from"] == {"file": "ablations.json", "git_revision": "abc", "date": "2026-11-24"}
    assert rows[1]["kept_from"] == {"file": "older.json"}  # the first origin is the true one
    assert "kept_from" not in previous["rows"][0]  # the earlier record is not mutated


def test_parse_paused_reads_run_seconds_and_names_a_bad_item():
    assert parse_paused(["ncbi-random=6007", "s800-dbr=12.5"]) == {"ncbi-random": 6007.0, "s800-dbr": 12.5}
    with pytest.raises(SystemExit, match="ncbi-random:6007"):
        parse_paused(["ncbi-random:6007"])
    with pytest.raises(SystemExit, match="=-3"):
        parse_paused(["ncbi-random=-3"])


def test_paused_seconds_go_to_their_run_folder_across_runs_dirs_and_never_to_two():
    seed42, seed43 = Path("runs/ablations"), Path("runs/ablations-seed43")
    runs = [seed42 / "ncbi-dbr", seed43 / "ncbi-dbr", seed43 / "ncbi-random"]
    assert paused_per_run(runs, {"ncbi-random": 60.0}) == {seed43 / "ncbi-random": 60.0}
    assert paused_per_run(runs, {}) == {}
    with pytest.raises(SystemExit, match=r"\['ncbi-dbr'\] name a finished run in more than one"):
        paused_per_run(runs, {"ncbi-dbr": 5.0})
    assert paused_per_run(runs, {"ablations-seed43/ncbi-dbr": 5.0, "ablations/ncbi-dbr": 7.0}) == {
        seed43 / "ncbi-dbr": 5.0, seed42 / "ncbi-dbr": 7.0}
    with pytest.raises(SystemExit, match="two keys name"):
        paused_per_run(runs, {"ncbi-random": 1.0, "ablations-seed43/ncbi-random": 2.0})
    with pytest.raises(SystemExit, match=r"no finished run folder \['ablations-seed44/ncbi-dbr'\]"):
        paused_per_run(runs, {"ablations-seed44/ncbi-dbr": 5.0})
    with pytest.raises(SystemExit, match=r"no finished run folder \['s800-dbr'\]"):
        paused_per_run(runs, {"s800-dbr": 5.0})


def test_finished_runs_skips_runs_not_yet_scored_and_other_folders(tmp_path, capsys):
    for name in ("ncbi-random", "s800-nodbr", "notes", "s800-weird"):
        (tmp_path / name).mkdir()
    (tmp_path / "ncbi-random" / "test").mkdir()
    (tmp_path / "ncbi-random" / "test" / "metrics.test.json").write_text("{}")
    assert finished_runs(tmp_path) == [tmp_path / "ncbi-random"]
    assert "s800-nodbr: not scored on test yet" in capsys.readouterr().err


def test_a_second_seed_of_a_run_is_kept_beside_the_first_not_over_it():
    previous = {"rows": [{"run": "ncbi-dbr", "train_command": "python train.py --seed 42 --resume", "test": {"f1": 79.09}}]}
    assert kept_rows(previous, {("ncbi-dbr", 43)}, Path("a.json"))[0]["seed"] == 42
    assert kept_rows(previous, {("ncbi-dbr", 42)}, Path("a.json")) == []


def test_row_seed_reads_the_field_then_the_command_then_the_default():
    assert row_seed({"seed": 7, "train_command": "--seed 43"}) == 7
    assert row_seed({"train_command": "python train.py --seed 43 --resume"}) == 43
    assert row_seed({"train_command": "python baselines/minilm_token_classifier.py"}) == 42


def _row(variant, seed, f1):
    return {"run": "r", "corpus": "NCBI-disease", "variant": variant, "seed": seed, "steps": 10, "non_pad_tokens": 1234,
            "train_hours": 0.5, "dev_f1_selected": 80.0, "test": {"precision": 70.0, "recall": 90.0, "f1": f1}}


def test_seed_summary_gives_each_seed_and_the_mean_per_variant_and_the_table_shows_them():
    rows = [_row("DBR", 42, 79.09), _row("DBR", 43, 78.00), _row("w/o DBR", 42, 78.03)]
    summary = seed_summary(rows)
    assert summary == [
        {"corpus": "NCBI-disease", "variant": "DBR", "test_f1_by_seed": {42: 79.09, 43: 78.0}, "mean_test_f1": 78.55},
        {"corpus": "NCBI-disease", "variant": "w/o DBR", "test_f1_by_seed": {42: 78.03}, "mean_test_f1": 78.03},
    ]
    table = markdown(rows, summary, "# t")
    assert "| NCBI-disease | DBR | 43 | 10 | 1,234 | 0.5 | 80.00 | 70.00 | 90.00 | **78.00** |" in table
    assert "| NCBI-disease | DBR | 79.09 (seed 42), 78.00 (seed 43) | **78.55** |" in table


def test_paired_comparisons_use_only_the_seeds_both_variants_ran_and_count_who_is_ahead():
    dbr, nodbr, causal = VARIANTS["dbr"], VARIANTS["nodbr"], VARIANTS["causal"]
    rows = [_row(dbr, 42, 67.79), _row(dbr, 43, 68.32),
            _row(nodbr, 42, 64.48), _row(nodbr, 43, 63.09), _row(nodbr, 44, 68.73),
            _row(causal, 42, 52.28)]
    pairs = paired_comparisons(seed_summary(rows))
    assert pairs == [
        {"corpus": "NCBI-disease", "comparison": "bidirectional vs causal (both w/o DBR)",
         "difference_by_seed": {42: 12.2}, "mean_difference": 12.2, "a_ahead": 1, "seeds": 1},
        # seed 44 of w/o DBR has no DBR partner: it is left out of the difference, not averaged into one side
        {"corpus": "NCBI-disease", "comparison": "DBR vs w/o DBR",
         "difference_by_seed": {42: 3.31, 43: 5.23}, "mean_difference": 4.27, "a_ahead": 2, "seeds": 2},
    ]
    table = markdown(rows, seed_summary(rows), "# t", pairs)
    assert "| NCBI-disease | DBR vs w/o DBR | +3.31 (seed 42), +5.23 (seed 43) | **+4.27** | 2 of 2 |" in table
    behind = paired_comparisons(seed_summary([_row(dbr, 44, 60.0), _row(nodbr, 44, 68.73)]))
    assert behind[0]["difference_by_seed"] == {44: -8.73} and behind[0]["a_ahead"] == 0


def test_notes_come_after_every_table_and_a_bad_note_file_is_named(tmp_path):
    rows = [_row(VARIANTS["dbr"], 42, 80.0), _row(VARIANTS["nodbr"], 42, 78.0)]
    summary = seed_summary(rows)
    table = markdown(rows, summary, "# t", paired_comparisons(summary), notes="## How the runs were made\n\nOn a Xeon.")
    assert table.index("| corpus | A vs B |") < table.index("## How the runs were made") < table.index("On a Xeon.")
    assert "How the runs" not in markdown(rows, summary, "# t")
    (tmp_path / "notes.md").write_text("  On a Xeon.\n\n")
    assert read_note_file(tmp_path / "notes.md") == "On a Xeon."
    (tmp_path / "empty.md").write_text("\n")
    with pytest.raises(SystemExit, match="empty.md: the file is empty"):
        read_note_file(tmp_path / "empty.md")
    with pytest.raises(SystemExit, match="missing.md: cannot read it"):
        read_note_file(tmp_path / "missing.md")


def _run_folder(run: Path, summary_extra: dict) -> Path:
    """A finished s800 causal run as run_ablations.sh leaves it: summary, test metrics, arguments, checkpoints."""
    files = {
        "model/training_summary.json": {"corpora": ["s800"], "bidirectional": False, "dbr": "none", "global_step": 719,
                                        "non_pad_tokens_seen": 277317, "best_checkpoint": "/x/checkpoint-690",
                                        "dev_metrics": {"eval_s800_f1": 53.58}, **summary_extra},
        "test/metrics.test.json": {"corpora": {"s800": {"precision": 47.4189, "recall": 51.4993, "f1": 49.375}}},
        "train_args.json": {"seed": 45, "corpora": ["s800"], "causal": True, "output_dir": str(run)},
        # two segments (a resume restarts train_runtime): 2000 + 1600 wall seconds
        "checkpoints/checkpoint-719/trainer_state.json": {"log_history": [
            {"train_runtime": 900.0}, {"train_runtime": 2000.0}, {"train_runtime": 1600.0}]},
        "checkpoints/checkpoint-460/trainer_state.json": {"log_history": [{"train_runtime": 900.0}]},
    }
    for name, content in files.items():
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text(json.dumps(content))
    return run


def test_run_row_reads_scores_takes_pauses_off_and_says_which_code_and_machine_trained_it(tmp_path):
    run = _run_folder(tmp_path / "s800-causal", {"git_revision": "abc123", "machine": {"cpu": "AMD EPYC", "cores": 2}})
    row = run_row(run, paused_seconds=360.0)
    assert (row["corpus"], row["variant"], row["seed"], row["steps"]) == ("s800", VARIANTS["causal"], 45, 719)
    assert row["train_hours"] == 0.9 and row["paused_seconds"] == 360.0  # (2000 + 1600 - 360) / 3600
    assert row["test"] == {"precision": 47.42, "recall": 51.5, "f1": 49.38} and row["best_checkpoint"] == "checkpoint-690"
    assert row["trained_by"] == {"git_revision": "abc123", "cpu": "AMD EPYC"}
    older = run_row(_run_folder(tmp_path / "old" / "s800-causal", {}))  # trained before train.py recorded them
    assert "trained_by" not in older and older["train_hours"] == 1.0
