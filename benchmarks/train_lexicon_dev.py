"""Probe whether the train split's own annotations can repair predicted span edges, from evaluate_model.py's predictions.

    python benchmarks/train_lexicon_dev.py --name vaner_train_lexicon_dev \
        --predictions runs/s56/dev/*.validation.conll --data-dir ../shared/data/bioner

Most of the shipped model's remaining errors are span edges that follow a corpus' convention (NCBI-disease keeps
"sporadic", BC5CDR-disease keeps or drops "chronic"), and a corpus' train split shows its convention phrase by phrase.
The lexicon of a corpus counts, for each word sequence annotated in train, how often it is annotated (`annotated`) and
how often it occurs at all (`occurs`); their ratio says how reliably the corpus calls it an entity. Arms:

- boundary: a predicted span the lexicon does not support (annotated >= 1, ratio >= 0.5) is replaced by the best
  known phrase (annotated >= 2, ratio >= 0.5; most annotations, then ratio, then length) among the spans whose start
  and end each move by at most 2 words, that overlap it and no other predicted span.
- add: a phrase annotated >= 3 times with ratio >= 0.9 is tagged wherever it occurs with every word O.
- boundary+add: both, in that order.

Dev split only: it tells whether a lexicon is worth shipping beside the model. Writes benchmarks/results/<name>.json.
"""

from __future__ import annotations

import statistics
import sys
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import results_parser, write_results  # noqa: E402
from benchmarks.error_analysis import read_prediction_files  # noqa: E402
from benchmarks.mention_propagation_dev import tag_recurrences  # noqa: E402
from evaluation import entity_scores  # noqa: E402
from processing_vaner import B, I, O, decode_spans  # noqa: E402

Phrase = tuple[str, ...]
SHIFT = 2  # how far each edge of a predicted span may move
SUPPORTED = (1, 0.5)  # (annotations, ratio) at which a predicted span is left as it is
KNOWN = (2, 0.5)  # at which a phrase may replace a predicted span
ADDED = (3, 0.9)  # at which a phrase is tagged wherever it occurs untagged


@dataclass
class TrainLexicon:
    """How often each annotated word sequence of a train split is annotated, and how often it occurs at all."""

    annotated: Counter = field(default_factory=Counter)
    occurs: Counter = field(default_factory=Counter)

    @classmethod
    def from_sentences(cls, sentences: Iterable[tuple[Sequence[str], Sequence[int]]]) -> "TrainLexicon":
        sentences = [(tuple(words), list(tags)) for words, tags in sentences]
        lexicon = cls()
        for words, tags in sentences:
            lexicon.annotated.update(words[start:end] for start, end in decode_spans(tags))
        lengths = {len(phrase) for phrase in lexicon.annotated}
        for words, _ in sentences:
            for size in lengths:
                lexicon.occurs.update(phrase for phrase in (words[i:i + size] for i in range(len(words) - size + 1))
                                      if phrase in lexicon.annotated)
        return lexicon

    @cached_property
    def reliable(self) -> list[Phrase]:
        """Phrases annotated often and reliably enough to be tagged wherever they occur, longest first."""
        return sorted((p for p in self.annotated if self.passes(p, ADDED)), key=len, reverse=True)

    def ratio(self, phrase: Phrase) -> float:
        return self.annotated[phrase] / self.occurs[phrase] if self.occurs[phrase] else 0.0

    def passes(self, phrase: Phrase, bar: tuple[int, float]) -> bool:
        return self.annotated[phrase] >= bar[0] and self.ratio(phrase) >= bar[1]


