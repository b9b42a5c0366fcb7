"""Readers for the gold normalisation sets in `shared/data/nen` (format: `shared/data/README.md`), shared by the
linking benchmark (gold mentions given) and the end-to-end NER + linking benchmark (gold spans and ids)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

NEN_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "nen"


class GoldMention(NamedTuple):
    doc: str
    start: int
    end: int
    mention: str
    etype: str
    ids: str  # as in the source: `|`-separated, `-1` = no id


def read_docs(nen_dir: Path, corpus: str, split: str) -> dict[str, str]:
    """doc_id -> text (title + " " + abstract) of every document of the split, also those without mentions."""
    texts = {}
    with open(Path(nen_dir) / corpus / f"{split}.docs.tsv", encoding="utf-8") as handle:
        handle.readline()
        for line in handle:
            doc, text = line.rstrip("\n").split("\t", 1)
            texts[doc] = text
    return texts


def read_gold_mentions(nen_dir: Path, corpus: str, split: str) -> list[GoldMention] | None:
    """Every gold mention row of the split (None when the split does not exist)."""
    path = Path(nen_dir) / corpus / f"{split}.mentions.tsv"
    if not path.is_file():
        return None
    rows = []
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        assert header == ["doc_id", "start", "end", "mention", "type", "ids"], (path, header)
        for line in handle:
            doc, start, end, mention, etype, ids = line.rstrip("\n").split("\t")
            rows.append(GoldMention(doc, int(start), int(end), mention, etype, ids))
    return rows


def kb_ids(gold: str, etype: str, hgnc: dict[str, str]) -> list[str]:
    """Gold id field -> candidate KB ids (possibly none: OMIM, `+` combinations, `-1`, non-human genes)."""
    out = []
    for raw in gold.split("|"):
        raw = raw.strip()
        if not raw or raw == "-1" or raw.startswith("OMIM:") or "+" in raw:
            continue
        if etype in ("Disease", "Chemical"):
            out.append(raw if raw.startswith("MESH:") else f"MESH:{raw}")
        elif etype == "Species":
            out.append(f"NCBITaxon:{raw}")
        elif etype == "Gene" and raw in hgnc:
            out.append(hgnc[raw])
    return out
