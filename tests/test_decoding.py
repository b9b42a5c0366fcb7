"""Viterbi decoding: hand-checked sequences, optimality against brute force, the config switch, and the pipeline,
evaluation, calibration and ship honouring it."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch
from conftest import build_tiny_model
from test_train import _argv, setup  # noqa: F401  (fixture)

import calibrate_o_bias
import evaluate_model
import export_model
import train
from configuration_vaner import VanerConfig
from evaluation import predict_word_probabilities, tags_from_probabilities
from pipeline_vaner import VanerTokenClassificationPipeline, tag_words
from processing_vaner import decode_spans, repair_tags, split_words, viterbi_tags

O, B, I = 0, 1, 2


def _log(rows):
    return [[math.log(p) for p in row] for row in rows]


def _valid(tags):
    return all(tag != I or (index > 0 and tags[index - 1] != O) for index, tag in enumerate(tags))


def test_viterbi_hand_checked():
    # word 0 leans O (0.6) but word 1 is a sure I (0.8): O,I is invalid, and B,I (0.1 * 0.8 = 0.08) beats O,O and
    # O,B (0.6 * 0.1 = 0.06); argmax + repair would keep only word 1 as the entity
    probs = [[0.6, 0.1, 0.3], [0.1, 0.1, 0.8]]
    assert viterbi_tags(_log(probs)) == [B, I]
    assert repair_tags(tag_words(torch.tensor(probs))[0]) == [O, B]
    # a lone sure I cannot start the sentence: B and O tie at 0.1, and ties prefer O
    assert viterbi_tags(_log([[0.1, 0.1, 0.8]])) == [O]
    assert viterbi_tags(_log([[0.1, 0.2, 0.7]])) == [B]
    # B then B is two entities, and stays so
    assert viterbi_tags(_log([[0.1, 0.8, 0.1], [0.1, 0.6, 0.3]])) == [B, B]
    assert viterbi_tags([]) == []


def test_viterbi_is_the_best_valid_sequence_and_agrees_with_argmax_when_that_is_valid():
    generator = torch.Generator().manual_seed(0)
    agreements = 0
    for _ in range(200):
        length = int(torch.randint(1, 6, (1,), generator=generator))
        scores = torch.randn(length, 3, generator=generator).log_softmax(-1).tolist()
        tags = viterbi_tags(scores)
        best = max((sum(scores[i][t] for i, t in enumerate(seq)), seq)
                   for seq in itertools.product((O, B, I), repeat=length) if _valid(seq))
        assert _valid(tags)
        assert sum(scores[i][t] for i, t in enumerate(tags)) == pytest.approx(best[0])
        argmax = [max((O, B, I), key=row.__getitem__) for row in scores]
        if _valid(argmax):
            agreements += 1
            assert tags == argmax
    assert 20 < agreements < 200  # both cases were exercised


def test_tag_words_viterbi_with_bias_and_confidence():
    probs = torch.tensor([[0.6, 0.1, 0.3], [0.1, 0.1, 0.8], [0.7, 0.2, 0.1]])
    tags, confidence = tag_words(probs, decoding="viterbi")
    assert tags == [B, I, O]
    assert confidence.tolist() == pytest.approx([0.1, 0.8, 0.7])  # the probability of the chosen tag
    assert tag_words(probs, 50.0, "viterbi")[0] == [O, O, O]
    assert tags_from_probabilities([probs], 0.0, "viterbi") == [[B, I, O]]
    assert tags_from_probabilities([probs], 0.0) == [[O, B, O]]
    with pytest.raises(ValueError, match="decoding 'beam'"):
        tag_words(probs, decoding="beam")


def test_config_decoding_round_trip_and_validation(tmp_path):
    assert VanerConfig().decoding == "argmax"  # what every model calibrated before the switch was decoded with
    config = VanerConfig(backbone_config={"model_type": "llama"}, decoding="viterbi")
    config.save_pretrained(tmp_path)
    assert VanerConfig.from_pretrained(tmp_path).decoding == "viterbi"
    config.set_o_bias({"Disease": 0.5}, True, "argmax")
    assert config.decoding == "argmax" and config.o_bias == {"Disease": 0.5}
    with pytest.raises(ValueError, match="decoding"):
        VanerConfig(decoding="greedy")


def test_pipeline_decodes_with_config_decoding(tiny_tokenizer):
    model = build_tiny_model(tiny_tokenizer, entity_types=["Disease"])
    ner = VanerTokenClassificationPipeline(model=model, tokenizer=tiny_tokenizer)
    text = "Mutations in the BRCA1 gene cause hereditary breast and ovarian cancer in humans and mice."
    words = split_words(text)
    instruction = model.config.render_instruction("Disease")
    [probs] = predict_word_probabilities(model, tiny_tokenizer, [instruction], [[w.text for w in words]])
    decoded = {}
    for decoding in ("argmax", "viterbi"):
        model.config.decoding = decoding
        decoded[decoding] = decode_spans(tag_words(probs, 0.0, decoding)[0])
        assert [(s["start"], s["end"]) for s in ner(text)] == [
            (words[first].start, words[last - 1].end) for first, last in decoded[decoding]]
    assert decoded["argmax"] != decoded["viterbi"], "the seeded tiny model decodes differently under the two"


def test_calibration_evaluation_and_ship_carry_the_decoding(setup):  # noqa: F811
    tmp_path, data_dir = setup
    final = train.main(_argv(tmp_path, data_dir, "run", "--max-steps", "2"))
    results = tmp_path / "viterbi.json"
    record = calibrate_o_bias.main(["--model", str(final), "--data-dir", str(data_dir), "--grid=0:1:0.5",
                                    "--decoding", "viterbi", "--results", str(results), "--write-config", str(final)])
    assert record["decoding"] == "viterbi"
    written = VanerConfig.from_pretrained(final)
    assert written.decoding == "viterbi" and written.o_bias == record["o_bias"]
    scores = evaluate_model.main(["--model", str(final), "--corpora", "NCBI-disease", "--data-dir", str(data_dir),
                                  "--o-bias", str(results), "--split", "validation", "--output-dir", str(tmp_path / "dev")])
    assert scores["decoding"] == "viterbi"
    assert scores["corpora"]["NCBI-disease"]["f1"] == pytest.approx(record["corpora"]["NCBI-disease"]["chosen"]["f1"])
    shipped = export_model.ship(tmp_path / "run", tmp_path / "shipped", backbone=str(tmp_path / "backbone"),
                                calibration=results)
    assert VanerConfig.from_pretrained(shipped).decoding == "viterbi"
    assert "Viterbi: the best IOB2-valid tag sequence" in (shipped / "README.md").read_text()
    argmax = tmp_path / "argmax_unnamed.json"
    argmax.write_text(json.dumps({**record, "decoding": "argmax", "dataset_names_in_instructions": False}))
    with pytest.raises(ValueError, match="different decodings"):
        export_model.ship(tmp_path / "run", tmp_path / "mixed", backbone=str(tmp_path / "backbone"),
                          calibration=[results, argmax])
