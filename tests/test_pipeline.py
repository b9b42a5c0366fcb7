"""The shipped token-classification pipeline: spans, offsets, batching, windows, errors."""

from __future__ import annotations

import pytest
import torch
from conftest import build_tiny_model, oracle_model
from transformers import pipeline
from transformers.pipelines import AggregationStrategy

from pipeline_vaner import VanerTokenClassificationPipeline


@pytest.fixture()
def saved_model(tiny_tokenizer, tmp_path):
    model = build_tiny_model(
        tiny_tokenizer, "llama", "sdpa", dataset_names=["NCBI-disease"], dataset_entity_types={"NCBI-disease": "Disease"}
    )
    model.save_pretrained(tmp_path / "model")
    tiny_tokenizer.save_pretrained(tmp_path / "model")
    return str(tmp_path / "model")


def test_plain_pipeline_call_returns_typed_spans_with_exact_offsets(saved_model):
    ner = pipeline("token-classification", model=saved_model, trust_remote_code=True)
    assert type(ner).__name__ == "VanerTokenClassificationPipeline"
    text = "Aspirin lowers the risk of colorectal cancer in BRCA1 carriers. Mice were used too."
    spans = ner(text)
    assert spans, "a random tiny model still tags something with 4 types"
    for span in spans:
        assert set(span) == {"entity_group", "word", "start", "end", "score"}
        assert text[span["start"] : span["end"]] == span["word"]
        assert span["entity_group"] in {"Disease", "Chemical", "Gene", "Species"}
        assert 0.0 <= span["score"] <= 1.0
    assert [s["start"] for s in spans] == sorted(s["start"] for s in spans)
    grouped = pipeline("token-classification", model=saved_model, trust_remote_code=True, aggregation_strategy="simple")
    assert grouped(text) == spans  # the habit of stock token-classification users is accepted at construction


def test_oracle_spans_all_types_in_one_batched_forward(tiny_tokenizer):
    calls: list = []
    model = oracle_model(build_tiny_model(tiny_tokenizer), tiny_tokenizer, "BRCA1", calls)
    ner = VanerTokenClassificationPipeline(model=model, tokenizer=tiny_tokenizer)
    text = "Mutations in BRCA1 cause cancer. BRCA1 carriers were studied."
    spans = ner(text)
    starts = [i for i in range(len(text)) if text.startswith("BRCA1", i)]
    for entity_type in ["Disease", "Chemical", "Gene", "Species"]:
        typed = [(s["start"], s["end"], s["word"]) for s in spans if s["entity_group"] == entity_type]
        assert typed == [(start, start + 5, "BRCA1") for start in starts]
    assert len(calls) == 1 and calls[0][0] == 2 * 4  # 2 sentences x 4 types, one forward
    calls.clear()
    narrowed = ner(text, entity_types="Gene", forward_batch_size=1)
    assert {s["entity_group"] for s in narrowed} == {"Gene"} and len(calls) == 2


def test_aggregation_strategy_simple_is_the_spans_and_none_lists_tagged_words(tiny_tokenizer):
    model = oracle_model(build_tiny_model(tiny_tokenizer, entity_types=["Gene", "Disease"]), tiny_tokenizer, "BRCA1", [],
                    inside_word="carriers")
    ner = VanerTokenClassificationPipeline(model=model, tokenizer=tiny_tokenizer)
    text = "Mutations in BRCA1 cause cancer. BRCA1 carriers were studied."
    assert ner(text, aggregation_strategy="simple") == ner(text) == ner(text, aggregation_strategy=AggregationStrategy.FIRST)
    words = ner(text, aggregation_strategy="none")
    second = text.rindex("BRCA1")
    carriers = text.index("carriers")
    expected = [("B-Disease", 2, "BRCA1", 13), ("B-Gene", 2, "BRCA1", 13),  # the 3rd word of the text
                ("B-Disease", 6, "BRCA1", second), ("B-Gene", 6, "BRCA1", second),  # 2nd sentence: counted on
                ("I-Disease", 7, "carriers", carriers), ("I-Gene", 7, "carriers", carriers)]
    assert [(w["entity"], w["index"], w["word"], w["start"]) for w in words] == expected
    assert all(text[w["start"] : w["end"]] == w["word"] and 0.99 < w["score"] <= 1.0 for w in words)
    spans = {(s["entity_group"], s["word"]) for s in ner(text)}
    assert spans == {("Gene", "BRCA1"), ("Disease", "BRCA1"), ("Gene", "BRCA1 carriers"), ("Disease", "BRCA1 carriers")}


