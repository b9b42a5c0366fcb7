"""Probe whether tagging every recurrence of a mention the model found helps, from evaluate_model.py's predictions.

    python benchmarks/mention_propagation_dev.py --name vaner_mention_propagation_dev \
        --predictions runs/s56/dev/*.validation.conll --reach 0 5 20

Corpora annotate a name alike wherever it recurs in a text, but the model reads each occurrence in its own context
and can miss a repeat whose sentence says less. The rule: a word sequence the model tagged as an entity in the same
sentence or in one of the `reach` preceding sentences (the corpora keep document order without marking document
boundaries, as for the abbreviation rule) becomes an entity wherever it recurs with every word O, longest sequences
first. Only the model's own spans are copied, never a copy of a copy. Dev split only: it tells whether the rule is
worth a place in the pipeline. Writes benchmarks/results/<name>.json (command, machine, revision, the figures).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import results_parser, write_results  # noqa: E402
from benchmarks.error_analysis import read_prediction_files  # noqa: E402
from evaluation import entity_scores  # noqa: E402
from processing_vaner import B, I, O, decode_spans  # noqa: E402


def propagate_mentions(sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[int]], reach: int) -> list[list[int]]:
    """O/B/I tags with each predicted mention copied to its untagged recurrences in the same sentence and the next
    `reach` sentences. An occurrence is tagged only where all its words are O and the word after it is not I."""
    if len(sentences) != len(tags) or any(len(w) != len(t) for w, t in zip(sentences, tags)):
        raise ValueError("propagate_mentions: sentences and tags differ in shape")
    if reach < 0:
        raise ValueError(f"propagate_mentions: reach {reach} is negative")
    found = [{tuple(words[s:e]) for s, e in decode_spans(sentence_tags)}
             for words, sentence_tags in zip(sentences, tags)]
    out = []
    for index, words in enumerate(sentences):
        mentions = set().union(*found[max(0, index - reach): index + 1])
        out.append(tag_recurrences(words, list(tags[index]), sorted(mentions, key=len, reverse=True)))
    return out


def tag_recurrences(words: Sequence[str], tags: list[int], mentions: list[tuple[str, ...]]) -> list[int]:
    """`tags` (changed in place and returned) with every occurrence of each mention, in the order given, tagged B/I
    where all its words are O and the word after it does not continue another span."""
    for mention in mentions:
        size = len(mention)
        for start in range(len(words) - size + 1):
            end = start + size
            if (tuple(words[start:end]) == mention and all(t == O for t in tags[start:end])
                    and (end == len(words) or tags[end] != I)):
                tags[start:end] = [B] + [I] * (size - 1)
    return tags


def main(argv: list[str] | None = None) -> Path:
    parser = results_parser(__doc__)
    parser.add_argument("--predictions", nargs="+", type=Path, required=True,
                        help="evaluate_model.py <corpus>.<split>.conll files")
    parser.add_argument("--reach", nargs="+", type=int, default=[0, 5, 20],
                        help="preceding sentences a mention is copied into (one arm each)")
    args = parser.parse_args(argv)
    corpora = read_prediction_files(args.predictions)
    arms: dict[str, dict] = {}
    for reach in [None, *args.reach]:
        scores = {}
        for corpus, sentences in corpora.items():
            words, gold, predicted = (list(column) for column in zip(*sentences))
            tags = predicted if reach is None else propagate_mentions(words, predicted, reach)
            scores[corpus] = entity_scores(gold, tags)
        label = "as predicted" if reach is None else f"reach {reach}"
        arms[label] = {"corpora": scores, "mean_f1": statistics.mean(s["f1"] for s in scores.values())}
        print(label, f"{arms[label]['mean_f1']:.2f}", {c: round(s["f1"], 2) for c, s in scores.items()}, flush=True)
    return write_results(args.name, {"predictions": [str(p) for p in args.predictions], "arms": arms,
                                     "note": args.note})


if __name__ == "__main__":
    print(main())
