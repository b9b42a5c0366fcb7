"""Abbreviation resolution: short forms tagged as their long forms, in the rule itself, the pipeline and
evaluate_model.py (hand-checked texts and scores)."""

from __future__ import annotations

import pytest
import torch
from conftest import build_tiny_model
from test_train import _argv, setup  # noqa: F401  (fixture)

import evaluate_model
import export_model
import train
from abbreviations_vaner import resolve_abbreviations, word_abbreviations
from configuration_vaner import VanerConfig
from pipeline_vaner import VanerTokenClassificationPipeline

O, B, I = 0, 1, 2

DEFINITION = "Pregnenolone sulfate ( PREGS ) improves memory .".split()
LATER = "Mice given PREGS or PREGSs learned faster .".split()
UNRELATED = "Mice were tested .".split()


def test_word_abbreviations_need_a_long_form_before_the_bracket():
    assert word_abbreviations(DEFINITION) == [(2, "PREGS")]
    assert word_abbreviations("Cowden disease ( CD ; MIM 158350 ) and".split()) == [(2, "CD")]
    assert word_abbreviations("rats were used ( n )".split()) == []  # one letter: no short form
    assert word_abbreviations("as shown before ( Table )".split()) == []  # no long form spells T-a-b-l-e
    assert word_abbreviations("memory ( PREGS".split()) == []  # no closing bracket


def test_a_short_form_takes_its_long_forms_tag_in_later_sentences_within_reach():
    tags = [[B, I, O, O, O, O, O, O], [O] * len(LATER), [O] * len(UNRELATED)]
    resolved = resolve_abbreviations([DEFINITION, LATER, UNRELATED], tags)
    assert resolved[0] == [B, I, O, B, O, O, O, O]
    assert resolved[1] == [O, O, B, O, B, O, O, O]  # the plural too
    assert resolve_abbreviations([DEFINITION, LATER], tags[:2], reach=0)[1] == [O] * len(LATER)
    assert resolve_abbreviations([DEFINITION, UNRELATED, LATER], [tags[0], tags[2], tags[1]], reach=1)[2] == tags[1]
    assert tags[0] == [B, I, O, O, O, O, O, O], "the input is not modified"


def test_a_short_form_of_a_non_entity_loses_one_word_spans_only():
    definition = "renal insufficiency ( RI ) was seen .".split()
    later = "RI was rare ; RI mutant cells differ .".split()
    resolved = resolve_abbreviations([definition, later], [[O, O, O, B, O, O, O, O], [B, O, O, O, B, I, I, O, O]])
    assert resolved == [[O] * 8, [O, O, O, O, B, I, I, O, O]]  # inside a longer span it stays


def test_resolve_abbreviations_rejects_misaligned_tags():
    with pytest.raises(ValueError, match="differ in shape"):
        resolve_abbreviations([DEFINITION], [[O]])


def _fake_forward(entity_tags: dict[str, list[float]]):
    """A `_forward` whose word probabilities come from the words themselves: `entity_tags[word]` or sure O."""

    def forward(self, model_inputs, forward_batch_size=32):
        probs = []
        for row in model_inputs["rows"]:
            words = model_inputs["sentences"][row.sentence][1][row.window.word_start : row.window.word_end]
            probs.append(torch.tensor([entity_tags.get(word.text, [0.9, 0.05, 0.05]) for word in words]))
        return {**model_inputs, "word_probs": probs}

    return forward


def test_pipeline_resolves_per_text_from_the_config_or_the_call(tiny_tokenizer, monkeypatch):
    model = build_tiny_model(tiny_tokenizer, entity_types=["Chemical"])
    monkeypatch.setattr(VanerTokenClassificationPipeline, "_forward",
                        _fake_forward({"Pregnenolone": [0.1, 0.8, 0.1], "sulfate": [0.1, 0.1, 0.8]}))
    ner = VanerTokenClassificationPipeline(model=model, tokenizer=tiny_tokenizer)
    text = "Pregnenolone sulfate (PREGS) improves memory. Mice given PREGS learned faster."
    assert [s["word"] for s in ner(text)] == ["Pregnenolone sulfate"]  # config default: off
    model.config.resolve_abbreviations = True
    spans = ner(text)
    assert [(s["word"], s["start"]) for s in spans] == [("Pregnenolone sulfate", 0), ("PREGS", 22), ("PREGS", 57)]
    assert all(text[s["start"] : s["end"]] == s["word"] for s in spans)
    assert spans[1]["score"] == pytest.approx(0.05)  # the model's own probability of B there
    assert [s["word"] for s in ner(text, resolve_abbreviations=False)] == ["Pregnenolone sulfate"]
    # a definition reaches only its own text
    assert [[s["word"] for s in t] for t in ner([text[:45], "Mice given PREGS."])] == [
        ["Pregnenolone sulfate", "PREGS"], []]