def test_o_bias_follows_the_instruction_mode(tiny_tokenizer):
    model = build_tiny_model(tiny_tokenizer, dataset_names=["NCBI-disease"], dataset_entity_types={"NCBI-disease": "Disease"})
    model = oracle_model(model, tiny_tokenizer, "BRCA1", [])  # B beats O by 5 on the log scale
    model.config.set_o_bias({"Disease": 6.0}, with_dataset_name=False)  # enough to silence the oracle
    ner = VanerTokenClassificationPipeline(model=model, tokenizer=tiny_tokenizer)
    text = "Mutations in BRCA1 cause cancer."
    assert ner(text, entity_types="Disease") == []  # no dataset: the instruction without a name, its own bias
    assert [s["word"] for s in ner(text, dataset="NCBI-disease")] == ["BRCA1"]  # named: config.o_bias (none)
    model.config.o_bias_no_dataset = None  # no separate calibration: both modes decode with o_bias
    assert [s["word"] for s in ner(text, entity_types="Disease")] == ["BRCA1"]
    with pytest.raises(ValueError, match="o_bias_no_dataset"):
        model.config.set_o_bias({"Protein": 1.0}, with_dataset_name=False)


def test_long_text_is_windowed_not_truncated(tiny_tokenizer):
    calls: list = []
    model = oracle_model(build_tiny_model(tiny_tokenizer, max_length=24, stride=4), tiny_tokenizer, "BRCA1", calls)
    ner = VanerTokenClassificationPipeline(model=model, tokenizer=tiny_tokenizer)
    text = " ".join(["the risk of cancer in BRCA1 carriers and mice"] * 12)  # one long sentence
    spans = ner(text, entity_types=["Gene"])
    starts = [i for i in range(len(text)) if text.startswith("BRCA1", i)]
    assert [(s["start"], s["word"]) for s in spans] == [(start, "BRCA1") for start in starts]
    assert max(width for _, width in calls) <= 24 and sum(rows for rows, _ in calls) > 1


def test_lists_are_batched_and_match_single_calls(tiny_tokenizer):
    calls: list = []
    model = oracle_model(build_tiny_model(tiny_tokenizer), tiny_tokenizer, "BRCA1", calls)
    ner = VanerTokenClassificationPipeline(model=model, tokenizer=tiny_tokenizer)
    texts = ["BRCA1 carriers.", "", "   ", "No entity here.", "Mice with BRCA1."]
    batched = ner(texts)
    assert len(calls) == 1
    assert batched == [ner(text) for text in texts]
    assert batched[1] == [] and batched[2] == []
    assert list(ner(iter(texts))) == batched  # generators stream lazily


def test_errors_name_the_problem(saved_model):
    ner = pipeline("token-classification", model=saved_model, trust_remote_code=True)
    with pytest.raises(ValueError, match=r"Unknown entity type.*Protein.*knows.*Disease"):
        ner("BRCA1", entity_types=["Protein"])
    with pytest.raises(ValueError, match="Unknown dataset.*BC2GM.*NCBI-disease"):
        ner("BRCA1", dataset="BC2GM")
    with pytest.raises(TypeError, match="unexpected argument.*stride"):
        ner("BRCA1", stride=4)
    with pytest.raises(ValueError, match="aggregation_strategy='max'.*'none'"):
        ner("BRCA1", aggregation_strategy="max")
    with pytest.raises(ValueError, match="link needs entity spans"):
        ner("BRCA1", aggregation_strategy="none", link=_RecordingLinker())
    per_word = pipeline("token-classification", model=saved_model, trust_remote_code=True, aggregation_strategy="none")
    with pytest.raises(ValueError, match="link needs entity spans"):
        per_word("BRCA1", link=_RecordingLinker())
    assert {s["entity_group"] for s in ner("cancer in BRCA1 carriers", dataset="NCBI-disease")} <= {"Disease"}


