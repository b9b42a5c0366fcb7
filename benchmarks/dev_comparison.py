"""Checkpoints side by side on the dev splits, from their calibrate_o_bias.py results (never test).

    python benchmarks/dev_comparison.py --name vaner_cooldown12500_vs_trunk \
        --results benchmarks/results/vaner_step12500_o_bias.json benchmarks/results/vaner_cooldown12500_step15500_o_bias.json \
        --labels "trunk 12500" "cooldown 12500->15500" --note "..."

Each calibration ran the model once over the same dev sentences; this joins their per-corpus F1 (without the
bias and with each one's chosen bias) into one table, so that the choice of the checkpoint to ship is on record.
Writes benchmarks/results/<name>.json (command, machine, revision, the figures) and <name>.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS_DIR, results_parser, write_results  # noqa: E402


def comparison_rows(calibrations: dict[str, dict]) -> list[dict]:
    """One row per dev corpus (then the mean): each label's F1 without the bias and with its chosen bias."""
    labels = list(calibrations)
    corpora = list(calibrations[labels[0]]["corpora"])
    for label, record in calibrations.items():
        if list(record["corpora"]) != corpora:
            raise SystemExit(f"--results: {label} was calibrated on {list(record['corpora'])}, not {corpora}")
    for corpus in corpora:  # one sentences column: a 500- and a 1000-sentence calibration are not comparable
        counts = {label: record["corpora"][corpus]["sentences"] for label, record in calibrations.items()}
        if len(set(counts.values())) > 1:
            raise SystemExit(f"--results: {corpus} was scored on different numbers of dev sentences {counts}; "
                             "compare calibrations of the same --max-sentences")
    rows = []
    for corpus in corpora:
        row = {"corpus": corpus, "sentences": calibrations[labels[0]]["corpora"][corpus]["sentences"]}
        for label, record in calibrations.items():
            scores = record["corpora"][corpus]
            row[label] = {"bias_0": round(scores["bias_0"]["f1"], 2), "chosen": round(scores["chosen"]["f1"], 2)}
        rows.append(row)
    rows.append({"corpus": "mean", "sentences": sum(r["sentences"] for r in rows), **{
        label: {"bias_0": record["mean_dev_f1_bias_0"], "chosen": record["mean_dev_f1_chosen"]}
        for label, record in calibrations.items()
    }})
    return rows


def markdown(rows: list[dict], labels: list[str], note: str) -> str:
    header = "| corpus | sentences | " + " | ".join(f"{label} (no bias) | {label} (chosen bias)" for label in labels) + " |"
    lines = [header, "|---|---:|" + "---:|---:|" * len(labels)]
    for row in rows:
        cells = " | ".join(f"{row[label]['bias_0']:.2f} | {row[label]['chosen']:.2f}" for label in labels)
        name = f"**{row['corpus']}**" if row["corpus"] == "mean" else row["corpus"]
        lines.append(f"| {name} | {row['sentences']} | {cells} |")
    return "\n".join(lines) + ("\n\n" + note if note else "") + "\n"


def main() -> None:
    parser = results_parser(__doc__)
    parser.add_argument("--results", nargs="+", type=Path, required=True, help="calibrate_o_bias.py results files")
    parser.add_argument("--labels", nargs="+", required=True, help="one label per results file")
    args = parser.parse_args()
    if len(args.labels) != len(args.results):
        parser.error(f"{len(args.results)} --results files but {len(args.labels)} --labels")
    calibrations = {}
    for label, path in zip(args.labels, args.results):
        if not path.is_file():
            parser.error(f"--results {path}: no such file")
        calibrations[label] = json.loads(path.read_text())
    rows = comparison_rows(calibrations)
    record = {
        "results_files": [str(p) for p in args.results],
        "models": {label: record["command"] for label, record in calibrations.items()},
        "split": "validation",
        "max_sentences_per_corpus": {label: record["max_sentences_per_corpus"] for label, record in calibrations.items()},
        "o_bias": {label: record["o_bias"] for label, record in calibrations.items()},
        "rows": rows,
        "note": args.note,
    }
    path = write_results(args.name, record)
    saved = json.loads(path.read_text())
    head = (f"# {args.name}\n\nDev F1 (entity-level, strict IOB2). Command: `{saved['command']}`; revision "
            f"{saved['git_revision']}; machine: {saved['machine']}.\n\n")
    (RESULTS_DIR / f"{args.name}.md").write_text(head + markdown(rows, args.labels, args.note))
    print(path)


if __name__ == "__main__":
    main()
