"""Where a model's entity errors come from, per corpus, from evaluate_model.py's prediction files.

    python benchmarks/error_analysis.py --name vaner_soup6_dev_errors \
        --predictions runs/abbrev/soup-dev/*.validation.conll --note "..."

Each `<corpus>.<split>.conll` (`token<TAB>gold<TAB>predicted`, written by evaluate_model.py) is split into exact
matches, boundary errors (a gold and a predicted span overlap without matching: each counts once as a miss and
once as a false alarm under strict scoring), gold mentions missed outright, and spurious predictions, with the
most frequent missed and spurious strings. Each overlapping (predicted, gold) pair is also read at its edges: is the
prediction too long, too short or shifted, and which words does it add or drop (`+chronic ...` adds "chronic" on the
left, `... -with aura` drops "with aura" on the right). It says which lever a gap needs: boundaries, recall or
precision, and whether the boundaries are a convention (modifiers a corpus includes) or a tokenisation slip.
Writes benchmarks/results/<name>.json (command, machine, revision, the figures) and <name>.md.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS_DIR, results_parser, write_results  # noqa: E402
from processing_vaner import decode_spans  # noqa: E402

_IOB = {"O": 0, "B": 1, "I": 2}


def read_predictions(path: Path) -> list[tuple[list[str], list[int], list[int]]]:
    """Sentences of a prediction file as (words, gold O/B/I, predicted O/B/I); a malformed line names file:line."""
    sentences, words, gold, predicted = [], [], [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            if words:
                sentences.append((words, gold, predicted))
                words, gold, predicted = [], [], []
            continue
        columns = line.split("\t")
        if len(columns) != 3 or columns[1][:1] not in _IOB or columns[2][:1] not in _IOB:
            raise SystemExit(f"{path}:{number}: expected token<TAB>gold<TAB>predicted IOB2 tags, got {line!r}")
        words.append(columns[0])
        gold.append(_IOB[columns[1][:1]])
        predicted.append(_IOB[columns[2][:1]])
    if words:
        sentences.append((words, gold, predicted))
    return sentences


def read_prediction_files(paths: list[Path]) -> dict[str, list[tuple[list[str], list[int], list[int]]]]:
    """Each `<corpus>.<split>.conll` file's sentences (`read_predictions`) under its corpus name, in the given order."""
    corpora = {}
    for path in paths:
        if not path.is_file():
            raise SystemExit(f"--predictions {path}: no such file (evaluate_model.py writes <corpus>.<split>.conll)")
        corpora[path.name.split(".")[0]] = read_predictions(path)
    return corpora


def error_profile(sentences: list[tuple[list[str], list[int], list[int]]], top: int = 10) -> dict:
    """Counts of exact matches, boundary errors, outright misses and spurious spans, and the commonest strings."""
    counts, missed, spurious, edges = Counter(), Counter(), Counter(), Counter()
    for words, gold_tags, predicted_tags in sentences:
        gold, predicted = set(decode_spans(gold_tags)), set(decode_spans(predicted_tags))
        counts["exact"] += len(gold & predicted)
        gold_unmatched, predicted_unmatched = gold - predicted, predicted - gold
        _read_edges(predicted_unmatched, gold_unmatched, words, counts, edges)
        boundary, missed_outright = _split_unmatched(gold_unmatched, predicted_unmatched, words, missed)
        counts["gold_with_wrong_boundary"] += boundary
        counts["gold_missed"] += missed_outright
        boundary, spurious_outright = _split_unmatched(predicted_unmatched, gold_unmatched, words, spurious)
        counts["predicted_with_wrong_boundary"] += boundary
        counts["predicted_spurious"] += spurious_outright
    gold_total = counts["exact"] + counts["gold_with_wrong_boundary"] + counts["gold_missed"]
    predicted_total = counts["exact"] + counts["predicted_with_wrong_boundary"] + counts["predicted_spurious"]
    return {
        **{key: counts[key] for key in ("exact", "gold_with_wrong_boundary", "gold_missed",
                                        "predicted_with_wrong_boundary", "predicted_spurious")},
        "gold": gold_total,
        "predicted": predicted_total,
        "precision": _share(counts["exact"], predicted_total),
        "recall": _share(counts["exact"], gold_total),
        "boundary_share_of_errors": _share(counts["gold_with_wrong_boundary"] + counts["predicted_with_wrong_boundary"],
                                           gold_total + predicted_total - 2 * counts["exact"]),
        "most_missed": missed.most_common(top),
        "most_spurious": spurious.most_common(top),
        "overlapping_pairs": {key: counts[f"pair_{key}"] for key in ("too_long", "too_short", "shifted")},
        "most_common_edge_differences": edges.most_common(top),
    }


