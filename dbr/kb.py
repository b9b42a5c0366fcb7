"""The entity-name knowledge base: read the TSV(.gz), map KB types to the canonical ones, optionally cap it.

Names are kept once per exact string (the same name often comes from several sources and ids), with a bit mask
of the canonical types it carries, so that retrieval embeds every distinct string once and assembly can check
"this name is (not) of type T" in O(1).
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm.auto import tqdm

from dataset_scripts.entity_types import ENTITY_TYPES, kb_entity_type

__all__ = ["KB_COLUMNS", "KBRow", "KnowledgeBase", "read_kb_rows", "load_kb", "type_bit"]

KB_COLUMNS = ("name", "type", "source", "id")


@dataclass(frozen=True)
class KBRow:
    name: str
    entity_type: str  # canonical
    kb_id: str


def type_bit(entity_type: str) -> int:
    """Bit of a canonical type in `KnowledgeBase.type_mask`."""
    return 1 << ENTITY_TYPES.index(entity_type)


@dataclass
class KnowledgeBase:
    """Distinct names, their canonical types (bit mask) and the first KB id of each (name, type)."""

    names: list[str]
    type_mask: np.ndarray  # uint8, one bit per ENTITY_TYPES index
    first_ids: np.ndarray  # object array (len(names), len(ENTITY_TYPES)); None where the name lacks the type
    source: str

    def __len__(self) -> int:
        return len(self.names)

    def has_type(self, index: np.ndarray | int, entity_type: str) -> np.ndarray | bool:
        return (self.type_mask[index] & type_bit(entity_type)) != 0

    def indices_of_type(self, entity_type: str) -> np.ndarray:
        return np.flatnonzero(self.type_mask & type_bit(entity_type))

    def indices_without_type(self, entity_type: str) -> np.ndarray:
        return np.flatnonzero((self.type_mask & type_bit(entity_type)) == 0)

    def kb_id(self, index: int, entity_type: str | None = None) -> str:
        """The id of name `index` for `entity_type` (or for its first type when None)."""
        row = self.first_ids[index]
        if entity_type is not None:
            return row[ENTITY_TYPES.index(entity_type)]
        return next(i for i in row if i is not None)

    def fingerprint(self) -> str:
        """Content hash of the name list: the part of every cache key that identifies the (capped) KB."""
        digest = hashlib.sha1()
        for name in self.names:
            digest.update(name.encode("utf-8"))
            digest.update(b"\n")
        return digest.hexdigest()[:16]


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line without its newline), decoded one line at a time so that a bad byte or a damaged gzip
    stream (an interrupted download) is reported with the file and line instead of a bare codec/zlib error."""
    line_no = 0
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as handle:
            for line_no, raw in enumerate(handle, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise ValueError(f"{path}:{line_no}: not UTF-8 ({error.reason} at byte {error.start})") from None
                yield line_no, line.rstrip("\n")
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        message = f"not a complete gzip file, read up to line {line_no} ({error}); fetch it again"
        raise ValueError(f"{path}: {message}") from None


def read_kb_rows(path: str | Path) -> Iterator[KBRow]:
    """Yield the rows of a KB TSV (header `name, type, source, id` in any order); raise naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"KB file not found: {path}")
    lines = _numbered_lines(path)
    header = next(lines, (1, ""))[1].split("\t")
    missing = [c for c in KB_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{path}:1: KB header {header} lacks column(s) {missing}; expected {list(KB_COLUMNS)}")
    name_col, type_col, id_col = (header.index(c) for c in ("name", "type", "id"))
    for line_no, line in lines:
        fields = line.split("\t")
        if len(fields) != len(header):
            raise ValueError(f"{path}:{line_no}: expected {len(header)} tab-separated fields, got {len(fields)}")
        name = fields[name_col].strip()
        if not name:
            raise ValueError(f"{path}:{line_no}: empty entity name")
        try:
            entity_type = kb_entity_type(fields[type_col])
        except KeyError as error:
            raise ValueError(f"{path}:{line_no}: {error.args[0]}") from None
        yield KBRow(name, entity_type, fields[id_col])


def _cap_per_type(rows: list[KBRow], limit: int, seed: int) -> list[KBRow]:
    """Every row of `limit` names drawn (with `seed`) per canonical type, file order kept.

    Names are drawn, not rows: a name keeps all its types (and its case variants theirs), so a two-type name such
    as insulin (Chemical, Gene) can never look like one type only and be used as a negative of the other. A type
    can therefore hold a few more than `limit` names: those drawn for another type that also carry it."""
    rng = np.random.default_rng(seed)
    kept: set[str] = set()
    for entity_type in ENTITY_TYPES:
        keys = list(dict.fromkeys(row.name.casefold() for row in rows if row.entity_type == entity_type))
        if len(keys) > limit:
            keys = [keys[i] for i in sorted(rng.choice(len(keys), size=limit, replace=False).tolist())]
        kept.update(keys)
    return [row for row in rows if row.name.casefold() in kept]


def _merge_case_variants(names: list[str], masks: list[int], ids: list[list[str | None]]) -> None:
    """Give names that differ only in case the union of their types (and a type's first id where one lacks it).

    The KB lists e.g. `Acrodermatitis enteropathica` as Chemical and Disease but `acrodermatitis enteropathica` as
    Disease only; both are retrieved together (a lower-casing embedder gives them one vector), and a Chemical dense
    sentence would tag one and use the other as a negative. Mutates `masks` and `ids` in place."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(name.casefold(), []).append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        mask = 0
        first: list[str | None] = [None] * len(ENTITY_TYPES)
        for i in members:
            mask |= masks[i]
            first = [kept if kept is not None else own for kept, own in zip(first, ids[i])]
        for i in members:
            masks[i] = mask
            ids[i] = [own if own is not None else kept for own, kept in zip(ids[i], first)]


def load_kb(path: str | Path, limit: int | None = None, seed: int = 0) -> KnowledgeBase:
    """Load the KB; with `limit`, a seeded sample of `limit` names per canonical type (`_cap_per_type`) for quick
    runs. Names differing only in case share their types (`_merge_case_variants`)."""
    if limit is not None and limit < 1:
        raise ValueError(f"--kb-limit must be a positive number of rows per type, got {limit}")
    rows = list(tqdm(read_kb_rows(path), desc="Reading KB", unit=" rows", mininterval=2))
    if limit is not None:
        rows = _cap_per_type(rows, limit, seed)
    index: dict[str, int] = {}
    masks: list[int] = []
    ids: list[list[str | None]] = []
    for row in rows:
        i = index.setdefault(row.name, len(index))
        if i == len(masks):
            masks.append(0)
            ids.append([None] * len(ENTITY_TYPES))
        masks[i] |= type_bit(row.entity_type)
        slot = ENTITY_TYPES.index(row.entity_type)
        if ids[i][slot] is None:
            ids[i][slot] = row.kb_id
    _merge_case_variants(list(index), masks, ids)
    first_ids = np.array(ids, dtype=object) if ids else np.empty((0, len(ENTITY_TYPES)), dtype=object)
    return KnowledgeBase(list(index), np.asarray(masks, dtype=np.uint8), first_ids, str(path))
