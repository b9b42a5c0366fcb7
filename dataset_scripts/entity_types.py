"""The one table of entity types: the four canonical names and how corpus tags and KB types map to them.

Every corpus builder, the DBR builder and the linking index read this table; nothing else hard-codes a
mapping. A tag mapped to `None` is dropped to `O` (e.g. JNLPBA's cell_line / cell_type, as in the paper).
"""

from __future__ import annotations

from configuration_vaner import DEFAULT_ENTITY_TYPES

__all__ = ["ENTITY_TYPES", "CORPUS_TAG_TYPES", "KB_TYPES", "corpus_entity_type", "corpus_tag_type", "kb_entity_type"]

ENTITY_TYPES: list[str] = list(DEFAULT_ENTITY_TYPES)

# corpus name -> {source tag type (the suffix of B-/I- tags) -> canonical type or None}
CORPUS_TAG_TYPES: dict[str, dict[str, str | None]] = {
    "NCBI-disease": {"Disease": "Disease"},
    "BC5CDR-disease": {"Disease": "Disease"},
    "BC5CDR-chem": {"Chemical": "Chemical"},
    "BC4CHEMD": {"Chemical": "Chemical"},
    "BC2GM": {"GENE": "Gene"},
    "JNLPBA": {"protein": "Gene", "DNA": "Gene", "RNA": "Gene", "cell_line": None, "cell_type": None},
    "linnaeus": {"Species": "Species"},
    "s800": {"Species": "Species"},
    "CRAFT-species": {"NCBITaxon": "Species"},
    "CRAFT-ggp": {"GGP": "Gene"},
    "CRAFT-chem": {"CHEBI": "Chemical"},
}

# KB `type` column -> canonical type
KB_TYPES: dict[str, str] = {
    "Disease": "Disease",
    "Chemical": "Chemical",
    "Gene/Protein": "Gene",
    "Species": "Species",
}


def corpus_entity_type(corpus: str) -> str:
    """The one canonical type a corpus is tagged with (every corpus here tags exactly one)."""
    types = {t for t in _corpus_table(corpus).values() if t is not None}
    if len(types) != 1:
        raise ValueError(f"corpus {corpus!r} maps to {sorted(types)}, expected exactly one entity type")
    return types.pop()


def corpus_tag_type(corpus: str, tag_type: str) -> str | None:
    """Canonical type of a source tag type in `corpus` (None: the tag becomes O); raises on unknown tags."""
    table = _corpus_table(corpus)
    if tag_type not in table:
        raise KeyError(f"unknown tag type {tag_type!r} for corpus {corpus!r}; known: {sorted(table)}")
    return table[tag_type]


def kb_entity_type(kb_type: str) -> str:
    """Canonical type of a KB `type` value; raises on unknown values."""
    if kb_type not in KB_TYPES:
        raise KeyError(f"unknown KB type {kb_type!r}; known: {sorted(KB_TYPES)}")
    return KB_TYPES[kb_type]


def _corpus_table(corpus: str) -> dict[str, str | None]:
    if corpus not in CORPUS_TAG_TYPES:
        raise KeyError(f"unknown corpus {corpus!r}; known: {sorted(CORPUS_TAG_TYPES)}")
    return CORPUS_TAG_TYPES[corpus]
