#!/usr/bin/env python
"""How much text each DBR variant adds: rows, names, positives, negatives and words per dense sentence.

The ablations compare retrieved, random and length-matched random DBR at one epoch, so a variant that writes
longer dense sentences also trains on more tokens; this puts the difference in numbers.

    python benchmarks/dbr_variant_stats.py --corpus NCBI-disease --name dbr_variant_stats_ncbi_disease \
        --builds retrieved=artifacts/dbr/vaner-dbr-minilm random-seed43=runs/ablations-seed43/ncbi-random/dbr-random
"""

from __future__ import annotations

import sys
from pathlib import Path

from datasets import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import results_parser, write_results  # noqa: E402
from dbr.export import load_config  # noqa: E402

__all__ = ["build_stats", "main"]


def build_stats(rows: Dataset) -> dict:
    """Per-row means and totals of one DBR config (a `datasets.Dataset` with tokens, ner_tags, kb_ids)."""
    names = [len(ids) for ids in rows["kb_ids"]]
    positives = [sum(tag == 1 for tag in tags) for tags in rows["ner_tags"]]
    words = [len(tokens) for tokens in rows["tokens"]]
    count = len(names)
    return {
        "rows": count,
        "names_per_row": round(sum(names) / count, 2),
        "positives_per_row": round(sum(positives) / count, 2),
        "negatives_per_row": round((sum(names) - sum(positives)) / count, 2),
        "words_per_row": round(sum(words) / count, 2),
        "words": sum(words),
    }


def main(argv: list[str] | None = None) -> int:
    parser = results_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True, help="source corpus (DBR config) to describe")
    parser.add_argument("--builds", nargs="+", required=True, metavar="LABEL=FOLDER", help="DBR builds to compare")
    args = parser.parse_args(argv)
    builds = {}
    for item in args.builds:
        label, sep, folder = item.partition("=")
        if not sep or not label or not folder:
            parser.error(f"--builds: expected LABEL=FOLDER, got '{item}'")
        builds[label] = {"folder": folder, **build_stats(load_config(folder, args.corpus))}
    path = write_results(args.name, {"corpus": args.corpus, "note": args.note, "builds": builds})
    for label, stats in builds.items():
        print(label, stats)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
