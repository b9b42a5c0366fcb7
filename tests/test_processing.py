"""Words, sentences, sub-token alignment, windows and span decoding on hand-checked examples."""

from __future__ import annotations

import unicodedata

import pytest

from processing_vaner import (
    IGNORE_INDEX,
    decode_spans,
    encode_windows,
    encode_words,
    merge_windows,
    plan_windows,
    split_sentences,
    split_words,
    window_features,
)


def test_split_words_offsets_and_corpus_style_tokens():
    text = "IL-2 (interleukin 2) binds α-actin."
    words = split_words(text)
    assert [w.text for w in words] == ["IL", "-", "2", "(", "interleukin", "2", ")", "binds", "α", "-", "actin", "."]
    assert all(text[w.start : w.end] == w.text for w in words)


def test_split_words_keeps_decomposed_accents_inside_their_word():
    text = unicodedata.normalize("NFD", "Ménière's disease, naïve cells")
    words = split_words(text)
    assert [unicodedata.normalize("NFC", w.text) for w in words] == ["Ménière", "'", "s", "disease", ",", "naïve", "cells"]
    assert all(text[w.start : w.end] == w.text for w in words)


def test_split_sentences_keeps_abbreviations_and_initials():
    text = "Aspirin, e.g. in low doses, helps. Smith et al. showed it in J. Smith's mice (Fig. 2). Mice were used.  "
    spans = split_sentences(text)
    sentences = [text[s:e] for s, e in spans]
    assert sentences == [
        "Aspirin, e.g. in low doses, helps.",
        "Smith et al. showed it in J. Smith's mice (Fig. 2).",
        "Mice were used.",
    ]
    assert split_sentences("   \n ") == []


def test_encode_words_labels_first_subtoken_only(tiny_tokenizer):
    instruction = "If any Gene entity is mentioned in the input, extract it."
    words = ["BRCA1", "carriers", "unfolding"]
    encoded = encode_words(tiny_tokenizer, instruction, words, [1, 0, 0])
    offsets = tiny_tokenizer(instruction + " " + " ".join(words), return_offsets_mapping=True)["offset_mapping"]
    instruction_tokens = [i for i, (s, e) in enumerate(offsets) if e <= len(instruction)]
    labelled = [i for i, label in enumerate(encoded.labels) if label != IGNORE_INDEX]
    assert labelled == encoded.word_token_index
    assert [encoded.labels[i] for i in labelled] == [1, 0, 0]
    assert not set(labelled) & set(instruction_tokens)
    assert encoded.labels[0] == IGNORE_INDEX  # BOS
    # each word's first sub-token is the first token that covers one of its characters
    text_starts = [len(instruction) + 1, len(instruction) + 7, len(instruction) + 16]
    for token, start in zip(encoded.word_token_index, text_starts):
        s, e = offsets[token]
        assert s <= start < e
        assert all(offsets[t][1] <= start for t in range(1, token))
    # "unfolding" needs several sub-tokens with this tiny vocabulary: only the first is labelled
    assert encoded.content_end - encoded.word_token_index[2] > 1


def test_plan_windows_hand_checked():
    assert plan_windows([2, 2, 2, 2, 2], budget=5, stride=2) == [(0, 2), (1, 3), (2, 4), (3, 5)]
    assert plan_windows([1, 1, 1, 1, 1, 1], budget=4, stride=1) == [(0, 4), (3, 6)]
    assert plan_windows([1, 9, 1], budget=4, stride=0) == [(0, 1), (1, 2), (2, 3)]  # the long word alone
    assert plan_windows([3], budget=4, stride=1) == [(0, 1)]


def test_encode_windows_cover_every_word_within_max_length(tiny_tokenizer):
    words = ("Aspirin lowers the risk of colorectal cancer in BRCA1 carriers and mice " * 6).split()
    labels = [1 if w == "BRCA1" else 0 for w in words]
    windows = encode_windows(tiny_tokenizer, "If any Gene entity is mentioned in the input, extract it.", words, labels, 40, 8)
    assert len(windows) > 2
    assert all(len(w.input_ids) <= 40 for w in windows)
    assert windows[0].word_start == 0 and windows[-1].word_end == len(words)
    for left, right in zip(windows, windows[1:]):
        assert right.word_start < left.word_end  # overlap, no gap
    for window in windows:
        window_labels = [window.labels[i] for i in window.word_token_index]
        assert window_labels == labels[window.word_start : window.word_end]


def test_window_features_one_row_per_window_with_mask_and_length(tiny_tokenizer):
    instruction = "If any Gene entity is mentioned in the input, extract it."
    long_words = ("Aspirin lowers the risk of colorectal cancer in BRCA1 carriers and mice " * 6).split()
    short_words = ["BRCA1", "binds", "p53", "."]
    labels = [[1 if w == "BRCA1" else 0 for w in long_words], [1, 0, 1, 0]]
    features = window_features(tiny_tokenizer, [instruction, instruction], [long_words, short_words], labels, 40, 8)
    long_windows = encode_windows(tiny_tokenizer, instruction, long_words, labels[0], 40, 8)
    short_window = encode_words(tiny_tokenizer, instruction, short_words, labels[1])
    assert features["input_ids"] == [w.input_ids for w in long_windows] + [short_window.input_ids]
    assert features["labels"] == [w.labels for w in long_windows] + [short_window.labels]
    assert features["attention_mask"] == [[1] * len(ids) for ids in features["input_ids"]]
    assert features["length"] == [len(ids) for ids in features["input_ids"]]
    with pytest.raises(ValueError):  # a labels column out of step with the sentences is a bug, not a shorter batch
        window_features(tiny_tokenizer, [instruction], [long_words, short_words], labels, 40, 8)


def test_merge_windows_centre_wins():
    windows = [(0, 4), (2, 6)]
    scores = [["a0", "a1", "a2", "a3"], ["b2", "b3", "b4", "b5"]]
    # word 2: margin 1 in window A (vs 0 in B); word 3: margin 0 in A, 1 in B
    assert merge_windows(6, windows, scores) == ["a0", "a1", "a2", "b3", "b4", "b5"]
    with pytest.raises(ValueError):
        merge_windows(7, windows, scores)


def test_decode_spans_repairs_orphan_inside_tags():
    O, B, I = 0, 1, 2
    assert decode_spans([B, I, O, I, I, B]) == [(0, 2), (3, 5), (5, 6)]
    assert decode_spans([O, O]) == []
    assert decode_spans([B, B, I]) == [(0, 1), (1, 3)]
