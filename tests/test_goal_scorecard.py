"""The issue-6 scorecard: verdicts and margins on hand-checked records, and clear errors on incomplete ones."""

import pytest

from benchmarks.goal_scorecard import ablation_goals, craft_goals, scorecard_table, seven_corpora_goals
from model_card import PAPER_F1

SEVEN = ["NCBI-disease", "BC5CDR-disease", "BC5CDR-chem", "BC2GM", "JNLPBA", "linnaeus", "s800"]


def scores(f1: float, alone: float | None = None) -> dict:
    entry = {"precision": f1, "recall": f1, "f1": f1, "entities": 10}
    if alone is not None:
        entry["abbreviations_within_sentence"] = {"precision": alone, "recall": alone, "f1": alone, "entities": 10}
    return entry


def main_results(f1: dict[str, float], alone: dict[str, float] | None = None) -> list[dict]:
    # one evaluate_model.py record per corpus, as the shipped test_metrics.json holds them
    return [{"dataset_names_in_instructions": True, "mean_f1": v,
             "corpora": {c: scores(v, (alone or {}).get(c))}} for c, v in f1.items()]


def by_name(goals: list[dict]) -> dict:
    return {g["goal"]: g for g in goals}


def test_the_paper_itself_meets_every_test_goal_and_one_point_less_everywhere_misses_the_mean():
    paper = {c: PAPER_F1[c] for c in SEVEN}  # mean 86.02
    goals = by_name(seven_corpora_goals(main_results(paper), "m.json"))
    assert all(g["met"] for g in goals.values())
    assert goals["mean test F1, seven corpora (as shipped)"]["margin"] == pytest.approx(0.12, abs=0.01)

    lower = by_name(seven_corpora_goals(main_results({c: v - 1 for c, v in paper.items()}), "m.json"))
    mean = lower["mean test F1, seven corpora (as shipped)"]
    assert not mean["met"] and mean["measured"] == pytest.approx(85.02, abs=0.01) and mean["margin"] == -0.88
    assert all(g["met"] for name, g in lower.items() if "within" in name)  # 1 below is inside the 3-point band


def test_a_corpus_just_over_three_points_under_fails_and_exactly_three_passes():
    f1 = {c: PAPER_F1[c] for c in SEVEN}
    f1["BC2GM"] = 80.15  # 83.47 - 3.32
    f1["s800"] = 74.06  # 77.06 - 3.00
    goals = by_name(seven_corpora_goals(main_results(f1), "m.json"))
    bc2gm = goals["BC2GM within 3 of the paper's 83.47 (as shipped)"]
    assert (bc2gm["target"], bc2gm["margin"], bc2gm["met"]) == (80.47, -0.32, False)
    assert goals["s800 within 3 of the paper's 77.06 (as shipped)"]["met"]


def test_the_sentence_alone_reading_uses_its_own_figures_where_recorded():
    f1 = {c: PAPER_F1[c] for c in SEVEN}
    alone = {"BC5CDR-chem": 89.34}  # 94.34 - 5: fails alone, the shipped reading passes
    goals = by_name(seven_corpora_goals(main_results(f1, alone), "m.json"))
    assert goals["BC5CDR-chem within 3 of the paper's 94.34 (as shipped)"]["met"]
    assert not goals["BC5CDR-chem within 3 of the paper's 94.34 (each sentence alone)"]["met"]
    assert goals["NCBI-disease within 3 of the paper's 88.03 (each sentence alone)"]["measured"] == 88.03


def test_a_corpus_missing_from_the_records_is_an_error_naming_the_file():
    f1 = {c: 90.0 for c in SEVEN if c != "JNLPBA"}
    with pytest.raises(ValueError, match=r"m\.json.*JNLPBA"):
        seven_corpora_goals(main_results(f1), "m.json")


def test_craft_goals_read_only_the_no_name_results():
    results = [
        {"dataset_names_in_instructions": True, "corpora": {"CRAFT-species": scores(99.0)}},
        {"dataset_names_in_instructions": False, "corpora": {
            "CRAFT-species": scores(84.12), "CRAFT-ggp": scores(60.0), "CRAFT-chem": scores(26.16)}},
    ]
    goals = by_name(craft_goals(results, "a.json"))
    assert goals["CRAFT-species at or above VANER_adapt"]["margin"] == -2.96
    assert goals["CRAFT-ggp at or above VANER_adapt"]["met"]
    assert not goals["CRAFT-chem at or above VANER_adapt"]["met"]
    with pytest.raises(ValueError, match="CRAFT-ggp"):
        craft_goals([results[1] | {"corpora": {"CRAFT-species": scores(1.0), "CRAFT-chem": scores(1.0)}}], "a.json")


def pair(corpus: str, comparison: str, mean: float, ahead: int = 4) -> dict:
    return {"corpus": corpus, "comparison": comparison, "difference_by_seed": {}, "mean_difference": mean,
            "a_ahead": ahead, "seeds": 4}


def test_ablation_goals_need_five_points_for_the_mask_and_any_lead_for_dbr_and_minilm():
    pairs = [pair("s800", "bidirectional vs causal (both w/o DBR)", 5.0),
             pair("s800", "DBR vs w/o DBR", 0.0, ahead=2),
             pair("s800", "VANER_single vs MiniLM", 0.01),
             pair("s800", "retrieved vs random DBR", -3.0)]  # not a goal of the issue: left out
    goals = ablation_goals(pairs, "ab.json")
    assert [(g["met"], g["seeds_ahead"]) for g in goals] == [(True, "4 of 4"), (False, "2 of 4"), (True, "4 of 4")]
    assert goals[1]["goal"] == "s800: DBR vs w/o DBR, mean A - B test F1 above 0"
    with pytest.raises(ValueError, match="VANER_single vs MiniLM"):
        ablation_goals(pairs[:2], "ab.json")


def test_the_table_marks_misses_and_signs_margins():
    table = scorecard_table([{"goal": "g", "measured": 84.54, "target": 85.9, "margin": -1.36, "met": False,
                              "source": "m.json"}]).splitlines()
    assert table[2] == "| g | 84.54 | 85.90 | -1.36 | **no** |  | `m.json` |"
    ablation = scorecard_table([{"goal": "a", "measured": 2.69, "target": 0.0, "margin": 2.69, "met": True,
                                 "seeds_ahead": "4 of 4", "source": "ab.json"}]).splitlines()
    assert ablation[2] == "| a | 2.69 | 0.00 | +2.69 | yes | 4 of 4 | `ab.json` |"
