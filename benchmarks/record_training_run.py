"""Record a finished training run (train.py) and its test scores (evaluate_model.py) in benchmarks/results/.

    python benchmarks/record_training_run.py --run runs/ncbi --test runs/ncbi/test --name train_ncbi_disease \
        --note "shared 2-core machine; other jobs were running"

Copies the run's arguments, dev metrics, throughput and test P/R/F1 beside the machine and git revision.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import write_results  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, type=Path, help="train.py --output-dir")
    parser.add_argument("--test", type=Path, help="evaluate_model.py --output-dir (test split)")
    parser.add_argument("--name", required=True, help="results file name (without .json)")
    parser.add_argument("--note", default="", help="anything a reader must know to interpret the figures")
    args = parser.parse_args()

    summary = json.loads((args.run / "model" / "training_summary.json").read_text())
    train_args = json.loads((args.run / "train_args.json").read_text())
    record = {
        "train_command": "python train.py " + " ".join(_as_flags(train_args)),
        "training": summary,
        "note": args.note,
    }
    if args.test is not None:
        record["test"] = json.loads((args.test / "metrics.test.json").read_text())
    print(write_results(args.name, record))


def _as_flags(train_args: dict) -> list[str]:
    flags = []
    for key, value in train_args.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value not in (None, False):
            flags.append(f"{flag} {' '.join(map(str, value)) if isinstance(value, list) else value}")
    return flags


if __name__ == "__main__":
    main()
