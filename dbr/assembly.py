"""Assemble dense pseudo-sentences: KB names of the instructed type (B/I) mixed with names of other types (O).

Retrieved variant (the paper's DBR): the queries of a sentence are its gold mentions and its mined candidate
phrases. Their K nearest KB names form two pools: names that carry the sentence's entity type in the KB
(positives) and names that do not carry it at all (negatives; a name typed both ways, e.g. `insulin`, is never a
negative for Chemical, so labels never contradict the KB). Gold-mention neighbours and candidate neighbours are
pooled together because the KB type, not the query, decides the label: candidates add variety (e.g. a species
name retrieved from a disease sentence becomes a negative), gold mentions guarantee on-topic positives.
Up to `max_positives` / `max_negatives` names are drawn without replacement, shuffled and concatenated.

Random variant (the paper's ablation): up to the same numbers of names, drawn uniformly from the whole KB.
Matched variant (`dbr.matched`): a retrieved build's rows with each name swapped for a random one of the same
polarity and word count, so that only retrieval differs.
Every draw uses a generator seeded by (seed, source corpus, sentence index), so output does not depend on
processing order.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from dbr.kb import KnowledgeBase
from dbr.text import split_words

__all__ = [
    "VARIANTS",
    "AssemblyOptions",
    "SentenceNeighbours",
    "sentence_rng",
    "draw_retrieved",
    "draw_random",
    "dense_example",
    "concatenate_names",
    "iter_queries",
]

VARIANTS = ("retrieved", "random", "matched")


@dataclass(frozen=True)
class AssemblyOptions:
    max_positives: int = 10
    max_negatives: int = 5
    variant: str = "retrieved"
    seed: int = 0
    reference: str | None = None  # matched variant: the retrieved build (folder or Hub id) whose rows it mirrors

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"--variant must be one of {VARIANTS}, got {self.variant!r}")
        if (self.variant == "matched") != (self.reference is not None):
            raise ValueError("--reference (a retrieved DBR build) is required by --variant matched and only by it")
        if self.max_positives < 0 or self.max_negatives < 0:
            raise ValueError("max_positives / max_negatives must be >= 0")


@dataclass(frozen=True)
class SentenceNeighbours:
    """KB indices retrieved for one sentence's queries (gold mentions first, then candidates)."""

    gold: np.ndarray
    candidates: np.ndarray

    def pooled(self) -> np.ndarray:
        """Distinct KB indices, first occurrence order (gold neighbours first)."""
        both = np.concatenate([self.gold.ravel(), self.candidates.ravel()]).astype(np.int64)
        both = both[both >= 0]  # faiss pads missing neighbours with -1
        _, first = np.unique(both, return_index=True)
        return both[np.sort(first)]


def sentence_rng(seed: int, source_corpus: str, index: int) -> np.random.Generator:
    """An independent, order-free generator per sentence."""
    return np.random.default_rng([seed, zlib.crc32(source_corpus.encode()), index])


def _draw(rng: np.random.Generator, pool: np.ndarray, count: int) -> np.ndarray:
    if len(pool) <= count:
        return rng.permutation(pool)
    return rng.choice(pool, size=count, replace=False)


def draw_retrieved(
    kb: KnowledgeBase,
    neighbours: SentenceNeighbours,
    entity_type: str,
    options: AssemblyOptions,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(positive, negative) KB indices drawn from the sentence's retrieved neighbours."""
    pool = neighbours.pooled()
    positive = kb.has_type(pool, entity_type)
    return _draw(rng, pool[positive], options.max_positives), _draw(rng, pool[~positive], options.max_negatives)


def draw_random(
    positive_pool: np.ndarray, negative_pool: np.ndarray, options: AssemblyOptions, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(positive, negative) KB indices drawn uniformly from the whole KB (pools precomputed per type)."""
    return _draw(rng, positive_pool, options.max_positives), _draw(rng, negative_pool, options.max_negatives)


def dense_example(
    kb: KnowledgeBase,
    positives: Sequence[int],
    negatives: Sequence[int],
    entity_type: str,
    rng: np.random.Generator,
) -> dict | None:
    """Shuffle the drawn names into one word sequence with O/B/I (0/1/2) labels; None when nothing was drawn."""
    names = [(int(i), True) for i in positives] + [(int(i), False) for i in negatives]
    if not names:
        return None
    return concatenate_names(kb, [names[position] for position in rng.permutation(len(names))], entity_type)


def concatenate_names(kb: KnowledgeBase, names: Sequence[tuple[int, bool]], entity_type: str) -> dict:
    """(KB index, is of the instructed type) pairs, in order -> one dense row: words, O/B/I tags, KB ids."""
    tokens: list[str] = []
    tags: list[int] = []
    kb_ids: list[str] = []
    for index, is_positive in names:
        words = split_words(kb.names[index])
        tokens.extend(words)
        tags.extend(([1] + [2] * (len(words) - 1)) if is_positive else [0] * len(words))
        kb_ids.append(kb.kb_id(index, entity_type if is_positive else None))
    return {"tokens": tokens, "ner_tags": tags, "kb_ids": kb_ids}


def iter_queries(tokens: Sequence[str], spans: Iterable[tuple[int, int]]) -> list[str]:
    """Query strings of spans: words joined by spaces, case-folded (both embedders here are uncased)."""
    return [" ".join(tokens[s:e]).lower() for s, e in spans]
