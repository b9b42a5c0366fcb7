"""Entity-level precision/recall/F1 on word tags, with long sentences windowed exactly as the pipeline does.

Scores use seqeval in strict IOB2 mode: the computation behind `evaluate.load("seqeval")` with
`mode="strict", scheme="IOB2"`; seqeval is called directly because `evaluate` fetches its metric scripts from
the Hub, which is not reachable offline. Predicted tags go through the pipeline's own repair (an orphan I
starts an entity), so the score is that of the spans a user would see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.scheme import IOB2
from tqdm.auto import tqdm

from pipeline_vaner import tag_words, word_probabilities
from processing_vaner import encode_windows, merge_windows, repair_tags

__all__ = [
    "predict_word_probabilities",
    "tags_from_probabilities",
    "predict_word_tags",
    "entity_scores",
    "example_biases",
    "model_decoding",
    "evaluate_examples",
    "write_conll",
]

_TAG_NAMES = ["O", "B-ENT", "I-ENT"]


def predict_word_probabilities(
    model,
    tokenizer,
    instructions: Sequence[str],
    sentences: Sequence[Sequence[str]],
    batch_size: int = 32,
    progress: str | None = None,
    max_length: int | None = None,
    stride: int | None = None,
) -> list[torch.Tensor]:
    """(words, 3) O/B/I probabilities of every sentence, windows stitched back; nothing is truncated.

    Windows follow `model.config.max_length` / `stride` unless given (a non-VANER token classifier).
    """
    max_length = model.config.max_length if max_length is None else max_length
    stride = model.config.stride if stride is None else stride
    windows, owners = [], []
    for index, (instruction, words) in enumerate(zip(instructions, sentences)):
        for window in encode_windows(tokenizer, instruction, list(words), None, max_length, stride):
            windows.append(window)
            owners.append(index)
    device = next(model.parameters()).device
    probabilities = []
    chunk = batch_size * 16  # progress granularity
    for start in tqdm(range(0, len(windows), chunk), desc=progress or "predict", disable=progress is None):
        probabilities += word_probabilities(model, windows[start : start + chunk], tokenizer.pad_token_id, batch_size, device)
    grouped: list[list[tuple[tuple[int, int], torch.Tensor]]] = [[] for _ in sentences]
    for owner, window, probs in zip(owners, windows, probabilities):
        grouped[owner].append(((window.word_start, window.word_end), probs))
    return [
        torch.stack(merge_windows(len(words), [span for span, _ in parts], [probs for _, probs in parts]))
        for words, parts in zip(sentences, grouped)
    ]


def tags_from_probabilities(
    probabilities: Sequence[torch.Tensor], o_bias: float | Sequence[float] = 0.0, decoding: str = "argmax"
) -> list[list[int]]:
    """Repaired O/B/I tags of each sentence, decoded as the pipeline does (`o_bias`: one, or one per sentence;
    `decoding`: `config.decoding`)."""
    biases = [o_bias] * len(probabilities) if isinstance(o_bias, (int, float)) else list(o_bias)
    return [repair_tags(tag_words(probs, bias, decoding)[0]) for probs, bias in zip(probabilities, biases)]


def predict_word_tags(
    model,
    tokenizer,
    instructions: Sequence[str],
    sentences: Sequence[Sequence[str]],
    batch_size: int = 32,
    progress: str | None = None,
    max_length: int | None = None,
    stride: int | None = None,
    o_bias: float | Sequence[float] = 0.0,
    decoding: str = "argmax",
) -> list[list[int]]:
    """O/B/I tags (0/1/2, repaired) for every word of every sentence; see `predict_word_probabilities`."""
    probabilities = predict_word_probabilities(model, tokenizer, instructions, sentences, batch_size, progress, max_length, stride)
    return tags_from_probabilities(probabilities, o_bias, decoding)


def entity_scores(gold: Sequence[Sequence[int]], predicted: Sequence[Sequence[int]]) -> dict[str, float]:
    """Strict IOB2 entity-level precision, recall and F1 (in %), and the number of gold entities."""
    if len(gold) != len(predicted) or any(len(g) != len(p) for g, p in zip(gold, predicted)):
        raise ValueError("gold and predicted tag sequences differ in shape")
    y_true = [[_TAG_NAMES[t] for t in tags] for tags in gold]
    y_pred = [[_TAG_NAMES[t] for t in tags] for tags in predicted]
    kwargs = dict(mode="strict", scheme=IOB2, zero_division=0)
    support = sum(t == 1 for tags in gold for t in tags)
    return {
        "precision": 100 * precision_score(y_true, y_pred, **kwargs),
        "recall": 100 * recall_score(y_true, y_pred, **kwargs),
        "f1": 100 * f1_score(y_true, y_pred, **kwargs),
        "entities": support,
    }


def example_biases(model, examples, with_dataset_name: bool = True) -> list[float]:
    """The model's O bias for each example's entity type and instruction mode (0 where none is set)."""
    config = model.config
    if not hasattr(config, "bias_for"):  # a plain token classifier (baselines)
        return [0.0] * len(examples["entity_type"])
    return [config.bias_for(entity_type, with_dataset_name) for entity_type in examples["entity_type"]]


def model_decoding(model) -> str:
    """The model's `config.decoding` (`"argmax"` for a plain token classifier, which has none)."""
    return getattr(model.config, "decoding", "argmax")


def evaluate_examples(model, tokenizer, examples, batch_size: int = 32, progress: str | None = None) -> tuple[dict, list]:
    """Scores and predicted tags for instruction-ready examples (columns instruction, entity_type, tokens, labels),
    decoded with the model's `config.o_bias` and `config.decoding` (training's dev scoring, before any calibration)."""
    predicted = predict_word_tags(model, tokenizer, examples["instruction"], examples["tokens"], batch_size, progress,
                                  o_bias=example_biases(model, examples), decoding=model_decoding(model))
    return entity_scores(examples["labels"], predicted), predicted


def write_conll(path: str | Path, sentences: Sequence[Sequence[str]], gold, predicted, entity_type: str) -> None:
    """CoNLL predictions: `token<TAB>gold<TAB>predicted` per line, typed IOB2 tags, a blank line per sentence."""
    names = ["O", f"B-{entity_type}", f"I-{entity_type}"]
    with open(path, "w", encoding="utf-8") as handle:
        for words, gold_tags, predicted_tags in zip(sentences, gold, predicted):
            for word, g, p in zip(words, gold_tags, predicted_tags):
                handle.write(f"{word}\t{names[g]}\t{names[p]}\n")
            handle.write("\n")
