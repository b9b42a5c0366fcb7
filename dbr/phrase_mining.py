"""AutoPhrase-style candidate entity phrases, mined from the corpora themselves (pure Python + numpy).

Method (after Shang et al. 2018, "Automated Phrase Mining from Massive Text Corpora"):

1. **Frequent phrase mining.** Sentences are cut into chunks at hard boundaries (`, ; : . ( ) [ ]` and other
   punctuation, except the in-name connectors `- / + '`), and every n-gram (n <= `max_n`)
   occurring at least `min_count` times is counted, Apriori style: an n-gram is only counted when its
   (n-1)-prefix and suffix are frequent, which keeps memory small.
2. **Features** per candidate (a frequent n-gram that neither starts nor ends with a stopword or a connector):
   log frequency; *concordance* = the smallest pointwise mutual information over the binary splits of the
   phrase (a good phrase is more frequent than its parts predict); *boundary* statistics = left and right
   branching entropy of the neighbouring words (a complete phrase appears in varied contexts, a fragment of a
   longer one in a fixed one); informativeness (mean inverse word frequency); length; surface shape (digits,
   connectors, share of occurrences with upper case inside, which marks gene and species names).
3. **Distant training.** As in AutoPhrase, the positive pool is the candidates that are names in the KB
   (compared after the same word splitting and case folding), the rest is the noisy negative pool; a
   class-balanced logistic regression on the standardised features gives each candidate a quality in [0, 1].
4. **Phrasal segmentation.** Per sentence, a dynamic programme picks non-overlapping candidate spans that
   maximise sum(len(span) * (quality - threshold)); weighting by length lets "breast cancer" beat "breast" +
   "cancer" when both parts are weaker than the whole, as AutoPhrase's segmentation does.

`benchmarks/dbr_benchmark.py` measures the exact-span recall of gold mentions among the candidates on dev data.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from dbr.text import normalise_phrase

__all__ = ["PhraseMiner", "STOPWORDS"]

Gram = tuple[str, ...]

CONNECTORS = frozenset({"-", "/", "+", "'"})
STOPWORDS = frozenset(
    """a about above after again against all also although among an and any are as at be because been before
    being below between both but by can could did do does doing done during each either et few for from further
    had has have having here how however i if in into is it its itself may might more most much must no nor not
    of off on once only or other our out over own per same several she should since so some such than that the
    their them then there these they this those through thus to too under until up upon very via was we were
    what when where whether which while who whom whose why will with within without would yet you using used
    use based showed shown show found observed associated due well whereas including include includes
    respectively patient patients study studies case cases result results effect effects
    method methods one two three four five high low increased decreased significant significantly""".split()
)


def _is_boundary(token: str) -> bool:
    return not any(c.isalnum() for c in token) and token not in CONNECTORS


def _chunks(tokens: Sequence[str]) -> Iterable[tuple[int, list[str]]]:
    """(offset, lower-cased tokens) of each run of tokens between hard boundaries."""
    start = 0
    for i, token in enumerate([*tokens, "."]):
        if _is_boundary(token):
            if i > start:
                yield start, [t.lower() for t in tokens[start:i]]
            start = i + 1


def _can_edge(word: str) -> bool:
    return word not in STOPWORDS and word not in CONNECTORS and any(c.isalpha() for c in word)


def _entropy(counts: Counter) -> float:
    total = sum(counts.values())
    return -sum(c / total * math.log(c / total) for c in counts.values())


@dataclass
class PhraseMiner:
    """Mine quality phrases from tokenised sentences; `candidates(tokens)` segments one sentence."""

    max_n: int = 5
    min_count: int = 2
    threshold: float = 0.5
    overlapping: bool = False
    counts: dict[int, Counter] = field(default_factory=dict)
    quality: dict[Gram, float] = field(default_factory=dict)

    # ---- 1. frequent n-grams -------------------------------------------------------------------------
    def _count(self, chunks: list[list[str]]) -> None:
        self.counts = {1: Counter(w for chunk in chunks for w in chunk)}
        for n in tqdm(range(2, self.max_n + 1), desc="Counting n-grams", leave=False):
            previous = self.counts[n - 1]
            grams = Counter()
            for chunk in chunks:
                for i in range(len(chunk) - n + 1):
                    gram = tuple(chunk[i : i + n])
                    head, tail = (gram[:-1], gram[1:]) if n > 2 else (gram[0], gram[1])
                    if previous[head] >= self.min_count and previous[tail] >= self.min_count:
                        grams[gram] += 1
            self.counts[n] = Counter({g: c for g, c in grams.items() if c >= self.min_count})

    def _count_of(self, gram: Gram) -> int:
        return self.counts[len(gram)][gram[0] if len(gram) == 1 else gram]

    def _is_candidate(self, gram: Gram) -> bool:
        if len(gram) > self.max_n or not (_can_edge(gram[0]) and _can_edge(gram[-1])):
            return False
        return self._count_of(gram) >= (1 if len(gram) == 1 else self.min_count)

    # ---- 2. features ---------------------------------------------------------------------------------
    def _context_stats(self, sentences: list[Sequence[str]]) -> tuple[dict, dict, Counter]:
        """Left/right neighbour counts and count of occurrences with inner upper case, per candidate."""
        left: dict[Gram, Counter] = defaultdict(Counter)
        right: dict[Gram, Counter] = defaultdict(Counter)
        upper: Counter = Counter()
        for tokens in tqdm(sentences, desc="Phrase contexts", leave=False, mininterval=2):
            lowered = [t.lower() for t in tokens]
            for offset, chunk in _chunks(tokens):
                for i in range(len(chunk)):
                    for n in range(1, min(self.max_n, len(chunk) - i) + 1):
                        gram = tuple(chunk[i : i + n])
                        if not self._is_candidate(gram):
                            if n > 1 and self._count_of(gram) < self.min_count:
                                break  # no longer n-gram from here can be frequent
                            continue
                        s, e = offset + i, offset + i + n
                        left[gram][lowered[s - 1] if s > 0 else "<s>"] += 1
                        right[gram][lowered[e] if e < len(tokens) else "</s>"] += 1
                        if any(c.isupper() for t in tokens[s:e] for c in t[1 if s == 0 else 0 :]):
                            upper[gram] += 1
        return left, right, upper

    def _features(self, grams: list[Gram], left: dict, right: dict, upper: Counter) -> np.ndarray:
        total = sum(self.counts[1].values())
        rows = []
        for gram in grams:
            count = self._count_of(gram)
            concordance = 0.0
            if len(gram) > 1:
                concordance = min(
                    math.log(count * total / (self._count_of(gram[:k]) * self._count_of(gram[k:])))
                    for k in range(1, len(gram))
                )
            rarity = np.mean([math.log(total / self.counts[1][w]) for w in gram])
            rows.append(
                [
                    math.log(count),
                    concordance,
                    min(_entropy(left[gram]), _entropy(right[gram])),
                    _entropy(left[gram]) + _entropy(right[gram]),
                    rarity,
                    len(gram),
                    float(len(gram) == 1),
                    float(any(c.isdigit() for w in gram for c in w)),
                    float(any(w in CONNECTORS for w in gram)),
                    upper[gram] / count,
                ]
            )
        return np.asarray(rows, dtype=np.float64)

    # ---- 3. distant training -------------------------------------------------------------------------
    @staticmethod
    def _logistic_quality(features: np.ndarray, labels: np.ndarray, steps: int = 300) -> np.ndarray:
        """Class-balanced, L2-regularised logistic regression by gradient descent; returns P(quality)."""
        x = (features - features.mean(0)) / (features.std(0) + 1e-9)
        x = np.hstack([x, np.ones((len(x), 1))])
        positives = max(labels.sum(), 1.0)
        weights = np.where(labels == 1, 0.5 / positives, 0.5 / max(len(labels) - positives, 1.0))
        w = np.zeros(x.shape[1])
        for _ in range(steps):
            p = 1.0 / (1.0 + np.exp(-x @ w))
            w -= 1.0 * (x.T @ (weights * (p - labels)) + 1e-3 * w)
        return 1.0 / (1.0 + np.exp(-x @ w))

    def fit(self, sentences: Iterable[Sequence[str]], known_phrases: set[str]) -> "PhraseMiner":
        """Count, featurise and score candidates; `known_phrases` = KB names under `normalise_phrase`."""
        sentences = list(sentences)
        self._count([chunk for tokens in sentences for _, chunk in _chunks(tokens)])
        left, right, upper = self._context_stats(sentences)
        grams = sorted(left)
        if not grams:
            self.quality = {}
            return self
        labels = np.asarray([normalise_phrase(g) in known_phrases for g in grams], dtype=np.float64)
        scores = self._logistic_quality(self._features(grams, left, right, upper), labels)
        self.quality = dict(zip(grams, scores.tolist()))
        return self

    # ---- 4. segmentation -----------------------------------------------------------------------------
    def candidates(self, tokens: Sequence[str]) -> list[tuple[int, int]]:
        """[start, end) candidate spans of one sentence: the best segmentation, or with `overlapping`, every
        span whose quality passes the threshold (more queries, higher recall; see the benchmark)."""
        spans: list[tuple[int, int]] = []
        for offset, chunk in _chunks(tokens):
            found = self._quality_spans(chunk) if self.overlapping else self._segment(chunk)
            spans.extend((offset + s, offset + e) for s, e in found)
        return spans

    def _quality_spans(self, chunk: list[str]) -> list[tuple[int, int]]:
        return [
            (start, end)
            for start in range(len(chunk))
            for end in range(start + 1, min(len(chunk), start + self.max_n) + 1)
            if self.quality.get(tuple(chunk[start:end]), 0.0) > self.threshold
        ]

    def _segment(self, chunk: list[str]) -> list[tuple[int, int]]:
        best = [0.0] * (len(chunk) + 1)  # best[i]: value of the best segmentation of chunk[:i]
        choice: list[tuple[int, int] | None] = [None] * (len(chunk) + 1)
        for end in range(1, len(chunk) + 1):
            best[end], choice[end] = best[end - 1], None
            for start in range(max(0, end - self.max_n), end):
                q = self.quality.get(tuple(chunk[start:end]))
                if q is not None and q > self.threshold:
                    value = best[start] + (end - start) * (q - self.threshold)
                    if value > best[end]:
                        best[end], choice[end] = value, (start, end)
        spans, end = [], len(chunk)
        while end > 0:
            if choice[end] is None:
                end -= 1
            else:
                spans.append(choice[end])
                end = choice[end][0]
        return spans[::-1]
