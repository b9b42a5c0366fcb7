"""The end-to-end scoring rule on a hand-checked example (no model, no data)."""

from benchmarks.ner_linking_e2e import predict, score


def test_score_hand_checked():
    gold = {
        ("d", 0, 5): {"MESH:D1"},
        ("d", 10, 20): {"MESH:D2", "MESH:D3"},  # composite mention: any of its ids counts
        ("d", 30, 35): set(),  # OMIM-only: counted as gold, can never be linked
        ("e", 0, 5): {"MESH:D1"},  # missed
    }
    predicted = {
        ("d", 0, 5): "MESH:D1",  # span + id right
        ("d", 10, 20): "MESH:D3",  # span + one of the ids right
        ("d", 30, 35): "MESH:D9",  # span right, id impossible
        ("d", 0, 4): "MESH:D1",  # offsets off by one: wrong for both
        ("e", 40, 45): None,  # spurious span without id
    }
    r = score(gold, predicted, kb={"MESH:D1", "MESH:D2"})
    assert (r["gold_mentions"], r["predicted_spans"]) == (4, 5)
    assert r["ner"] == {"tp": 3, "precision": 60.0, "recall": 75.0, "f1": 66.67}
    assert r["ner_linking"] == {"tp": 2, "precision": 40.0, "recall": 50.0, "f1": 44.44}
    assert r["linking_accuracy_on_correct_spans"] == 66.67
    assert r["ceiling"] == 75.0  # 3 of 4 gold spans have an id in the KB


def test_predict_tags_only_the_scored_type_and_steers_only_when_asked():
    calls = []

    def fake_ner(texts, **kwargs):
        calls.append(kwargs)
        return [[{"entity_group": "Disease", "start": 0, "end": 5, "ids": [{"id": "MESH:D1"}]},
                 {"entity_group": "Chemical", "start": 6, "end": 9, "ids": []}] for _ in texts]

    texts = {"d1": "tumor in x", "d2": "other"}
    out = predict(fake_ner, texts, "IDX", ["MESH"], "Disease")
    assert out == {("d1", 0, 5): "MESH:D1", ("d2", 0, 5): "MESH:D1"}
    assert calls[0] == {"link": "IDX", "link_id_prefixes": ["MESH"], "entity_types": ["Disease"]}
    predict(fake_ner, texts, "IDX", ["MESH"], "Chemical", dataset="BC5CDR-chem")
    assert calls[1]["dataset"] == "BC5CDR-chem" and calls[1]["entity_types"] == ["Chemical"]
