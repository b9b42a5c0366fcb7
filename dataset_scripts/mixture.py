"""The training mixture: corpus (and DBR) sentences turned into instruction examples, one schema for all.

Instruction text comes only from `VanerConfig.render_instruction`, so training sees exactly the prompts the
pipeline will use. DBR pseudo-sentences (corpus "DBR") always get the instruction without a dataset name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from datasets import ClassLabel, Dataset, Features, List, Value, concatenate_datasets

from configuration_vaner import IOB_LABELS, VanerConfig

__all__ = [
    "DBR_CORPUS",
    "INSTRUCTION_FEATURES",
    "build_instruction_examples",
    "mixture_config_fields",
    "split_instruction_examples",
]

DBR_CORPUS = "DBR"

INSTRUCTION_FEATURES = Features(
    {
        "id": Value("string"),
        "instruction": Value("string"),
        "tokens": List(Value("string")),
        "labels": List(ClassLabel(names=list(IOB_LABELS))),
        "corpus": Value("string"),
        "entity_type": Value("string"),
    }
)


def build_instruction_examples(
    datasets: Sequence[Dataset],
    config: VanerConfig | None = None,
    *,
    use_dataset_names: bool = True,
    seed: int = 0,
    shuffle: bool = True,
    max_examples_per_corpus: int | None = None,
) -> Dataset:
    """Concatenate corpus datasets into one instruction dataset (columns of `INSTRUCTION_FEATURES`).

    Args:
        datasets: datasets with columns `tokens`, `ner_tags` (O/B/I as ClassLabel ids, ints or strings),
            `corpus`, `entity_type`, and optionally `id` (other columns are dropped).
        config: gives the instruction templates and `context_sentences`; default `VanerConfig()`. With context,
            each corpus row's instruction is preceded by the rows before it in its dataset (the corpora keep
            document order); DBR pseudo-sentences get none.
        use_dataset_names: name the corpus in the instruction (VANER's training mode); `False` is the
            "adapt" mode. DBR rows never get a dataset name.
        seed: seeds the shuffle and the `max_examples_per_corpus` sample: the same seed gives the same order.
        shuffle: shuffle the concatenation (else the inputs' order is kept).
        max_examples_per_corpus: keep at most this many rows per corpus name (a seeded random sample).

    Each output `id` is `f"{corpus}-{id}"` (or `f"{corpus}-{row}"` without an `id` column); duplicates raise.
    """
    config = config if config is not None else VanerConfig()
    parts = [
        _to_instruction_examples(dataset, config, use_dataset_names=use_dataset_names) for dataset in datasets
    ]
    if not parts:
        raise ValueError("build_instruction_examples: no datasets given")
    mixture = concatenate_datasets(parts)
    if max_examples_per_corpus is not None:
        mixture = mixture.select(_capped_rows(mixture["corpus"], max_examples_per_corpus, seed))
    _check_unique_ids(mixture["id"])
    return mixture.shuffle(seed=seed) if shuffle else mixture


def split_instruction_examples(
    split: Dataset, *, use_dataset_names: bool, max_sentences: int | None = None, config: VanerConfig | None = None
) -> Dataset:
    """One corpus split as instruction examples in corpus order (scoring, calibration, dev evaluation), cut to its
    first `max_sentences` sentences where given, so quick checks see the same sentences every time. Pass the
    model's `config` so that its instructions (and its reading context) are the ones it was trained with."""
    if max_sentences:
        split = split.select(range(min(max_sentences, len(split))))
    return build_instruction_examples([split], config, use_dataset_names=use_dataset_names, shuffle=False)


def mixture_config_fields(datasets: Sequence[Dataset], *, use_dataset_names: bool = True) -> dict[str, Any]:
    """`dataset_names` and `dataset_entity_types` for the `VanerConfig` of a model trained on this mixture.

    DBR is not a dataset name (its instructions never name it); with `use_dataset_names=False` no name is used.
    """
    types = _corpus_types(pair for dataset in datasets for pair in zip(dataset["corpus"], dataset["entity_type"]))
    if not use_dataset_names:
        types = {}
    types.pop(DBR_CORPUS, None)
    return {"dataset_names": list(types), "dataset_entity_types": types}


def _to_instruction_examples(
    dataset: Dataset, config: VanerConfig, *, use_dataset_names: bool
) -> Dataset:
    missing = {"tokens", "ner_tags", "corpus", "entity_type"} - set(dataset.column_names)
    if missing:
        raise ValueError(f"build_instruction_examples: dataset lacks columns {sorted(missing)}")
    to_ids = _label_converter(dataset.features["ner_tags"])
    has_id = "id" in dataset.column_names
    instructions: dict[tuple[str, str], str] = {}
    all_tokens = dataset["tokens"] if config.context_sentences else None

    def instruction(corpus: str, entity_type: str) -> str:
        key = (corpus, entity_type)
        if key not in instructions:
            named = use_dataset_names and corpus != DBR_CORPUS
            instructions[key] = config.render_instruction(entity_type, dataset=corpus if named else None)
        return instructions[key]

    def in_context(text: str, corpus: str, row: int) -> str:
        if all_tokens is None or corpus == DBR_CORPUS:
            return text
        return config.render_with_context(text, all_tokens[max(0, row - config.context_sentences): row])

    def convert(batch: dict[str, list], rows: list[int]) -> dict[str, list]:
        ids = batch["id"] if has_id else rows
        out_ids = [f"{corpus}-{row_id}" for corpus, row_id in zip(batch["corpus"], ids)]
        labels = [to_ids(tags) for tags in batch["ner_tags"]]
        for row_id, tokens, row_labels in zip(out_ids, batch["tokens"], labels):
            _check_labels(row_id, tokens, row_labels)
        return {
            "id": out_ids,
            "instruction": [in_context(instruction(c, t), c, row) for c, t, row in zip(batch["corpus"], batch["entity_type"], rows)],
            "tokens": batch["tokens"],
            "labels": labels,
            "corpus": batch["corpus"],
            "entity_type": batch["entity_type"],
        }

    return dataset.map(
        convert,
        batched=True,
        with_indices=True,
        remove_columns=dataset.column_names,
        features=INSTRUCTION_FEATURES,
        desc="instruction examples",
    )


def _label_converter(feature: Any) -> Callable[[list], list[int]]:
    """O/B/I ids in `IOB_LABELS` order from ClassLabel ids (any name order), plain ints or tag strings."""
    inner = getattr(feature, "feature", None)
    if isinstance(inner, ClassLabel):
        unknown = set(inner.names) - set(IOB_LABELS)
        if unknown:
            raise ValueError(f"ner_tags ClassLabel names {inner.names} are not O/B/I")
        remap = [IOB_LABELS.index(name) for name in inner.names]
        return lambda tags: [remap[tag] for tag in tags]
    if isinstance(inner, Value) and inner.dtype == "string":
        return lambda tags: [_tag_id(tag) for tag in tags]
    return lambda tags: [int(tag) for tag in tags]


def _tag_id(tag: str) -> int:
    if tag not in IOB_LABELS:
        raise ValueError(f"ner_tags value {tag!r} is not one of {IOB_LABELS}")
    return IOB_LABELS.index(tag)


def _check_labels(row_id: str, tokens: list[str], labels: list[int]) -> None:
    """Reject rows another builder got wrong (length, label range, an I that continues nothing)."""
    if len(tokens) != len(labels):
        raise ValueError(f"row {row_id}: {len(tokens)} tokens but {len(labels)} labels")
    previous = 0
    for label in labels:
        if label not in (0, 1, 2):
            raise ValueError(f"row {row_id}: label {label} is not 0/1/2 (O/B/I)")
        if label == 2 and previous == 0:
            raise ValueError(f"row {row_id}: an I label continues no mention (labels {labels})")
        previous = label


def _capped_rows(corpora: Sequence[str], cap: int, seed: int) -> list[int]:
    """Row indices keeping at most `cap` rows per corpus, a seeded sample in the original order."""
    if cap < 1:
        raise ValueError(f"max_examples_per_corpus must be positive, got {cap}")
    by_corpus: dict[str, list[int]] = {}
    for row, corpus in enumerate(corpora):
        by_corpus.setdefault(corpus, []).append(row)
    rng = np.random.default_rng(seed)
    keep = []
    for rows in by_corpus.values():
        keep.extend(rows if len(rows) <= cap else rng.choice(rows, size=cap, replace=False).tolist())
    return sorted(keep)


def _check_unique_ids(ids: Sequence[str]) -> None:
    seen: set[str] = set()
    for row_id in ids:
        if row_id in seen:
            raise ValueError(f"duplicate example id {row_id!r}: the same corpus rows were given twice?")
        seen.add(row_id)


def _corpus_types(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """corpus -> entity type, in order of first appearance; a corpus with two types is an error."""
    types: dict[str, str] = {}
    for corpus, entity_type in dict.fromkeys(pairs):
        if types.setdefault(corpus, entity_type) != entity_type:
            raise ValueError(f"corpus {corpus!r} has two entity types: {types[corpus]!r} and {entity_type!r}")
    return types
