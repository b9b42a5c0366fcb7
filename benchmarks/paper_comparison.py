"""Test results of a model (evaluate_model.py metrics files) beside the paper's figures, as JSON and Markdown.

    python benchmarks/paper_comparison.py --name vaner_test --model models/vaner-gemma3-270m \
        --metrics runs/vaner/test/metrics.test.json runs/adapt/craft/metrics.test.json --note "..."

Metrics files of one instruction mode (several evaluate_model.py runs on different corpora) are joined, so the
mean is over all their corpora. Writes benchmarks/results/<name>.json (the metrics, the paper's F1, command,
machine, revision) and <name>.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS_DIR, results_parser, write_results  # noqa: E402
from model_card import PAPER_F1, merge_results, paper_comparison_table  # noqa: E402


def main() -> None:
    parser = results_parser(__doc__)
    parser.add_argument("--model", required=True, help="what was scored (shipped folder, checkpoint)")
    parser.add_argument("--metrics", nargs="+", type=Path, required=True, help="evaluate_model.py metrics files")
    args = parser.parse_args()

    results = []
    for path in args.metrics:
        if not path.is_file():
            raise SystemExit(f"--metrics {path}: no such file (run evaluate_model.py first)")
        results.append(json.loads(path.read_text()))
    results = merge_results(results)  # several runs on different corpora: one mean per instruction mode
    scored = {c for r in results for c in r["corpora"]}
    path = write_results(args.name, {
        "model": args.model,
        "metrics_files": [str(p) for p in args.metrics],
        "results": results,
        "paper_f1": {c: f for c, f in PAPER_F1.items() if c in scored},
        "note": args.note,
    })
    record = json.loads(path.read_text())
    (RESULTS_DIR / f"{args.name}.md").write_text(
        f"# {args.name}: {args.model}\n\nCommand: `{record['command']}`  \nMachine: {record['machine']['cores']} cores "
        f"({record['machine']['cpu']}); git {record['git_revision']}; {record['date']}\n\n{args.note}\n\n"
        + paper_comparison_table(results) + "\n"
    )
    print(path)


if __name__ == "__main__":
    main()
