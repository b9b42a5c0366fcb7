"""Text ↔ words ↔ sub-tokens, and long-sentence windows: the rules shared by training, evaluation and the pipeline.

This file travels to the Hub with the model (standard library + transformers types only).

* `split_sentences` / `split_words` turn raw text into words with character offsets, tokenised the way the
  BioNER corpora are (runs of letters/digits, every other non-space character on its own).
* `encode_words` tokenises `instruction ⊕ words` once with a fast tokenizer and labels the first sub-token of
  each word; instruction tokens, later sub-tokens and special tokens get -100.
* `plan_windows` / `encode_windows` cut a word sequence into windows of at most `max_length` tokens with
  `stride` tokens of overlap, and `merge_windows` stitches per-window word scores back (the centre wins), so
  a long sentence is scored in evaluation exactly as the pipeline tags it.
* `decode_spans` turns word tags into entity spans; `viterbi_tags` picks the best IOB2-valid tag sequence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

__all__ = [
    "IGNORE_INDEX",
    "Word",
    "EncodedWindow",
    "split_sentences",
    "split_words",
    "join_words",
    "encode_words",
    "plan_windows",
    "encode_windows",
    "window_features",
    "merge_windows",
    "decode_spans",
    "repair_tags",
    "viterbi_tags",
]

IGNORE_INDEX = -100
O, B, I = 0, 1, 2

# Combining marks (decomposed accents, as NFD text from macOS or PDF extraction has them: "Me\u0301nie\u0300re")
# are not word characters to `re`; they continue the letter run they follow instead of becoming words of their own.
_COMBINING = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_WORD_RE = re.compile(rf"[^\W_](?:[^\W_]|[{_COMBINING}])*|[^\w\s]|_", re.UNICODE)
# A sentence ends at . ! or ? followed by space and an upper-case letter, a digit, or an opening bracket/quote.
_SENTENCE_END_RE = re.compile(r"[.!?]+[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREVIATIONS = frozenset(
    "e.g i.e et al fig figs vs cf approx no dr mr mrs ms prof st ca resp ref refs eq eqs sp spp var viz".split()
)


@dataclass(frozen=True)
class Word:
    """A word of the input text and its character span (`text[start:end] == word.text`)."""

    text: str
    start: int
    end: int


@dataclass
class EncodedWindow:
    """One encoded `instruction ⊕ words[word_start:word_end]` sequence.

    `word_token_index[k]` is the position of the first sub-token of word `word_start + k` in `input_ids`;
    `content_end` is one past the last sub-token of the last word (trailing special tokens follow it).
    """

    input_ids: list[int]
    word_start: int
    word_end: int
    word_token_index: list[int]
    content_end: int
    labels: list[int] = field(default_factory=list)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text` (whitespace-only text has none)."""
    spans, start = [], 0
    for match in _SENTENCE_END_RE.finditer(text):
        before = text[start : match.start() + 1]
        last_word = re.findall(r"[A-Za-z.]+\.?$", before)
        token = last_word[0].rstrip(".").lower() if last_word else ""
        if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
            continue
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    return [(s, e) for s, e in (_strip_span(text, s, e) for s, e in spans) if e > s]


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_words(text: str, start: int = 0, end: int | None = None) -> list[Word]:
    """Words of `text[start:end]` with offsets into `text`: letter/digit runs and single other characters."""
    end = len(text) if end is None else end
    return [Word(m.group(), m.start(), m.end()) for m in _WORD_RE.finditer(text, start, end)]


def join_words(instruction: str, words: Sequence[str]) -> tuple[str, list[int]]:
    """The model's input string and the character offset of each word in it."""
    pieces, offsets, position = [instruction], [], len(instruction)
    for word in words:
        position += 1  # the separating space
        offsets.append(position)
        pieces.append(word)
        position += len(word)
    return " ".join(pieces), offsets


def encode_words(
    tokenizer, instruction: str, words: Sequence[str], labels: Sequence[int] | None = None
) -> EncodedWindow:
    """Tokenise `instruction ⊕ words` (no truncation) and find the first sub-token of every word.

    Works with any fast tokenizer: words are joined by single spaces and matched to sub-tokens through the
    tokenizer's character offsets. A sub-token that straddles two words serves both (rare; the label of the
    first word is kept).
    """
    if not words:
        raise ValueError("encode_words needs at least one word")
    if labels is not None and len(labels) != len(words):
        raise ValueError(f"{len(labels)} labels for {len(words)} words")
    text, word_offsets = join_words(instruction, words)
    encoding = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True, truncation=False)
    input_ids, offsets = encoding["input_ids"], encoding["offset_mapping"]
    word_token_index = _first_token_of_each_word(offsets, word_offsets, [len(w) for w in words])
    token_labels = [IGNORE_INDEX] * len(input_ids)
    if labels is not None:
        for word_index in range(len(words) - 1, -1, -1):  # backwards: the first word keeps a shared token
            token_labels[word_token_index[word_index]] = int(labels[word_index])
    content_end = max(i + 1 for i, span in enumerate(offsets) if _overlaps(span, word_offsets[0], len(text)))
    return EncodedWindow(list(input_ids), 0, len(words), word_token_index, content_end, token_labels)


def _first_token_of_each_word(
    token_offsets: Sequence[tuple[int, int]], word_starts: Sequence[int], word_lengths: Sequence[int]
) -> list[int]:
    result, token = [], 0
    for word_start, length in zip(word_starts, word_lengths):
        word_end = word_start + length
        while token < len(token_offsets) and not _overlaps(token_offsets[token], word_start, word_end):
            token += 1
        if token == len(token_offsets):
            raise ValueError("tokenizer offsets do not cover every word; a fast tokenizer is required")
        result.append(token)
        if token_offsets[token][1] <= word_end:  # the next word starts in a later token
            token += 1
    return result