def _read_edges(predicted: set, gold: set, words: list[str], counts: Counter, edges: Counter) -> None:
    """For each unmatched predicted span overlapping an unmatched gold span: too long, too short or shifted (in
    `counts`), and the words it adds (+) or drops (-) at each edge (in `edges`)."""
    for p_start, p_end in predicted:
        for g_start, g_end in gold:
            if not _overlap((p_start, p_end), (g_start, g_end)):
                continue
            longer, shorter = p_start <= g_start and p_end >= g_end, p_start >= g_start and p_end <= g_end
            counts["pair_" + ("too_long" if longer else "too_short" if shorter else "shifted")] += 1
            if p_start != g_start:
                sign = "+" if p_start < g_start else "-"
                edges[f"{sign}{' '.join(words[min(p_start, g_start):max(p_start, g_start)])} ..."] += 1
            if p_end != g_end:
                sign = "+" if p_end > g_end else "-"
                edges[f"... {sign}{' '.join(words[min(p_end, g_end):max(p_end, g_end)])}"] += 1


def _split_unmatched(spans: set, others: set, words: list[str], strings: Counter) -> tuple[int, int]:
    """How many unmatched `spans` overlap one of the unmatched `others` (a boundary error) and how many do not
    (counted in `strings` by their text)."""
    boundary = 0
    for start, end in spans:
        if any(_overlap((start, end), other) for other in others):
            boundary += 1
        else:
            strings[" ".join(words[start:end])] += 1
    return boundary, len(spans) - boundary


def _overlap(span: tuple[int, int], other: tuple[int, int]) -> bool:
    """Do two [start, end) word spans share a word."""
    return span[0] < other[1] and other[0] < span[1]


def _share(part: int, whole: int) -> float:
    return 100 * part / whole if whole else 0.0


def markdown(name: str, record: dict) -> str:
    lines = [f"# {name}", "", f"Command: `{record['command']}`  ", f"Machine: {record['machine']['cores']} cores "
             f"({record['machine']['cpu']}); git {record['git_revision']}; {record['date']}", "", record["note"], "",
             "| corpus | gold | predicted | exact | gold, wrong boundary | gold missed | predicted, wrong boundary "
             "| predicted spurious | P | R | boundary share of errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for corpus, p in record["corpora"].items():
        lines.append(f"| {corpus} | {p['gold']} | {p['predicted']} | {p['exact']} | {p['gold_with_wrong_boundary']} | "
                     f"{p['gold_missed']} | {p['predicted_with_wrong_boundary']} | {p['predicted_spurious']} | "
                     f"{p['precision']:.2f} | {p['recall']:.2f} | {p['boundary_share_of_errors']:.0f}% |")
    lines += ["", "| corpus | most missed (count) | most spurious (count) |", "|---|---|---|"]
    for corpus, p in record["corpora"].items():
        lines.append(f"| {corpus} | {', '.join(f'{s} ({n})' for s, n in p['most_missed'])} | "
                     f"{', '.join(f'{s} ({n})' for s, n in p['most_spurious'])} |")
    lines += ["", "Overlapping (predicted, gold) pairs: is the prediction too long, too short or shifted, and which words "
              "it adds (+) or drops (-) at the left (`x ...`) or right (`... x`) edge:", "",
              "| corpus | too long | too short | shifted | commonest edge differences (count) |", "|---|---:|---:|---:|---|"]
    for corpus, p in record["corpora"].items():
        pairs = p["overlapping_pairs"]
        lines.append(f"| {corpus} | {pairs['too_long']} | {pairs['too_short']} | {pairs['shifted']} | "
                     f"{', '.join(f'`{s}` ({n})' for s, n in p['most_common_edge_differences'])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> Path:
    parser = results_parser(__doc__)
    parser.add_argument("--predictions", nargs="+", type=Path, required=True,
                        help="evaluate_model.py <corpus>.<split>.conll files")
    parser.add_argument("--top", type=int, default=10, help="most frequent missed / spurious strings to list")
    args = parser.parse_args(argv)
    corpora = {corpus: error_profile(sentences, args.top)
               for corpus, sentences in read_prediction_files(args.predictions).items()}
    path = write_results(args.name, {"predictions": [str(p) for p in args.predictions], "corpora": corpora,
                                     "note": args.note})
    (RESULTS_DIR / f"{args.name}.md").write_text(markdown(args.name, json.loads(path.read_text())))
    return path


if __name__ == "__main__":
    print(main())
