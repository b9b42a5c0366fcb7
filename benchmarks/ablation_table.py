"""Gather the issue-6 ablation runs (benchmarks/run_ablations.sh) and the MiniLM baseline into one table.

    python benchmarks/ablation_table.py --runs runs/ablations \
        --baseline benchmarks/results/baseline_minilm_ncbi_disease.json benchmarks/results/baseline_minilm_s800.json

Writes benchmarks/results/ablations.json and ablations.md: per corpus, variant and seed the budget (steps, non-pad
tokens, hours of training on this machine) and the dev-selected checkpoint's dev and test P/R/F1, then per corpus and
variant the test F1 of each seed and their mean (a second seed, `VANER_SEED=43 benchmarks/run_ablations.sh
runs/ablations-seed43 ...`, tells a real difference from seed noise). `--runs` takes several run directories (one per
seed or session) so that one command rebuilds the table; `--note-file benchmarks/ablation_notes.md` adds how the runs
were made (machine, pauses, resumes) below the tables.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS_DIR, write_results  # noqa: E402
from benchmarks.record_training_run import _as_flags  # noqa: E402
from dev_selection import training_seconds  # noqa: E402

TEST_METRICS = Path("test") / "metrics.test.json"  # inside a run folder; written by run_ablations.sh's scoring step
DEFAULT_SEED = 42  # run_ablations.sh's and the baseline's default; rows recorded before seeds were kept used it

VARIANTS = {
    "dbr": "VANER_single (bidirectional + DBR)",
    "nodbr": "w/o DBR (bidirectional)",
    "random": "random DBR (bidirectional)",
    "matched": "length-matched random DBR (bidirectional)",
    "causal": "causal mask kept, w/o DBR",
}
BASELINE_VARIANT = "MiniLM-L6 token classifier (BERT-style baseline)"

# The issue-6 claims, each a difference between two variants trained with the same seed (A - B).
COMPARISONS = [
    ("bidirectional vs causal (both w/o DBR)", VARIANTS["nodbr"], VARIANTS["causal"]),
    ("DBR vs w/o DBR", VARIANTS["dbr"], VARIANTS["nodbr"]),
    ("retrieved vs random DBR", VARIANTS["dbr"], VARIANTS["random"]),
    ("retrieved vs length-matched random DBR", VARIANTS["dbr"], VARIANTS["matched"]),
    ("VANER_single vs MiniLM", VARIANTS["dbr"], BASELINE_VARIANT),
]


def run_row(run: Path, paused_seconds: float = 0.0) -> dict:
    """One ablation run folder -> its budget and scores (fails with the missing file's path).

    `paused_seconds`: time the run sat stopped (SIGSTOP while another job had the CPU); the trainer's wall clock
    counts it, so it is taken off the training hours and kept in the row.
    """
    summary = _read(run / "model" / "training_summary.json")
    test = _read(run / TEST_METRICS)
    train_args = _read(run / "train_args.json")
    corpus = summary["corpora"][0]
    dev_f1 = summary["dev_metrics"][f"eval_{corpus}_f1"]
    scores = test["corpora"][corpus]
    return {
        "run": run.name,
        "corpus": corpus,
        "variant": VARIANTS[run.name.split("-", 1)[1]],
        "seed": train_args["seed"],
        "model": "Gemma 3 270M + LoRA r=16",
        "bidirectional": summary["bidirectional"],
        "dbr": summary["dbr"],
        "steps": summary["global_step"],
        "non_pad_tokens": summary["non_pad_tokens_seen"],
        "train_hours": round((training_seconds(_last_trainer_state(run)["log_history"]) - paused_seconds) / 3600, 2),
        "paused_seconds": paused_seconds,
        "dev_f1_selected": dev_f1,
        "best_checkpoint": Path(summary["best_checkpoint"] or "final").name,
        "test": {k: round(scores[k], 2) for k in ("precision", "recall", "f1")},
        "train_command": "python train.py " + " ".join(_as_flags(train_args)),
        **trained_by(summary),
    }


def trained_by(summary: dict) -> dict:
    """`{"trained_by": {"git_revision", "cpu"}}` of the run's last segment, where train.py recorded them (older
    runs did not): rows trained on different machines or code can then be told apart in the table."""
    if "git_revision" not in summary:
        return {}
    return {"trained_by": {"git_revision": summary["git_revision"], "cpu": summary.get("machine", {}).get("cpu")}}


def finished_runs(runs_dir: Path) -> list[Path]:
    """The ablation run folders under `runs_dir` already scored on test; one still training is named and skipped."""
    runs = sorted(p for p in runs_dir.iterdir() if p.is_dir() and p.name.split("-", 1)[-1] in VARIANTS)
    finished = [p for p in runs if (p / TEST_METRICS).is_file()]
    for run in sorted(set(runs) - set(finished)):
        print(f"{run}: not scored on test yet (still training?), left out of the table", file=sys.stderr)
    return finished


def parse_paused(items: list[str]) -> dict[str, float]:
    """`RUN=SECONDS` arguments of --paused -> {run: seconds}; a malformed item names itself in the error."""
    paused = {}
    for item in items:
        run, _, seconds = item.partition("=")
        try:
            paused[run] = float(seconds)
        except ValueError:
            raise SystemExit(f"--paused: expected RUN=SECONDS (e.g. ncbi-random=6007), got '{item}'") from None
        if not run or paused[run] < 0:
            raise SystemExit(f"--paused: expected RUN=SECONDS with a run name and seconds >= 0, got '{item}'")
    return paused


def paused_per_run(runs: list[Path], paused: dict[str, float]) -> dict[Path, float]:
    """--paused seconds by run folder. A key is a run name (`ncbi-dbr`) or, where several --runs directories hold
    that run (two seeds), the directory's name and the run's (`ablations-seed44/ncbi-dbr`); a key that matches no
    finished run, or more than one, stops the table with the names."""
    found = {key: [run for run in runs if key in (run.name, f"{run.parent.name}/{run.name}")] for key in paused}
    unknown = sorted(key for key, matched in found.items() if not matched)
    if unknown:
        raise SystemExit(f"--paused: no finished run folder {unknown} under --runs")
    ambiguous = sorted(key for key, matched in found.items() if len(matched) > 1)
    if ambiguous:
        raise SystemExit(f"--paused: {ambiguous} name a finished run in more than one of --runs; name the directory "
                         "too (e.g. ablations-seed44/ncbi-dbr=SECONDS)")
    by_run: dict[Path, float] = {}
    for key, seconds in paused.items():
        (run,) = found[key]
        if run in by_run:
            raise SystemExit(f"--paused: two keys name {run}; give its seconds once")
        by_run[run] = seconds
    return by_run


def _last_trainer_state(run: Path) -> dict:
    """The trainer state of the run's last checkpoint: its log holds every training segment, resumes included."""
    checkpoints = sorted((run / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]))
    if not checkpoints:
        raise SystemExit(f"{run / 'checkpoints'}: no checkpoint to read the training time from")
    return _read(checkpoints[-1] / "trainer_state.json")


