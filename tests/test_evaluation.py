"""Entity-level scores on hand-checked examples, and windowed prediction equal to the pipeline's."""

from __future__ import annotations

import pytest
from conftest import build_tiny_model

from evaluation import entity_scores, predict_word_tags, write_conll
from pipeline_vaner import VanerTokenClassificationPipeline

O, B, I = 0, 1, 2


def test_strict_iob2_scores_hand_checked():
    gold = [[B, I, O, B], [O, B, O]]
    predicted = [[B, I, O, O], [O, B, I]]
    # gold entities: (0,0-2) (0,3) (1,1); predicted: (0,0-2) exact, (1,1-3) wrong boundary
    scores = entity_scores(gold, predicted)
    assert scores["precision"] == pytest.approx(50.0)
    assert scores["recall"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(40.0)
    assert scores["entities"] == 3
    assert entity_scores([[O, O]], [[O, O]])["f1"] == 0.0
    with pytest.raises(ValueError):
        entity_scores([[O]], [[O, O]])


def test_prediction_matches_pipeline_on_long_sentences(tiny_tokenizer):
    model = build_tiny_model(tiny_tokenizer, max_length=24, stride=4, entity_types=["Gene"])
    words = ("Mutations in the BRCA1 gene cause hereditary breast and ovarian cancer in humans and mice " * 3).split()
    instruction = model.config.render_instruction("Gene")
    [tags] = predict_word_tags(model, tiny_tokenizer, [instruction], [words], batch_size=4)
    assert len(tags) == len(words)
    pipeline_spans = VanerTokenClassificationPipeline(model=model, tokenizer=tiny_tokenizer)(" ".join(words))
    offsets, position = [], 0
    for word in words:
        offsets.append(position)
        position += len(word) + 1
    from processing_vaner import decode_spans

    expected = [(offsets[s], offsets[e - 1] + len(words[e - 1])) for s, e in decode_spans(tags)]
    assert expected, "the seeded tiny model tags some spans, so the comparison is not vacuous"
    assert [(span["start"], span["end"]) for span in pipeline_spans] == expected


def test_write_conll(tmp_path):
    path = tmp_path / "pred.conll"
    write_conll(path, [["BRCA1", "gene"]], [[B, O]], [[B, I]], "Gene")
    assert path.read_text() == "BRCA1\tB-Gene\tB-Gene\ngene\tO\tI-Gene\n\n"
