"""PubTator files in and out: the format PubTator, NCBI-disease and BC5CDR ship abstracts and annotations in.

A document is a block of lines, blocks separated by an empty line:

    12345|t|Title text
    12345|a|Abstract text
    12345<TAB>start<TAB>end<TAB>mention<TAB>type[<TAB>concept id]

Offsets count over `title + " " + abstract`, which is the text a document is tagged as (one string, so that an
abbreviation defined in the title or abstract reaches the rest of it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, TextIO

__all__ = ["PubtatorDocument", "read_lines", "read_pubtator", "write_pubtator"]

_LINE_BREAKING = str.maketrans({"\t": " ", "\r": " ", "\n": " "})


@dataclass
class PubtatorDocument:
    """One PubTator document (annotations already in the file are not kept: the model's replace them)."""

    pmid: str
    title: str
    abstract: str = ""

    @property
    def text(self) -> str:
        """Title and abstract as PubTator's offsets count them: joined by one space."""
        return f"{self.title} {self.abstract}" if self.abstract else self.title


def read_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file as PubTator and plain-text tools count them: split at line feeds only (an
    abstract may hold U+2028 or a form feed from PDF extraction, which `str.splitlines` would also split at), with a
    carriage return before the feed and a byte-order mark at the start dropped; a byte that is not UTF-8 raises
    `ValueError` naming the file and line."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ValueError(f"{path}:{line}: not UTF-8 ({error.reason} at byte {error.start})") from None
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return lines[:-1] if lines and not lines[-1] else lines


def read_pubtator(path: str | Path) -> list[PubtatorDocument]:
    """The documents of a PubTator file; a malformed line raises `ValueError` naming the file and line."""
    documents: list[PubtatorDocument] = []
    current: PubtatorDocument | None = None
    for number, line in enumerate(read_lines(path), start=1):
        where = f"{path}, line {number}"
        if not line.strip():
            current = None
            continue
        head, bar, rest = line.partition("|")
        if bar and rest[:2] in ("t|", "a|") and "\t" not in head:
            kind, body = rest[0], rest[2:]
            if kind == "t":
                if current is not None:
                    raise ValueError(f"{where}: a second title for {current.pmid} (documents are separated by an empty line)")
                current = PubtatorDocument(head, body)
                documents.append(current)
            elif current is None or current.pmid != head:
                raise ValueError(f"{where}: abstract of {head!r} without its title line '{head}|t|...' before it")
            else:
                current.abstract = body
            continue
        fields = line.split("\t")
        if current is None or len(fields) < 5 or fields[0] != current.pmid:
            raise ValueError(
                f"{where}: expected 'PMID|t|title', 'PMID|a|abstract' or an annotation 'PMID<TAB>start<TAB>end<TAB>"
                f"mention<TAB>type' of the document above it, got {line[:80]!r}"
            )
    return documents


def write_pubtator(documents: Iterable[PubtatorDocument], spans: Iterable[list[dict]], stream: TextIO) -> None:
    """Write each document with the pipeline's spans as its annotations; a span's first concept id (`link=`), if
    any, is the sixth column."""
    for document, document_spans in zip(documents, spans, strict=True):
        stream.write(f"{document.pmid}|t|{document.title}\n{document.pmid}|a|{document.abstract}\n")
        for span in document_spans:
            # a tab or line break inside a span would break the line; one space for each keeps end - start == len
            mention = span["word"].translate(_LINE_BREAKING)
            columns = [document.pmid, str(span["start"]), str(span["end"]), mention, span["entity_group"]]
            if span.get("ids"):
                columns.append(span["ids"][0]["id"])
            stream.write("\t".join(columns) + "\n")
        stream.write("\n")