def baseline_row(path: Path) -> dict:
    record = _read(path)
    corpus = record["corpora"][0]
    scores = record["scores"][corpus]
    training = record["training"]
    return {
        "run": path.stem,
        "corpus": corpus,
        "variant": BASELINE_VARIANT,
        "seed": record["hyperparameters"]["seed"],
        "model": "all-MiniLM-L6-v2, full fine-tuning",
        "bidirectional": True,
        "dbr": "none",
        "steps": training["global_step"],
        "non_pad_tokens": training["non_pad_tokens_seen"],
        "train_hours": round(training["train_runtime_seconds"] / 3600, 2),
        "dev_f1_selected": round(scores["dev"]["f1"], 2),
        "best_checkpoint": Path(training["best_checkpoint"]).name,
        "test": {k: round(scores["test"][k], 2) for k in ("precision", "recall", "f1")},
        "train_command": record["command"],
    }


def row_seed(row: dict) -> int:
    """A row's training seed: its own field, else the `--seed N` of its command (rows from before seeds were
    recorded), else the default."""
    if "seed" in row:
        return int(row["seed"])
    found = re.search(r"--seed (\d+)", row.get("train_command", ""))
    return int(found.group(1)) if found else DEFAULT_SEED


def row_key(row: dict) -> tuple[str, int]:
    """Run folders repeat across seeds (runs/ablations/ncbi-dbr, runs/ablations-seed43/ncbi-dbr): run + seed is unique."""
    return row["run"], row_seed(row)


