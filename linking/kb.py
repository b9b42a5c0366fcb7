"""The open entity KB (`name<TAB>type<TAB>source<TAB>id`, gzip'd or plain TSV) as numpy columns, for linking.

Used by embedder training, the linking index and the linking benchmark. KB types are mapped to the canonical
entity types by `dbr.kb.read_kb_rows` (through `dataset_scripts.entity_types.kb_entity_type`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dbr.kb import read_kb_rows

__all__ = ["KB", "load_kb", "DEFAULT_KB_PATH"]

DEFAULT_KB_PATH = Path(__file__).resolve().parents[2] / "shared" / "data" / "kb" / "biomed_entity_kb.tsv.gz"


@dataclass
class KB:
    names: np.ndarray  # object array of str
    types: np.ndarray  # object array of canonical type names (Disease/Chemical/Gene/Species)
    ids: np.ndarray  # object array of str, e.g. "MESH:D003920"

    def __len__(self) -> int:
        return len(self.names)

    def synonym_groups(self) -> dict[tuple[str, str], np.ndarray]:
        """(canonical type, id) -> row indices of that concept's names."""
        key = np.char.add(np.char.add(self.types.astype(str), "\t"), self.ids.astype(str))
        order = np.argsort(key, kind="stable")
        sorted_keys = key[order]
        cuts = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
        groups = {}
        for chunk in np.split(order, cuts):
            t, i = str(key[chunk[0]]).split("\t", 1)
            groups[(t, i)] = chunk
        return groups


def load_kb(path: str | Path = DEFAULT_KB_PATH, types: list[str] | None = None) -> KB:
    """Every KB row (file order) as columns; `types` (canonical names) keeps only those types.

    Parsing and type mapping are `dbr.kb.read_kb_rows` (the one KB reader); this keeps every (name, id) row,
    which linking needs, where `dbr.kb.load_kb` keeps one id per distinct name.
    """
    names, ktypes, ids = [], [], []
    for row in read_kb_rows(path):
        if types is not None and row.entity_type not in types:
            continue
        names.append(row.name)
        ktypes.append(row.entity_type)
        ids.append(row.kb_id)
    return KB(names=np.array(names, dtype=object), types=np.array(ktypes, dtype=object), ids=np.array(ids, dtype=object))
