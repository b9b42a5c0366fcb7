"""Update the committed state of a long training run (benchmarks/results/<name>.json) from its latest checkpoint.

A run that spans sessions (and machines) keeps one record: how to resume it, how far it got, every dev
evaluation so far, and one entry per session saying what that session did. This script refreshes the
checkpoint-derived fields and appends the session entry; everything else in the record is kept.

    python benchmarks/record_run_state.py --name vaner_run_state --checkpoint runs/vaner/checkpoints/checkpoint-9000 \
        --session-steps "2500 -> 9000" --session-note "AVX512-BF16 EPYC, bf16, ~1 step/s" [--resume-command "..."]
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS_DIR, machine, write_results  # noqa: E402
from dev_selection import dev_evaluations, training_seconds  # noqa: E402


def best_evaluation(evaluations: list[dict]) -> tuple[str | None, float | None]:
    """The checkpoint name and mean dev F1 of the best evaluation in the log history.

    Read from the history rather than trainer_state's `best_model_checkpoint`, which the Trainer clears on
    resume once that checkpoint folder has been rotated away (save_total_limit) or the run moved machines.
    """
    if not evaluations:
        return None, None
    best = max(evaluations, key=lambda entry: entry["eval_mean_f1"])
    return f"checkpoint-{best['step']}", best["eval_mean_f1"]


def checkpoint_fields(checkpoint: Path) -> dict:
    """What a checkpoint's trainer_state.json says about the run: step, every dev evaluation, the last log."""
    state_file = checkpoint / "trainer_state.json"
    if not state_file.is_file():
        raise SystemExit(f"--checkpoint {checkpoint}: no trainer_state.json (not a Trainer checkpoint)")
    state = json.loads(state_file.read_text())
    history = state["log_history"]
    evaluations = dev_evaluations(history)
    logs = [entry for entry in history if "loss" in entry]
    best_checkpoint, best_f1 = best_evaluation(evaluations)
    return {
        "global_step": state["global_step"],
        "max_steps": state["max_steps"],
        "dev_evaluations_first_200_sentences_per_corpus": evaluations,
        "last_log": logs[-1] if logs else None,
        "best_checkpoint": best_checkpoint,
        "best_mean_dev_f1": best_f1,
        "training_seconds_all_segments": training_seconds(history),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="results file stem (an existing record is updated)")
    parser.add_argument("--checkpoint", required=True, type=Path, help="the run's latest checkpoint folder")
    parser.add_argument("--session-steps", required=True, help='what this session trained, e.g. "2500 -> 9000"')
    parser.add_argument("--session-note", default="", help="machine, precision, speed, anything unusual")
    parser.add_argument("--resume-command", help="replace the record's resume command")
    parser.add_argument("--plan", help="replace the record's plan (what the next sessions should do)")
    args = parser.parse_args()

    path = RESULTS_DIR / f"{args.name}.json"
    record = json.loads(path.read_text()) if path.is_file() else {}
    for key in ("command", "machine", "git_revision", "date"):  # write_results sets these afresh
        record.pop(key, None)
    record.update(checkpoint_fields(args.checkpoint))
    for key in ("resume_command", "plan"):
        if getattr(args, key):
            record[key] = getattr(args, key)
    record.setdefault("sessions", []).append({
        "date": datetime.now(timezone.utc).date().isoformat(),
        "steps": args.session_steps,
        "machine": machine(),
        "note": args.session_note,
    })
    print(write_results(args.name, record))


if __name__ == "__main__":
    main()
