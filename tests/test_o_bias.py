"""The O bias: hand-checked decoding, config validation, the pipeline and evaluation honouring it, the dev sweep."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from conftest import build_tiny_model
from test_train import _argv, setup  # noqa: F401  (fixture)

import calibrate_o_bias
import evaluate_model
import export_model
import train
from configuration_vaner import VanerConfig
from evaluation import predict_word_probabilities, predict_word_tags, tags_from_probabilities
from pipeline_vaner import VanerTokenClassificationPipeline, tag_words

O, B, I = 0, 1, 2


def test_tag_words_hand_checked():
    probs = torch.tensor([[0.4, 0.5, 0.1], [0.6, 0.1, 0.3], [0.3, 0.1, 0.6]])
    assert tag_words(probs)[0] == [B, O, I]
    # log 0.4 + log 2 = log 0.8 > log 0.5: word 0 turns O; word 2 needs more than log 2 (0.3 * 2 = 0.6, a tie)
    tags, confidence = tag_words(probs, math.log(2) + 1e-6)
    assert tags == [O, O, O]
    assert confidence.tolist() == pytest.approx([0.4, 0.6, 0.3])  # the probability of the chosen tag, unbiased
    assert tag_words(probs, -10.0)[0] == [B, I, I]  # O ruled out: the larger of B and I
    assert tags_from_probabilities([probs, probs], [0.0, -10.0]) == [[B, O, B], [B, I, I]]  # orphan I repaired


def test_config_keeps_o_bias_and_rejects_unknown_types(tmp_path):
    config = VanerConfig(backbone_config={"model_type": "llama"}, entity_types=["Disease", "Gene"], o_bias={"Gene": 0.5})
    config.save_pretrained(tmp_path)
    assert VanerConfig.from_pretrained(tmp_path).o_bias == {"Gene": 0.5}
    assert VanerConfig().o_bias == {}
    with pytest.raises(ValueError, match="o_bias"):
        VanerConfig(entity_types=["Disease"], o_bias={"Species": 1.0})


def test_pipeline_and_evaluation_decode_with_the_bias(tiny_tokenizer):
    model = build_tiny_model(tiny_tokenizer, entity_types=["Disease", "Gene"])
    ner = VanerTokenClassificationPipeline(model=model, tokenizer=tiny_tokenizer)
    text = "Mutations in the BRCA1 gene cause hereditary breast and ovarian cancer in humans and mice."
    plain = ner(text)
    assert {s["entity_group"] for s in plain} == {"Disease", "Gene"}, "the seeded tiny model tags both types"
    model.config.o_bias = {"Gene": 50.0}
    biased = ner(text)
    assert [s for s in biased if s["entity_group"] == "Disease"] == [s for s in plain if s["entity_group"] == "Disease"]
    assert not [s for s in biased if s["entity_group"] == "Gene"]
    words = text.split()
    instruction = model.config.render_instruction("Gene")
    [probs] = predict_word_probabilities(model, tiny_tokenizer, [instruction], [words])
    assert probs.shape == (len(words), 3)
    assert predict_word_tags(model, tiny_tokenizer, [instruction], [words], o_bias=50.0) == [[O] * len(words)]


def test_choose_bias_and_grid():
    curve = {-0.5: {"a": 70.0, "b": 60.0}, 0.0: {"a": 66.0, "b": 64.0}, 0.5: {"a": 64.0, "b": 72.0}}
    assert calibrate_o_bias.choose_bias(curve) == 0.5  # means 65, 65, 68
    tie = {-0.5: {"a": 66.0}, 0.25: {"a": 66.0}, 1.0: {"a": 66.0}}
    assert calibrate_o_bias.choose_bias(tie) == 0.25  # equal F1: the smallest change wins
    assert calibrate_o_bias.bias_grid("0.5:1:0.25") == [0.0, 0.5, 0.75, 1.0]
    with pytest.raises(SystemExit, match="--grid"):
        calibrate_o_bias.bias_grid("1:0:0.5")


def test_calibration_feeds_config_evaluation_and_ship(setup):  # noqa: F811
    tmp_path, data_dir = setup
    final = train.main(_argv(tmp_path, data_dir, "run", "--max-steps", "2"))
    results = tmp_path / "o_bias.json"
    record = calibrate_o_bias.main(["--model", str(final), "--data-dir", str(data_dir), "--grid=-1:2:0.5",
                                    "--results", str(results), "--write-config", str(final)])
    assert set(record["o_bias"]) == {"Disease"} and record["o_bias"]["Disease"] in record["grid"]
    assert record["mean_dev_f1_chosen"] >= record["mean_dev_f1_bias_0"]
    assert set(record["curves_f1"]["Disease"]) == {str(b) for b in [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]}
    assert VanerConfig.from_pretrained(final).o_bias == record["o_bias"]
    (tmp_path / "no-corpora").mkdir()  # the model's own corpora are the default: their files are checked up front
    with pytest.raises(SystemExit, match=r"--corpora \(default: .*\) NCBI-disease with --data-dir .*no-corpora"):
        calibrate_o_bias.main(["--model", str(final), "--data-dir", str(tmp_path / "no-corpora"),
                               "--results", str(tmp_path / "never.json")])
    assert not (tmp_path / "never.json").exists()
    forced = tmp_path / "forced.json"
    forced.write_text(json.dumps({**record, "o_bias": {"Disease": 0.75}}))
    scores = evaluate_model.main(["--model", str(final), "--corpora", "NCBI-disease", "--data-dir", str(data_dir),
                                  "--o-bias", str(forced), "--output-dir", str(tmp_path / "test")])
    assert scores["o_bias"] == {"Disease": 0.75}
    assert {"precision", "recall", "f1"} <= set(scores["corpora"]["NCBI-disease"]["without_o_bias"])
    shipped = export_model.ship(tmp_path / "run", tmp_path / "shipped", backbone=str(tmp_path / "backbone"),
                                calibration=forced)
    assert VanerConfig.from_pretrained(shipped).o_bias == {"Disease": 0.75}
    assert "Disease +0.75 on the O log-probability" in (shipped / "README.md").read_text()
    unnamed = tmp_path / "o_bias_unnamed.json"
    calibrate_o_bias.main(["--model", str(final), "--data-dir", str(data_dir), "--grid=0:0.5:0.5", "--no-dataset-name",
                           "--results", str(unnamed), "--write-config", str(final)])
    written = VanerConfig.from_pretrained(final)
    assert written.o_bias == record["o_bias"] and set(written.o_bias_no_dataset) == {"Disease"}  # each mode its own
    with pytest.raises(SystemExit, match="without dataset names"):  # a bias is used only in the mode it was chosen in
        evaluate_model.main(["--model", str(final), "--corpora", "NCBI-disease", "--data-dir", str(data_dir),
                             "--o-bias", str(unnamed), "--output-dir", str(tmp_path / "mismatch")])
    both = export_model.ship(tmp_path / "run", tmp_path / "both", backbone=str(tmp_path / "backbone"),
                             calibration=[forced, unnamed])
    config = VanerConfig.from_pretrained(both)
    assert config.o_bias == {"Disease": 0.75} and config.o_bias_no_dataset == json.loads(unnamed.read_text())["o_bias"]
    assert "`o_bias_no_dataset`, the pipeline's default) | Disease" in (both / "README.md").read_text()
    with pytest.raises(ValueError, match="second calibration"):
        export_model.ship(tmp_path / "run", tmp_path / "twice", backbone=str(tmp_path / "backbone"),
                          calibration=[forced, forced])
    metrics = tmp_path / "test" / "metrics.test.json"  # has an o_bias, but is an evaluation, not a calibration
    with pytest.raises(ValueError, match="--calibration .*metrics.test.json: not a calibrate_o_bias.py results file"):
        export_model.ship(tmp_path / "run", tmp_path / "metrics", backbone=str(tmp_path / "backbone"),
                          calibration=metrics)
    assert not list(tmp_path.glob("*metrics*"))  # neither the folder nor a staging copy beside it


def test_the_abbreviation_rule_is_scored_with_every_bias_and_without_it(setup, monkeypatch):  # noqa: F811
    tmp_path, data_dir = setup
    final = train.main(_argv(tmp_path, data_dir, "run", "--max-steps", "2"))
    reaches: list = []

    def spy(tokens, tags, reach):  # the rule itself is tested in test_abbreviations.py
        reaches.append(reach)
        return tags

    monkeypatch.setattr(evaluate_model, "resolve_abbreviations", spy)  # calibrate_o_bias decodes through evaluate_model
    record = calibrate_o_bias.main(["--model", str(final), "--data-dir", str(data_dir), "--grid=0:0.5:0.5",
                                    "--abbreviation-reach", "2", "--results", str(tmp_path / "o_bias.json")])
    assert record["abbreviation_reach"] == 2 and reaches == [2] * (2 + 2)  # each bias of the grid, then 0 and chosen
    forced = tmp_path / "forced.json"
    forced.write_text(json.dumps({**record, "o_bias": {"Disease": 0.75}}))
    reaches.clear()
    scores = evaluate_model.main(["--model", str(final), "--corpora", "NCBI-disease", "--data-dir", str(data_dir),
                                  "--o-bias", str(forced), "--abbreviation-reach", "0",
                                  "--output-dir", str(tmp_path / "test")])
    assert reaches == [0, 0]  # the biased tags and, for without_o_bias, the unbiased ones: only the bias differs
    assert scores["max_sentences"] is None
    shutil.copytree(data_dir / "NCBI-disease", data_dir / "BC2GM")
    with pytest.raises(SystemExit, match=r"--corpora \['BC2GM'\]: not among the model's dataset names"):
        calibrate_o_bias.main(["--model", str(final), "--data-dir", str(data_dir), "--corpora", "BC2GM",
                               "--results", str(tmp_path / "never.json")])
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({**scores, "max_sentences": 200}))
    dev = tmp_path / "dev.json"
    dev.write_text(json.dumps({**scores, "split": "validation"}))
    for path, message in [(partial, "only the first 200 sentences"), (dev, "scores the validation split, not test")]:
        with pytest.raises(ValueError, match=message):
            export_model.ship(tmp_path / "run", tmp_path / "shipped", backbone=str(tmp_path / "backbone"),
                              test_metrics=[path])
