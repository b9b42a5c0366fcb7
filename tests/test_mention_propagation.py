"""The mention-propagation probe: a found mention is copied to its untagged recurrences, checked by hand."""

import pytest

from benchmarks.mention_propagation_dev import propagate_mentions

O, B, I = 0, 1, 2


def test_a_mention_is_copied_forward_within_reach_only():
    sentences = [["Breast", "cancer", "risk"], ["No", "breast", "cancer"], ["Breast", "cancer", "again"],
                 ["Breast", "cancer", "late"]]
    tags = [[B, I, O], [O, O, O], [O, O, O], [O, O, O]]
    out = propagate_mentions(sentences, tags, reach=2)
    # case-sensitive, and the third sentence is within reach 2 of the first while the fourth is not
    assert out == [[B, I, O], [O, O, O], [B, I, O], [O, O, O]]
    assert tags[2] == [O, O, O]  # the input is not changed


def test_recurrences_in_the_same_sentence_and_overlaps_left_alone():
    words = [["IL-2", "and", "IL-2", "receptor", "IL-2", "IL-2"]]
    tags = [[B, O, B, I, O, B]]  # the second IL-2 already starts a longer span; the fifth word is untagged
    assert propagate_mentions(words, tags, reach=0) == [[B, O, B, I, B, B]]


def test_longest_mention_first_and_no_copy_that_would_run_into_an_i():
    words = [["heart", "failure", "x"], ["heart", "failure", "y"], ["heart", "failure", "z"]]
    tags = [[B, O, O], [B, I, O], [O, O, I]]  # "heart" alone and "heart failure" were both found
    out = propagate_mentions(words, tags, reach=2)
    assert out[0] == [B, O, O]  # "heart failure" would swallow a tagged word: left alone
    # the third sentence: "heart failure" would run into the dangling I, so only the shorter "heart" is copied
    assert out[2] == [B, O, I]


def test_bad_shapes_and_negative_reach_are_refused():
    with pytest.raises(ValueError, match="differ in shape"):
        propagate_mentions([["a"]], [[O, O]], reach=0)
    with pytest.raises(ValueError, match="negative"):
        propagate_mentions([["a"]], [[O]], reach=-1)
