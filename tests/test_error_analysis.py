"""Error profile of prediction files: hand-checked counts of exact, boundary, missed and spurious spans."""

from __future__ import annotations

import pytest

from benchmarks.error_analysis import error_profile, read_predictions


def test_profile_splits_errors_into_boundary_missed_and_spurious(tmp_path):
    path = tmp_path / "NCBI-disease.validation.conll"
    rows = [
        ("breast", "B-Disease", "B-Disease"), ("cancer", "I-Disease", "O"),   # boundary: gold 2 words, predicted 1
        ("and", "O", "O"), ("DMD", "B-Disease", "B-Disease"),                 # exact
        ("in", "O", "B-Disease"), ("mice", "O", "O"), (".", "O", "O"),        # spurious "in"
        None,
        ("Wilms", "B-Disease", "O"), ("tumour", "I-Disease", "O"),             # missed outright
        ("again", "O", "O"),
    ]
    path.write_text("".join("\n" if row is None else "\t".join(row) + "\n" for row in rows) + "\n")
    sentences = read_predictions(path)
    assert [words for words, _, _ in sentences] == [["breast", "cancer", "and", "DMD", "in", "mice", "."],
                                                     ["Wilms", "tumour", "again"]]
    profile = error_profile(sentences)
    assert {k: profile[k] for k in ("exact", "gold_with_wrong_boundary", "gold_missed", "predicted_with_wrong_boundary",
                                    "predicted_spurious", "gold", "predicted")} == {
        "exact": 1, "gold_with_wrong_boundary": 1, "gold_missed": 1, "predicted_with_wrong_boundary": 1,
        "predicted_spurious": 1, "gold": 3, "predicted": 3}
    assert profile["precision"] == pytest.approx(100 / 3) and profile["recall"] == pytest.approx(100 / 3)
    assert profile["boundary_share_of_errors"] == pytest.approx(50.0)  # 2 of the 4 errors
    assert profile["most_missed"] == [("Wilms tumour", 1)] and profile["most_spurious"] == [("in", 1)]
    assert profile["overlapping_pairs"] == {"too_long": 0, "too_short": 1, "shifted": 0}
    assert profile["most_common_edge_differences"] == [("... -cancer", 1)]


def test_edges_of_overlapping_spans_say_too_long_too_short_or_shifted_and_which_words():
    words = ["male", "breast", "cancer", "with", "chronic", "pain", "and", "migraine", "with", "aura"]
    gold = [1, 2, 2, 0, 0, 1, 0, 1, 2, 2]       # male breast cancer | pain | migraine with aura
    predicted = [0, 1, 2, 2, 1, 2, 0, 1, 0, 0]  # breast cancer with | chronic pain | migraine
    profile = error_profile([(words, gold, predicted)])
    assert profile["overlapping_pairs"] == {"too_long": 1, "too_short": 1, "shifted": 1}
    assert dict(profile["most_common_edge_differences"]) == {
        "-male ...": 1, "... +with": 1, "+chronic ...": 1, "... -with aura": 1}
    assert profile["gold_with_wrong_boundary"] == 3 and profile["exact"] == 0


def test_a_malformed_line_names_the_file_and_line(tmp_path):
    path = tmp_path / "s800.test.conll"
    path.write_text("mice\tO\tO\nrats\tB-Species\n")
    with pytest.raises(SystemExit, match=r"s800.test.conll:2: expected token<TAB>gold<TAB>predicted"):
        read_predictions(path)