def _overlaps(span: tuple[int, int], start: int, end: int) -> bool:
    token_start, token_end = span
    return token_end > token_start and token_start < end and token_end > start


def plan_windows(word_token_counts: Sequence[int], budget: int, stride: int) -> list[tuple[int, int]]:
    """Cut words into `[start, end)` windows of at most `budget` tokens overlapping by about `stride` tokens.

    A single word longer than the budget gets a window of its own (nothing is ever dropped).
    """
    n = len(word_token_counts)
    windows, start = [], 0
    while start < n:
        end, used = start, 0
        while end < n and (end == start or used + word_token_counts[end] <= budget):
            used += word_token_counts[end]
            end += 1
        windows.append((start, end))
        if end == n:
            break
        next_start, overlap = end, 0
        while next_start - 1 > start and overlap + word_token_counts[next_start - 1] <= stride:
            next_start -= 1
            overlap += word_token_counts[next_start]
        start = next_start
    return windows


def encode_windows(
    tokenizer,
    instruction: str,
    words: Sequence[str],
    labels: Sequence[int] | None,
    max_length: int,
    stride: int,
) -> list[EncodedWindow]:
    """Encode `instruction ⊕ words`, cut into windows of at most `max_length` tokens when it is longer."""
    full = encode_words(tokenizer, instruction, words, labels)
    if len(full.input_ids) <= max_length:
        return [full]
    boundaries = full.word_token_index[1:] + [full.content_end]
    counts = [end - start for start, end in zip(full.word_token_index, boundaries)]
    overhead = len(full.input_ids) - sum(counts)
    budget = max_length - overhead
    while True:
        windows = []
        for start, end in plan_windows(counts, max(budget, 1), stride):
            window = encode_words(tokenizer, instruction, words[start:end], None if labels is None else labels[start:end])
            window.word_start, window.word_end = start, end
            windows.append(window)
        too_long = [w for w in windows if len(w.input_ids) > max_length and w.word_end - w.word_start > 1]
        if not too_long or budget <= 1:
            return windows
        budget -= 1  # a boundary word tokenised differently in context: tighten and re-plan


def window_features(
    tokenizer,
    instructions: Sequence[str],
    sentences: Sequence[Sequence[str]],
    labels: Sequence[Sequence[int]],
    max_length: int,
    stride: int,
) -> dict[str, list]:
    """Training columns of a batch of labelled sentences: one row per window (`encode_windows`), so that training
    sees every word of a long sentence; `length` lets the trainer group rows of similar size."""
    features: dict[str, list] = {"input_ids": [], "attention_mask": [], "labels": [], "length": []}
    for instruction, words, tags in zip(instructions, sentences, labels, strict=True):
        for window in encode_windows(tokenizer, instruction, words, tags, max_length, stride):
            features["input_ids"].append(window.input_ids)
            features["attention_mask"].append([1] * len(window.input_ids))
            features["labels"].append(window.labels)
            features["length"].append(len(window.input_ids))
    return features


def merge_windows(n_words: int, windows: Sequence[tuple[int, int]], window_scores: Sequence[Sequence]) -> list:
    """Per-word scores for the whole sentence: each word takes the window in which it sits most central."""
    best: list = [None] * n_words
    best_margin = [-1] * n_words
    for (start, end), scores in zip(windows, window_scores):
        for offset, score in enumerate(scores):
            word = start + offset
            margin = min(word - start, end - 1 - word)
            if margin > best_margin[word]:
                best_margin[word], best[word] = margin, score
    if any(score is None for score in best):
        raise ValueError("windows do not cover every word")
    return best


def repair_tags(tags: Sequence[int]) -> list[int]:
    """IOB2 repair used for predictions: an I that continues nothing starts an entity (becomes B)."""
    repaired, previous = [], O
    for tag in tags:
        repaired.append(B if tag == I and previous == O else tag)
        previous = tag
    return repaired


def viterbi_tags(scores: Sequence[Sequence[float]]) -> list[int]:
    """The O/B/I sequence with the highest summed score among those valid in IOB2 (no I at the start or after O).

    `scores` holds one (O, B, I) row of log-probabilities per word. Argmax with `repair_tags` decides each word
    alone and turns an orphan I into B; here the whole sentence is weighed, so an I the model is sure of can pull
    an uncertain left neighbour from O to B and the entity keeps its first word. Ties prefer O, then B.
    """
    if not scores:
        return []
    best = [scores[0][O], scores[0][B], float("-inf")]
    back: list[tuple[int, int, int]] = []  # per word after the first: best previous tag for O, B and I
    for row in scores[1:]:
        top = max((O, B, I), key=best.__getitem__)
        inside = B if best[B] >= best[I] else I  # I continues a B or an I, never an O
        back.append((top, top, inside))
        best = [best[top] + row[O], best[top] + row[B], best[inside] + row[I]]
    tag = max((O, B, I), key=best.__getitem__)
    tags = [tag]
    for pointers in reversed(back):
        tag = pointers[tag]
        tags.append(tag)
    return tags[::-1]


def decode_spans(tags: Sequence[int]) -> list[tuple[int, int]]:
    """`[start, end)` word spans of the entities in O/B/I tags (after `repair_tags`)."""
    spans, start = [], None
    for index, tag in enumerate(repair_tags(tags)):
        if tag != I and start is not None:
            spans.append((start, index))
            start = None
        if tag == B:
            start = index
    if start is not None:
        spans.append((start, len(tags)))
    return spans
