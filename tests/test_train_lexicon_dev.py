"""The train-lexicon probe: counts, boundary repair and phrase adding, checked by hand."""

from benchmarks.train_lexicon_dev import TrainLexicon, add_reliable_phrases, apply_arm, repair_boundaries

O, B, I = 0, 1, 2

TRAIN = [
    (["male", "breast", "cancer", "risk"], [B, I, I, O]),
    (["male", "breast", "cancer", "."], [B, I, I, O]),
    (["breast", "cancer", "in", "men"], [O, O, O, O]),
    (["asthma", "and", "asthma"], [B, O, B]),
    (["asthma", "again"], [B, O]),
]


def test_counts_are_annotations_and_occurrences_of_annotated_phrases_only():
    lexicon = TrainLexicon.from_sentences(TRAIN)
    assert lexicon.annotated[("male", "breast", "cancer")] == 2
    assert lexicon.occurs[("male", "breast", "cancer")] == 2
    assert lexicon.annotated[("asthma",)] == 3 and lexicon.ratio(("asthma",)) == 1.0
    assert ("breast", "cancer") not in lexicon.annotated and lexicon.ratio(("breast", "cancer")) == 0.0
    assert lexicon.reliable == [("asthma",)]  # male breast cancer has only 2 annotations


def test_an_unsupported_span_moves_to_the_known_phrase_and_a_supported_one_stays():
    lexicon = TrainLexicon.from_sentences(TRAIN)
    words = ["a", "male", "breast", "cancer", "and", "asthma"]
    assert repair_boundaries(words, [O, O, B, I, O, B], lexicon) == [O, B, I, I, O, B]
    assert repair_boundaries(words, [O, B, I, I, O, B], lexicon) == [O, B, I, I, O, B]
    # a candidate may not run into the next predicted span
    assert repair_boundaries(["male", "breast", "cancer"], [B, B, I], lexicon) == [B, B, I]


def test_reliable_phrases_are_added_only_over_untagged_words():
    lexicon = TrainLexicon.from_sentences(TRAIN)
    assert add_reliable_phrases(["asthma", "asthma", "x"], [O, B, I], lexicon) == [B, B, I]
    sentences, tags = [["asthma", "then", "male", "breast", "cancer"]], [[O, O, O, B, I]]
    assert apply_arm("boundary+add", sentences, tags, lexicon) == [[B, O, B, I, I]]
    assert tags == [[O, O, O, B, I]]  # the input is not changed