def kept_rows(previous: dict, fresh: set[tuple[str, int]], path: Path) -> list[dict]:
    """The rows of an earlier table that this one does not re-derive (same run and seed), each marked with where it
    came from and with its seed."""
    where = {"file": str(path), "git_revision": previous.get("git_revision"), "date": previous.get("date")}
    return [{**row, "seed": row_seed(row), "kept_from": row.get("kept_from", where)}
            for row in previous["rows"] if row_key(row) not in fresh]


def seed_summary(rows: list[dict]) -> list[dict]:
    """Per corpus and variant (in row order): the test F1 of each seed and their mean."""
    groups: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for r in rows:
        groups[r["corpus"], r["variant"]][row_seed(r)] = r["test"]["f1"]
    return [{"corpus": corpus, "variant": variant, "test_f1_by_seed": dict(sorted(by_seed.items())),
             "mean_test_f1": round(sum(by_seed.values()) / len(by_seed), 2)}
            for (corpus, variant), by_seed in groups.items()]


def paired_comparisons(summary: list[dict]) -> list[dict]:
    """Per corpus and issue-6 claim: A - B test F1 for each seed that both variants ran, their mean and how many
    favour A. Pairing by seed takes the seed's shared luck (data order, initialisation) out of the difference, and
    a mean over unequal seed sets cannot then mix a lucky seed into one side only."""
    by_variant = {(s["corpus"], s["variant"]): s["test_f1_by_seed"] for s in summary}
    pairs = []
    for corpus in dict.fromkeys(s["corpus"] for s in summary):
        for name, a, b in COMPARISONS:
            f1_a, f1_b = by_variant.get((corpus, a), {}), by_variant.get((corpus, b), {})
            diffs = {seed: round(f1_a[seed] - f1_b[seed], 2) for seed in f1_a if seed in f1_b}
            if diffs:
                pairs.append({"corpus": corpus, "comparison": name, "difference_by_seed": diffs,
                              "mean_difference": round(sum(diffs.values()) / len(diffs), 2),
                              "a_ahead": sum(d > 0 for d in diffs.values()), "seeds": len(diffs)})
    return pairs


