"""Readers for the gold normalisation sets in `shared/data/nen` (format: `shared/data/README.md`), shared by the
linking benchmark (gold mentions given), the end-to-end NER + linking benchmark (gold spans and ids) and the
embedder's second stage (train_embedder.py --mention-corpora: train/dev mentions paired with KB names)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import NamedTuple

from linking_vaner import expand_short_forms, find_abbreviations

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


def load_hgnc_map(path: str | Path | None) -> dict[str, str]:
    """NCBI Gene (Entrez) id -> HGNC id, from HGNC's table (columns "HGNC ID", "NCBI Gene ID..."); empty when no
    table is given or found (gene ids then have no KB counterpart)."""
    if not path or not Path(path).is_file():
        return {}
    out = {}
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        hgnc_col = header.index("HGNC ID")
        entrez_col = next(i for i, h in enumerate(header) if h.startswith("NCBI Gene ID"))
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) > entrez_col and fields[entrez_col].strip():
                out[fields[entrez_col].strip()] = fields[hgnc_col].strip()
    return out


def expand_abbreviations(nen_dir: Path, corpus: str, split: str, rows: list[GoldMention]) -> list[str]:
    """Each mention's text with the short forms defined in its document (`long form (SF)`) replaced by their long
    forms: the whole mention or words of it (`linking_vaner.expand_short_forms`)."""
    texts = read_docs(nen_dir, corpus, split)
    abbreviations = {doc: find_abbreviations(text) for doc, text in texts.items()}
    return [expand_short_forms(r.mention, abbreviations.get(r.doc, {})) for r in rows]


def train_dictionary(nen_dir: Path, corpus: str, hgnc: dict[str, str],
                     splits: tuple[str, ...] = ("train", "dev")) -> set[tuple[str, str, str]]:
    """(name, type, KB id) for every single-id gold mention of `splits` and its abbreviation-expanded form: the
    usual "training dictionary" of normalisation work. Never pass the test split.

    One id per name: annotators give the same string different ids (NCBI-disease has "hereditary breast cancer"
    both as D001943 and D061325), and two entries that embed identically tie at score 1.0, so the id given most
    often to the name (case-insensitive; ties: the smallest id) is kept, under the name's most frequent spelling."""
    if "test" in splits:
        raise ValueError(f"train_dictionary({corpus!r}): the test split must not feed a dictionary")
    votes: dict[tuple[str, str], Counter] = {}
    spellings: dict[tuple[str, str], Counter] = {}
    for split in splits:
        rows = read_gold_mentions(nen_dir, corpus, split)
        if rows is None:
            continue
        for row, long_form in zip(rows, expand_abbreviations(nen_dir, corpus, split, rows)):
            targets = kb_ids(row.ids, row.etype, hgnc)
            if len(targets) != 1:
                continue
            for name in dict.fromkeys((row.mention, long_form)):
                key = (name.lower(), row.etype)
                votes.setdefault(key, Counter())[targets[0]] += 1
                spellings.setdefault(key, Counter())[name] += 1
    entries = set()
    for key, counter in votes.items():
        best_id = min(counter, key=lambda eid: (-counter[eid], eid))
        spelling = min(spellings[key], key=lambda name: (-spellings[key][name], name))
        entries.add((spelling, key[1], best_id))
    return entries