class _RecordingLinker:
    """Stands in for EntityLinker (tested in test_linking.py): records what the pipeline asks it to link."""

    def __init__(self):
        self.calls = []

    def link(self, mentions, entity_types, top_k=5, id_prefixes=None):
        self.calls.append((list(mentions), list(entity_types), top_k, id_prefixes))
        return [[{"id": f"ID:{m}", "name": m, "score": 1.0}] * top_k for m in mentions]


def test_link_adds_ids_in_one_call_with_abbreviations_expanded(tiny_tokenizer, monkeypatch):
    calls: list = []
    model = oracle_model(build_tiny_model(tiny_tokenizer, entity_types=["Gene", "Disease"]), tiny_tokenizer, "BRCA1", calls)
    ner = VanerTokenClassificationPipeline(model=model, tokenizer=tiny_tokenizer)
    linker = _RecordingLinker()
    monkeypatch.setattr(VanerTokenClassificationPipeline, "_linker", lambda self, link: linker)
    texts = ["Breast cancer 1 (BRCA1) matters. BRCA1 carriers.", "No entity."]
    spans = ner(texts, link="some/index", link_top_k=2, link_id_prefixes=["MESH"])
    assert len(linker.calls) == 1
    mentions, types, top_k, id_prefixes = linker.calls[0]
    assert id_prefixes == ["MESH"]
    assert mentions == ["Breast cancer 1"] * 4 and sorted(types) == ["Disease", "Disease", "Gene", "Gene"]
    assert top_k == 2
    assert all(span["ids"][0]["id"] == "ID:Breast cancer 1" and len(span["ids"]) == 2 for span in spans[0])
    assert spans[1] == []


def test_link_true_needs_an_index(tiny_tokenizer):
    ner = VanerTokenClassificationPipeline(model=build_tiny_model(tiny_tokenizer), tokenizer=tiny_tokenizer)
    with pytest.raises(ValueError, match="linking_index"):
        ner("BRCA1", link=True)


def test_link_accepts_a_ready_linker_and_rejects_other_objects(tiny_tokenizer):
    calls: list = []
    model = oracle_model(build_tiny_model(tiny_tokenizer, entity_types=["Gene"]), tiny_tokenizer, "BRCA1", calls)
    ner = VanerTokenClassificationPipeline(model=model, tokenizer=tiny_tokenizer)
    linker = _RecordingLinker()  # e.g. an EntityLinker given a dictionary with add_names
    spans = ner("BRCA1 carriers.", link=linker)
    assert linker.calls and spans[0]["ids"][0]["id"] == "ID:BRCA1"
    with pytest.raises(TypeError, match="EntityLinker, got int"):
        ner("BRCA1 carriers.", link=3)


def test_a_call_keeps_the_construction_settings_it_does_not_override(tiny_tokenizer, monkeypatch):
    model = build_tiny_model(tiny_tokenizer, entity_types=["Gene", "Disease"], dataset_names=["NCBI-disease"],
                             dataset_entity_types={"NCBI-disease": "Disease"})
    rendered: list = []
    render = type(model.config).render_instruction
    monkeypatch.setattr(type(model.config), "render_instruction",
                        lambda config, entity_type, dataset=None: rendered.append((entity_type, dataset))
                        or render(config, entity_type, dataset))
    steered = VanerTokenClassificationPipeline(model=model, tokenizer=tiny_tokenizer, dataset="NCBI-disease")
    for call, instructions in [({}, [("Disease", "NCBI-disease")]),  # the dataset alone narrows to its type
                               ({"entity_types": "Disease"}, [("Disease", "NCBI-disease")]),  # still named
                               ({"entity_types": ["Gene", "Disease"]}, [("Gene", None), ("Disease", "NCBI-disease")])]:
        rendered.clear()
        steered("Breast cancer.", **call)
        assert rendered == instructions, call
    rendered.clear()
    VanerTokenClassificationPipeline(model=model, tokenizer=tiny_tokenizer, entity_types="Gene")(
        "Breast cancer.", dataset="NCBI-disease")
    assert rendered == [("Gene", None)]  # the construction's types stand; the dataset steers only its own type
    with pytest.raises(ValueError, match=r"entity_types is empty; this model knows \['Gene', 'Disease'\]"):
        steered("Breast cancer.", entity_types=[])


