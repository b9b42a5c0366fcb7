"""Word splitting shared by phrase mining and assembly, so KB names look like corpus tokens.

The corpora are tokenised into runs of letters/digits and single other characters (BioBERT / standoff2conll
style: `IL-2` -> `IL`, `-`, `2`); KB names are split the same way before they are matched or inserted.
"""

from __future__ import annotations

import re

__all__ = ["split_words", "normalise_phrase", "gold_spans"]

_WORD = re.compile(r"[^\W_]+|[^\w\s]|_")


def split_words(text: str) -> list[str]:
    """Runs of letters/digits, and every other non-space character on its own."""
    return _WORD.findall(text)


def normalise_phrase(words: list[str] | tuple[str, ...]) -> str:
    """Case-folded, single-spaced key under which a corpus phrase and a KB name compare equal."""
    return " ".join(w.lower() for w in words)


def gold_spans(tags: list[int]) -> list[tuple[int, int]]:
    """[start, end) spans of the mentions in an O/B/I (0/1/2) tag sequence; a stray I starts a mention."""
    spans: list[tuple[int, int]] = []
    start = None
    for i, tag in enumerate(tags):
        if tag == 1 or (tag == 2 and start is None):
            if start is not None:
                spans.append((start, i))
            start = i
        elif tag == 0 and start is not None:
            spans.append((start, i))
            start = None
    if start is not None:
        spans.append((start, len(tags)))
    return spans
