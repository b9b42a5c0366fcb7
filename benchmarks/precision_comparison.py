"""What a lower precision costs: evaluate_model.py runs of one model on the same sentences, side by side.

    python benchmarks/precision_comparison.py --name vaner_soup6_bf16_vs_fp32_dev \
        --runs runs/s42/soup-dev-fp32 runs/s42/soup-dev-bf16 --labels fp32 bf16 --note "..."

Each run folder holds evaluate_model.py's metrics.<split>.json and its <corpus>.<split>.conll predictions. The
table gives each run's F1 and seconds per corpus, the F1 difference and speed-up against the first run, and how many
sentences got different tags: the F1 difference alone can hide changes that cancel out.
Writes benchmarks/results/<name>.json (command, machine, revision, the figures) and <name>.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import results_parser, write_results  # noqa: E402
from benchmarks.error_analysis import read_predictions  # noqa: E402


def read_run(folder: Path) -> dict:
    """The one metrics.<split>.json in an evaluate_model.py output folder, with the folder and split beside it."""
    found = sorted(folder.glob("metrics.*.json"))
    if len(found) != 1:
        raise SystemExit(f"--runs {folder}: expected one metrics.<split>.json, found {[p.name for p in found]}")
    record = json.loads(found[0].read_text())
    return {**record, "folder": folder, "split": found[0].name.split(".")[1]}


def predicted_tags(conll: Path) -> list[tuple[int, ...]]:
    """Each sentence's predicted O/B/I tags in file order, read by error_analysis (a bad line names file:line)."""
    if not conll.is_file():
        raise SystemExit(f"{conll}: no such predictions file")
    return [tuple(predicted) for _, _, predicted in read_predictions(conll)]


def sentences_that_differ(first: Path, other: Path) -> int:
    a, b = predicted_tags(first), predicted_tags(other)
    if len(a) != len(b):
        raise SystemExit(f"{first} has {len(a)} sentences but {other} has {len(b)}: not the same sentences")
    return sum(x != y for x, y in zip(a, b))


def _against(f1: float, seconds: float, reference_f1: float, reference_seconds: float) -> dict:
    return {"f1_difference": round(f1 - reference_f1, 2), "speed_up": round(reference_seconds / seconds, 2)}


def comparison_rows(runs: dict[str, dict]) -> list[dict]:
    """One row per corpus (then the mean): each run's F1 and seconds, the differences against the first run."""
    labels = list(runs)
    base = runs[labels[0]]
    corpora = list(base["corpora"])
    for label, run in runs.items():
        if list(run["corpora"]) != corpora or run["split"] != base["split"]:
            raise SystemExit(f"--runs: {label} scored {run['split']} {list(run['corpora'])}, "
                             f"not {base['split']} {corpora}")
    rows = []
    for corpus in corpora:
        row = {"corpus": corpus, "sentences": base["corpora"][corpus]["sentences"]}
        for label, run in runs.items():
            scores = run["corpora"][corpus]
            row[label] = {"f1": round(scores["f1"], 2), "seconds": scores["seconds"]}
            if label != labels[0]:
                conll = f"{corpus}.{base['split']}.conll"
                reference = base["corpora"][corpus]
                row[label].update(_against(scores["f1"], scores["seconds"], reference["f1"], reference["seconds"]))
                row[label]["sentences_tagged_differently"] = sentences_that_differ(
                    base["folder"] / conll, run["folder"] / conll)
        rows.append(row)
    mean = {"corpus": "mean", "sentences": sum(r["sentences"] for r in rows)}
    for label in labels:
        f1 = round(sum(r[label]["f1"] for r in rows) / len(rows), 2)
        mean[label] = {"f1": f1, "seconds": round(sum(r[label]["seconds"] for r in rows), 1)}
        if label != labels[0]:
            reference = mean[labels[0]]
            mean[label].update(_against(f1, mean[label]["seconds"], reference["f1"], reference["seconds"]))
            mean[label]["sentences_tagged_differently"] = sum(r[label]["sentences_tagged_differently"] for r in rows)
    return rows + [mean]


def markdown(rows: list[dict], labels: list[str]) -> str:
    first, others = labels[0], labels[1:]
    header = f"| corpus | sentences | {first} F1 | {first} s | " + " | ".join(
        f"{label} F1 | difference | {label} s | speed-up | sentences tagged differently" for label in others) + " |"
    lines = [header, "|---|---:|---:|---:|" + "---:|---:|---:|---:|---:|" * len(others)]
    for row in rows:
        cells = " | ".join(
            f"{row[label]['f1']:.2f} | {row[label]['f1_difference']:+.2f} | {row[label]['seconds']:.1f} | "
            f"{row[label]['speed_up']:.2f}x | {row[label]['sentences_tagged_differently']}" for label in others)
        name = f"**{row['corpus']}**" if row["corpus"] == "mean" else row["corpus"]
        reference = f"{row[first]['f1']:.2f} | {row[first]['seconds']:.1f}"
        lines.append(f"| {name} | {row['sentences']} | {reference} | {cells} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> Path:
    parser = results_parser(__doc__)
    parser.add_argument("--runs", nargs="+", type=Path, required=True,
                        help="evaluate_model.py output folders; the first is the reference")
    parser.add_argument("--labels", nargs="+", required=True, help="one label per run folder")
    args = parser.parse_args(argv)
    if len(args.runs) < 2 or len(args.labels) != len(args.runs):
        parser.error(f"give two or more --runs and one --labels each "
                     f"({len(args.runs)} runs, {len(args.labels)} labels)")
    runs = {}
    for label, folder in zip(args.labels, args.runs):
        if not folder.is_dir():
            parser.error(f"--runs {folder}: no such folder")
        runs[label] = read_run(folder)
    rows = comparison_rows(runs)
    record = {
        "runs": {label: str(run["folder"]) for label, run in runs.items()},
        "models": {label: run["model"] for label, run in runs.items()},
        "split": runs[args.labels[0]]["split"],
        "decoding": {label: run.get("decoding") for label, run in runs.items()},
        "abbreviation_reach": {label: run.get("abbreviation_reach") for label, run in runs.items()},
        "rows": rows,
        "note": args.note,
    }
    path = write_results(args.name, record)
    saved = json.loads(path.read_text())
    head = (f"# {args.name}\n\nEntity-level F1 (strict IOB2) on the {record['split']} split. Command: "
            f"`{saved['command']}`; revision {saved['git_revision']}; machine: {saved['machine']}.\n\n"
            + (args.note + "\n\n" if args.note else ""))
    path.with_suffix(".md").write_text(head + markdown(rows, args.labels))
    print(path)
    return path


if __name__ == "__main__":
    main()