def markdown(rows: list[dict], summary: list[dict], header: str, pairs: list[dict] | None = None,
             notes: str = "") -> str:
    """The table, the per-seed means and the paired differences, then `notes` (how the runs were made: long prose
    that would bury the tables if it came first)."""
    lines = [header, "", "| corpus | variant | seed | steps | non-pad tokens | train h | dev F1 | test P | test R | test F1 |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        t = r["test"]
        lines.append(f"| {r['corpus']} | {r['variant']} | {row_seed(r)} | {r['steps']} | {r['non_pad_tokens']:,} | "
                     f"{r['train_hours']} | {r['dev_f1_selected']:.2f} | {t['precision']:.2f} | {t['recall']:.2f} | "
                     f"**{t['f1']:.2f}** |")
    lines += ["", "Test F1 per seed and the mean over seeds:", "",
              "| corpus | variant | test F1 per seed | mean test F1 |", "|---|---|---|---:|"]
    for s in summary:
        per_seed = ", ".join(f"{f1:.2f} (seed {seed})" for seed, f1 in s["test_f1_by_seed"].items())
        lines.append(f"| {s['corpus']} | {s['variant']} | {per_seed} | **{s['mean_test_f1']:.2f}** |")
    if pairs:
        lines += ["", "Paired by seed (A - B test F1, only the seeds both variants ran):", "",
                  "| corpus | A vs B | A - B per seed | mean A - B | A ahead |", "|---|---|---|---:|---:|"]
        for p in pairs:
            per_seed = ", ".join(f"{d:+.2f} (seed {seed})" for seed, d in p["difference_by_seed"].items())
            lines.append(f"| {p['corpus']} | {p['comparison']} | {per_seed} | **{p['mean_difference']:+.2f}** | "
                         f"{p['a_ahead']} of {p['seeds']} |")
    if notes:
        lines += ["", notes.strip()]
    return "\n".join(lines) + "\n"


def read_note_file(path: Path) -> str:
    """--note-file's text; a missing or empty file stops the table before anything is written."""
    try:
        note = path.read_text().strip()
    except OSError as error:
        raise SystemExit(f"--note-file {path}: cannot read it ({error.strerror})") from error
    if not note:
        raise SystemExit(f"--note-file {path}: the file is empty")
    return note


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as error:
        raise SystemExit(f"{path}: missing (has the run finished and been scored on test?)") from error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, nargs="+", required=True,
                        help="RUNS_DIR(s) of benchmarks/run_ablations.sh (e.g. one per seed or session)")
    parser.add_argument("--baseline", type=Path, nargs="*", default=[], help="baseline_minilm_*.json results")
    parser.add_argument("--previous", type=Path, default=None,
                        help="an earlier ablations.json: its rows are kept where --runs / --baseline give no row of "
                             "the same run (run folders are scratch; a later session may only hold the new runs)")
    parser.add_argument("--paused", nargs="*", default=[], metavar="RUN=SECONDS",
                        help="seconds a run sat stopped (SIGSTOP) while other jobs used the CPU: taken off its train "
                             "h; RUN is the run folder's name, or DIR/RUN where two --runs directories hold that name")
    notes = parser.add_mutually_exclusive_group()
    notes.add_argument("--note", default="", help="machine load and anything else a reader needs")
    notes.add_argument("--note-file", type=Path, default=None,
                       help="a markdown file with the note (e.g. benchmarks/ablation_notes.md): the recorded "
                            "command stays short and the note is versioned beside the table")
    args = parser.parse_args()
    note = read_note_file(args.note_file) if args.note_file is not None else args.note

    runs = [run for runs_dir in args.runs for run in finished_runs(runs_dir)]
    paused = paused_per_run(runs, parse_paused(args.paused))
    rows = [run_row(p, paused.get(p, 0.0)) for p in runs] + [baseline_row(p) for p in args.baseline]
    if args.previous is not None:
        rows += kept_rows(_read(args.previous), {row_key(r) for r in rows}, args.previous)
    order = list(VARIANTS.values())
    rows.sort(key=lambda r: (r["corpus"], order.index(r["variant"]) if r["variant"] in order else len(order),
                             row_seed(r)))
    summary = seed_summary(rows)
    pairs = paired_comparisons(summary)
    path = write_results("ablations", {"budget": "1 epoch of one corpus, batch 8, dev-selected checkpoint, seed per row",
                                       "rows": rows, "seed_summary": summary, "paired_by_seed": pairs,
                                       "note": note})
    record = json.loads(path.read_text())
    header = (f"# Ablations (issue 6)\n\n{record['budget']}. Machine: {record['machine']['cores']} CPU cores "
              f"({record['machine']['cpu']}), git {record['git_revision']}, {record['date']}.\n\n"
              f"Command: `{record['command']}`")
    (RESULTS_DIR / "ablations.md").write_text(markdown(rows, summary, header, pairs, note))
    print(path)


if __name__ == "__main__":
    main()