def test_link_options_of_a_call_combine_with_the_constructions_linker(tiny_tokenizer):
    model = oracle_model(build_tiny_model(tiny_tokenizer, entity_types=["Gene"]), tiny_tokenizer, "BRCA1", [])
    linker = _RecordingLinker()
    ner = VanerTokenClassificationPipeline(model=model, tokenizer=tiny_tokenizer, link=linker, link_top_k=2)
    spans = ner("BRCA1 carriers.", link_id_prefixes="HGNC")
    assert linker.calls == [(["BRCA1"], ["Gene"], 2, ["HGNC"])] and len(spans[0]["ids"]) == 2
    assert "ids" not in ner("BRCA1 carriers.", link=False)[0] and len(linker.calls) == 1  # a call can turn it off
    with pytest.raises(ValueError, match="link_top_k must be >= 1, got 0"):
        ner("BRCA1 carriers.", link_top_k=0)


def test_batch_size_sizes_the_forward_passes(tiny_tokenizer):
    calls: list = []
    model = oracle_model(build_tiny_model(tiny_tokenizer), tiny_tokenizer, "BRCA1", calls)
    text = "Mutations in BRCA1 cause cancer. BRCA1 carriers were studied."  # 2 sentences x 4 types: 8 sequences
    expected = VanerTokenClassificationPipeline(model=model, tokenizer=tiny_tokenizer)(text)
    calls.clear()
    assert VanerTokenClassificationPipeline(model=model, tokenizer=tiny_tokenizer, batch_size=3)(text) == expected
    assert [shape[0] for shape in calls] == [3, 3, 2]
    calls.clear()
    ner = VanerTokenClassificationPipeline(model=model, tokenizer=tiny_tokenizer)
    assert ner([text], batch_size=5) == [expected] and [shape[0] for shape in calls] == [5, 3]
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        ner(text, batch_size=0)


def test_a_bad_input_is_named_by_its_position_in_the_whole_stream(tiny_tokenizer):
    ner = VanerTokenClassificationPipeline(model=build_tiny_model(tiny_tokenizer), tokenizer=tiny_tokenizer)
    ner.texts_per_call = 2
    with pytest.raises(TypeError, match="input 2 is int, expected str"):
        ner(["BRCA1.", "Mice.", 3])


def test_a_model_that_reads_context_gets_the_preceding_sentence_but_tags_only_its_own(tiny_tokenizer):
    text = "Mutations in BRCA1 cause cancer. BRCA1 carriers were studied."
    shapes = {}
    for context in (0, 1):
        calls: list = []
        model = oracle_model(build_tiny_model(tiny_tokenizer, entity_types=["Gene"]), tiny_tokenizer, "BRCA1", calls)
        model.config.context_sentences = context
        ner = VanerTokenClassificationPipeline(model=model, tokenizer=tiny_tokenizer)
        spans = ner(text)
        # the oracle also tags BRCA1 inside the context, but only the sentence's own words become spans
        assert [(s["start"], s["word"]) for s in spans] == [(13, "BRCA1"), (33, "BRCA1")]
        first_sentence = len(tiny_tokenizer(" Mutations in BRCA1 cause cancer.", add_special_tokens=False)["input_ids"])
        shapes[context] = (calls[0], first_sentence)
    (plain, _), (with_context, first_sentence) = shapes[0], shapes[1]
    assert with_context[1] >= plain[1] + first_sentence - 2  # the second row carries the first sentence before it
