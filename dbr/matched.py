"""Random DBR matched to a retrieved build name by name: the control that isolates retrieval.

The paper's random ablation (`--variant random`) always draws 10 + 5 names from the whole KB, while retrieval
often finds fewer, and shorter, names: on NCBI-disease random DBR trains on 87% more tokens, so a tie between the
two cannot say whether retrieval helps. `--variant matched` keeps every row of a reference (retrieved) build
(the same source sentences, the same number of names in the same order) and swaps each name for one drawn at
random from the KB with the same polarity (of the instructed type or not) and the same number of words.
Only the names' similarity to the source sentence differs.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

import numpy as np

from dbr.assembly import AssemblyOptions, concatenate_names, sentence_rng
from dbr.export import load_config
from dbr.kb import KnowledgeBase
from dbr.text import split_words

__all__ = ["NameSlot", "WordCountPools", "ids_to_indices", "reference_slots", "draw_matched", "assemble_matched"]

NameSlot = tuple[bool, int]  # (of the instructed type, number of words)


class WordCountPools:
    """KB indices by (entity type, polarity, word count), built once per type on first use."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.word_counts = np.fromiter((len(split_words(n)) for n in kb.names), dtype=np.int32, count=len(kb))
        self._pools: dict[tuple[str, bool], dict[int, np.ndarray]] = {}

    def pool(self, entity_type: str, positive: bool, words: int) -> np.ndarray:
        key = (entity_type, positive)
        if key not in self._pools:
            indices = self.kb.indices_of_type(entity_type) if positive else self.kb.indices_without_type(entity_type)
            counts = self.word_counts[indices]
            self._pools[key] = {int(c): indices[counts == c] for c in np.unique(counts)}
        by_count = self._pools[key]
        if words not in by_count:  # no name of that length with this polarity: the nearest length stands in
            words = min(by_count, key=lambda count: (abs(count - words), count))
        return by_count[words]


def ids_to_indices(kb: KnowledgeBase, wanted: set[str]) -> dict[str, list[int]]:
    """KB indices under each wanted id (any type column): one pass over the id table."""
    found: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(kb.first_ids):
        for kb_id in row:
            if kb_id in wanted:
                found[kb_id].append(index)
    return found


def reference_slots(
    tokens: Sequence[str], tags: Sequence[int], kb_ids: Sequence[str], id_index: dict[str, list[int]], kb: KnowledgeBase
) -> list[NameSlot]:
    """Recover (polarity, word count) of each name in a reference row by matching its KB id's names to the words.

    Synonyms under one id can be prefixes of each other (`ENGL` / `ENGL-b`), so a match is kept only if the rest
    of the row parses too (depth-first; rows hold at most 15 names).
    """
    tokens = list(tokens)

    def parse(name: int, position: int) -> list[NameSlot] | None:
        if name == len(kb_ids):
            return [] if position == len(tokens) else None
        synonyms = {tuple(split_words(kb.names[i])) for i in id_index.get(kb_ids[name], ())}
        for words in sorted(synonyms, key=len, reverse=True):
            if words and tuple(tokens[position : position + len(words)]) == words:
                rest = parse(name + 1, position + len(words))
                if rest is not None:
                    return [(tags[position] != 0, len(words))] + rest
        return None

    slots = parse(0, 0)
    if slots is None:
        raise ValueError(f"its {len(tokens)} words do not split into KB names of its ids {list(kb_ids)}")
    return slots


def draw_matched(
    pools: WordCountPools, slots: Sequence[NameSlot], entity_type: str, rng: np.random.Generator
) -> list[tuple[int, bool]]:
    """One random KB name per slot, of the slot's polarity and word count, distinct within the row."""
    wanted: dict[NameSlot, list[int]] = defaultdict(list)
    for position, slot in enumerate(slots):
        wanted[slot].append(position)
    chosen: list[tuple[int, bool]] = [(-1, False)] * len(slots)
    for (positive, words), positions in wanted.items():
        pool = pools.pool(entity_type, positive, words)
        drawn = rng.choice(pool, size=len(positions), replace=len(pool) < len(positions))
        for position, index in zip(positions, drawn):
            chosen[position] = (int(index), positive)
    return chosen


def assemble_matched(kb: KnowledgeBase, corpora: Iterable[str], options: AssemblyOptions) -> dict[str, list[dict]]:
    """Matched rows per source corpus, one per row of `options.reference` (folder or Hub id) for that corpus."""
    references = {}
    for corpus in corpora:
        try:
            references[corpus] = load_config(options.reference, corpus)
        except ValueError as error:
            message = f"--reference {options.reference}: no DBR config for corpus {corpus!r} ({error})"
            raise ValueError(message) from error
    id_index = ids_to_indices(kb, {i for ref in references.values() for ids in ref["kb_ids"] for i in ids})
    pools = WordCountPools(kb)
    rows: dict[str, list[dict]] = {}
    for corpus, reference in references.items():
        rows[corpus] = []
        for i, row in enumerate(reference):
            try:
                slots = reference_slots(row["tokens"], row["ner_tags"], row["kb_ids"], id_index, kb)
            except ValueError as error:
                raise ValueError(
                    f"--reference {options.reference}, {corpus} row {i} ({row['id']}): {error}; "
                    "was it built from this KB?"
                ) from error
            names = draw_matched(pools, slots, row["entity_type"], sentence_rng(options.seed, corpus, i))
            example = concatenate_names(kb, names, row["entity_type"])
            kept = {key: row[key] for key in ("id", "corpus", "entity_type", "source_corpus", "source_id")}
            rows[corpus].append(kept | example)
    return rows
