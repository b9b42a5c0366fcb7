"""Reading the two-column CoNLL files of the BioNER corpora, and turning their typed tags into untyped O/B/I.

Kept apart from the `datasets` builder so the rules can be tested (and reused, e.g. for counting mentions on
the original tags) without building a dataset. Every problem raises `CorpusFormatError` naming the file and the
line: a corpus is never silently repaired or truncated.

Rules:
* One `token<TAB>tag` per line, an empty line ends a sentence (several empty lines count as one break).
  A `-DOCSTART-` line (as in the MTL release of JNLPBA) ends the sentence and marks a new document; it is not
  a token.
* Tags are IOB2 with a type suffix: `O`, `B-<type>`, `I-<type>`. An `I-<type>` must continue a mention of the
  **same source type** (`B-protein I-DNA` is an error, even though both map to Gene).
* Mapping (see `entity_types.CORPUS_TAG_TYPES`) is applied per mention: a mention whose source type maps to a
  canonical type becomes `B I ...`; one whose type maps to `None` (JNLPBA cell_line / cell_type) becomes
  `O O ...` as a whole. So `B-cell_type I-cell_type B-protein I-protein` → `O O B I`: an `I` is always
  preceded by the `B`/`I` of its own mention, never by the `O` of a dropped one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from dataset_scripts.entity_types import corpus_tag_type

__all__ = ["CorpusFormatError", "DOCSTART", "Sentence", "count_mentions", "read_conll", "untyped_tags"]

DOCSTART = "-DOCSTART-"


class CorpusFormatError(ValueError):
    """A malformed corpus file; the message starts with `path:line:` like a compiler error."""

    def __init__(self, path: str | os.PathLike, line: int, message: str):
        self.path, self.line = str(path), line
        super().__init__(f"{self.path}:{line}: {message}")


@dataclass(frozen=True)
class Sentence:
    """One sentence with the original typed tags and the line number of each token (for error messages)."""

    tokens: list[str]
    tags: list[str]
    lines: list[int]


def read_conll(path: str | os.PathLike) -> Iterator[Sentence]:
    """Yield the sentences of a `token<TAB>tag` file, checking the column count of every line."""
    tokens: list[str] = []
    tags: list[str] = []
    lines: list[int] = []
    with open(path, "rb") as file:
        for line_number, raw in enumerate(file, start=1):
            line = _decode(raw, path, line_number).rstrip("\r\n")
            columns = line.split("\t")
            if not line.strip() or columns[0] == DOCSTART:
                if tokens:
                    yield Sentence(tokens, tags, lines)
                    tokens, tags, lines = [], [], []
                continue
            if len(columns) != 2 or not columns[0]:
                raise CorpusFormatError(
                    path, line_number, f"expected 2 tab-separated columns (token, tag), got {len(columns)}: {line!r}"
                )
            tokens.append(columns[0])
            tags.append(columns[1])
            lines.append(line_number)
    if tokens:
        yield Sentence(tokens, tags, lines)


def untyped_tags(sentence: Sentence, corpus: str, path: str | os.PathLike) -> list[str]:
    """The sentence's tags as untyped `O`/`B`/`I` for the corpus' canonical type, validating IOB2 on the way."""
    out: list[str] = []
    mention_type: str | None = None  # source type of the mention the previous tag belongs to
    keep = False  # whether that mention maps to the canonical type (else it is dropped to O)
    for tag, line in zip(sentence.tags, sentence.lines):
        if tag == "O":
            mention_type = None
            out.append("O")
            continue
        prefix, tag_type = _split_tag(tag, path, line)
        if prefix == "B":
            mention_type, keep = tag_type, _maps_to_type(corpus, tag_type, path, line)
        elif tag_type != mention_type:
            previous = "O" if mention_type is None else f"a {mention_type} mention"
            raise CorpusFormatError(path, line, f"{tag!r} continues no {tag_type} mention (it follows {previous})")
        out.append(prefix if keep else "O")
    return out


def count_mentions(tags: list[str]) -> int:
    """Mentions in a list of IOB2 tags (typed or not): the number of `B` tags."""
    return sum(tag == "B" or tag.startswith("B-") for tag in tags)


def _decode(raw: bytes, path: str | os.PathLike, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CorpusFormatError(path, line, f"not UTF-8 ({error.reason} at byte {error.start})") from None


def _split_tag(tag: str, path: str | os.PathLike, line: int) -> tuple[str, str]:
    prefix, _, tag_type = tag.partition("-")
    if prefix not in ("B", "I") or not tag_type:
        raise CorpusFormatError(path, line, f"unknown tag {tag!r}: expected O, B-<type> or I-<type> (IOB2)")
    return prefix, tag_type


def _maps_to_type(corpus: str, tag_type: str, path: str | os.PathLike, line: int) -> bool:
    try:
        return corpus_tag_type(corpus, tag_type) is not None
    except KeyError as error:
        raise CorpusFormatError(path, line, f"unknown tag type: {error.args[0]}") from None