def _write_corpus(folder, sentences):
    folder.mkdir(parents=True)
    body = "\n\n".join("\n".join(f"{w}\t{t}" for w, t in s) for s in sentences) + "\n\n"
    for split in ("train", "dev", "test"):
        (folder / f"{split}.tsv").write_text(body)


def test_evaluate_model_scores_with_the_reach_and_keeps_the_scores_without(tiny_tokenizer, tmp_path, monkeypatch):
    gold = {"Pregnenolone": "B-Chemical", "sulfate": "I-Chemical", "PREGS": "B-Chemical"}
    _write_corpus(tmp_path / "data" / "BC5CDR-chem",
                  [[(w, gold.get(w, "O")) for w in s] for s in (DEFINITION, UNRELATED, "PREGS was given .".split())])
    model = build_tiny_model(tiny_tokenizer, entity_types=["Chemical"])
    monkeypatch.setattr(evaluate_model, "load_for_scoring", lambda path, bf16: (model, tiny_tokenizer))
    oracle = {"Pregnenolone": [0.1, 0.8, 0.1], "sulfate": [0.1, 0.1, 0.8]}  # misses every PREGS
    monkeypatch.setattr(evaluate_model, "predict_word_probabilities", lambda m, t, instructions, sentences, *a: [
        torch.tensor([oracle.get(w, [0.9, 0.05, 0.05]) for w in words]) for words in sentences])

    def run(*extra):
        argv = ["--model", "tiny", "--corpora", "BC5CDR-chem", "--data-dir", str(tmp_path / "data"), "--no-dataset-name",
                "--output-dir", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), *extra]
        return evaluate_model.main(argv)

    assert run()["corpora"]["BC5CDR-chem"]["f1"] == pytest.approx(50.0)  # 1 of 3 gold mentions, no rule
    scores = run("--abbreviation-reach", "2")
    chem = scores["corpora"]["BC5CDR-chem"]
    assert scores["abbreviation_reach"] == 2 and chem["f1"] == pytest.approx(100.0)
    assert chem["without_abbreviation_resolution"]["f1"] == pytest.approx(50.0)
    assert chem["abbreviations_within_sentence"]["f1"] == pytest.approx(80.0)  # the definition's own PREGS
    assert run("--abbreviation-reach", "1")["corpora"]["BC5CDR-chem"]["f1"] == pytest.approx(80.0)
    model.config.resolve_abbreviations = True
    assert run()["abbreviation_reach"] == 0 and run()["corpora"]["BC5CDR-chem"]["f1"] == pytest.approx(80.0)
    with pytest.raises(SystemExit, match="--abbreviation-reach -1"):
        run("--abbreviation-reach", "-1")


def test_ship_sets_the_switch_ships_the_rule_and_the_card_says_so(setup):  # noqa: F811
    tmp_path, data_dir = setup
    train.main(_argv(tmp_path, data_dir, "run", "--max-steps", "1"))
    backbone = str(tmp_path / "backbone")
    shipped = export_model.ship(tmp_path / "run", tmp_path / "shipped", backbone=backbone, resolve_abbreviations=True)
    assert VanerConfig.from_pretrained(shipped).resolve_abbreviations
    assert (shipped / "abbreviations_vaner.py").is_file(), "the pipeline imports it on the Hub"
    assert "is tagged as its long form is" in (shipped / "README.md").read_text()
    plain = export_model.ship(tmp_path / "run", tmp_path / "plain", backbone=backbone)  # as the run's config: off
    assert not VanerConfig.from_pretrained(plain).resolve_abbreviations
    assert "`resolve_abbreviations` off" in (plain / "README.md").read_text()