def repair_boundaries(words: Sequence[str], tags: Sequence[int], lexicon: TrainLexicon) -> list[int]:
    """O/B/I tags with each unsupported predicted span moved to the best known phrase within SHIFT words of its edges."""
    spans = decode_spans(tags)
    out = list(tags)
    low = 0  # the end of the span before, as repaired
    for index, (start, end) in enumerate(spans):
        if lexicon.passes(tuple(words[start:end]), SUPPORTED):
            low = end
            continue
        high = spans[index + 1][0] if index + 1 < len(spans) else len(words)
        candidates = [(s, e) for s in range(max(low, start - SHIFT), start + SHIFT + 1)
                      for e in range(max(s + 1, end - SHIFT), min(high, end + SHIFT) + 1)
                      if s < end and e > start and (s, e) != (start, end)
                      and lexicon.passes(tuple(words[s:e]), KNOWN)]
        if not candidates:
            low = end
            continue
        best = max(candidates, key=lambda c: (lexicon.annotated[tuple(words[c[0]:c[1]])],
                                              lexicon.ratio(tuple(words[c[0]:c[1]])), c[1] - c[0]))
        out[start:end] = [O] * (end - start)
        out[best[0]:best[1]] = [B] + [I] * (best[1] - best[0] - 1)
        low = best[1]
    return out


def add_reliable_phrases(words: Sequence[str], tags: Sequence[int], lexicon: TrainLexicon) -> list[int]:
    """O/B/I tags with every untagged occurrence of a reliably annotated phrase tagged, longest phrases first."""
    present = set(words)
    return tag_recurrences(words, list(tags), [p for p in lexicon.reliable if present.issuperset(p)])


ARMS = {
    "boundary": (repair_boundaries,),
    "add": (add_reliable_phrases,),
    "boundary+add": (repair_boundaries, add_reliable_phrases),
}


def apply_arm(arm: str, sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[int]],
              lexicon: TrainLexicon) -> list[list[int]]:
    """Each sentence's tags after the arm's rules, in order."""
    out = []
    for words, sentence_tags in zip(sentences, tags):
        sentence_tags = list(sentence_tags)
        for rule in ARMS[arm]:
            sentence_tags = rule(words, sentence_tags, lexicon)
        out.append(sentence_tags)
    return out


def main(argv: list[str] | None = None) -> Path:
    from dataset_scripts import load_corpus

    parser = results_parser(__doc__)
    parser.add_argument("--predictions", nargs="+", type=Path, required=True,
                        help="evaluate_model.py <corpus>.<split>.conll files")
    parser.add_argument("--data-dir", required=True, help="folder of the corpora; the lexicon reads their train split")
    args = parser.parse_args(argv)
    corpora = read_prediction_files(args.predictions)
    lexicons = {}
    for corpus in corpora:
        train = load_corpus(corpus, data_dir=args.data_dir)["train"]
        lexicons[corpus] = TrainLexicon.from_sentences(zip(train["tokens"], train["ner_tags"]))
    arms: dict[str, dict] = {}
    for arm in [None, *ARMS]:
        scores = {}
        for corpus, sentences in corpora.items():
            words, gold, predicted = (list(column) for column in zip(*sentences))
            tags = predicted if arm is None else apply_arm(arm, words, predicted, lexicons[corpus])
            scores[corpus] = entity_scores(gold, tags)
        label = arm or "as predicted"
        arms[label] = {"corpora": scores, "mean_f1": statistics.mean(s["f1"] for s in scores.values())}
        print(label, f"{arms[label]['mean_f1']:.2f}", {c: round(s["f1"], 2) for c, s in scores.items()}, flush=True)
    sizes = {c: {"phrases": len(lx.annotated), "known": sum(lx.passes(p, KNOWN) for p in lx.annotated),
                 "reliable": len(lx.reliable)} for c, lx in lexicons.items()}
    return write_results(args.name, {"predictions": [str(p) for p in args.predictions], "data_dir": args.data_dir,
                                     "lexicon": {"shift": SHIFT, "supported": SUPPORTED, "known": KNOWN,
                                                 "added": ADDED, "sizes": sizes},
                                     "arms": arms, "note": args.note})


if __name__ == "__main__":
    print(main())
