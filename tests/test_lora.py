"""LoRA on every backbone linear layer with the head trained in full; adapter and merged saving; NF4 backbone."""

from __future__ import annotations

import pytest
import torch
from conftest import build_tiny_model, tiny_backbone_config
from transformers import AutoConfig, AutoModel, AutoModelForTokenClassification

from lora import add_lora, backbone_linear_pattern, four_bit_config, load_lora, save_lora
from modeling_vaner import VanerForTokenClassification


def _perturb_adapters(peft_model) -> None:
    """LoRA B starts at zero; give every trainable tensor a value so that round-trips are not vacuous."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in peft_model.parameters():
            if parameter.requires_grad:
                parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))


def test_lora_adapts_all_backbone_linears_and_trains_the_head(tiny_tokenizer):
    model = build_tiny_model(tiny_tokenizer, "gemma3_text")
    peft_model = add_lora(model, r=4, alpha=8)
    trainable = {name for name, p in peft_model.named_parameters() if p.requires_grad}
    linear_names = [n for n, m in model.backbone.named_modules() if isinstance(m, torch.nn.Linear) or hasattr(m, "lora_A")]
    adapted = {name.split(".lora_")[0] for name in trainable if ".lora_" in name}
    assert len(adapted) == 2 * 7  # q, k, v, o, gate, up, down in both layers
    assert any("classifier" in name and "lora" not in name for name in trainable)
    assert not any("embed" in name for name in trainable)
    assert "classifier" not in backbone_linear_pattern(model) and linear_names


def test_adapter_and_merged_round_trips(tiny_tokenizer, tmp_path):
    peft_model = add_lora(build_tiny_model(tiny_tokenizer), r=4, alpha=8)
    _perturb_adapters(peft_model)
    peft_model.eval()
    ids = torch.tensor([tiny_tokenizer("BRCA1 carriers develop ovarian cancer")["input_ids"]])
    with torch.no_grad():
        expected = peft_model(input_ids=ids).logits
    save_lora(peft_model, tmp_path / "adapter")
    reloaded = load_lora(build_tiny_model(tiny_tokenizer), tmp_path / "adapter").eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, expected)
    save_lora(peft_model, tmp_path / "merged", tiny_tokenizer, merged=True)
    merged = AutoModelForTokenClassification.from_pretrained(str(tmp_path / "merged"), trust_remote_code=True).eval()
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=ids).logits, expected, atol=1e-5, rtol=1e-4)


def test_four_bit_backbone_keeps_the_head_out_and_trains_lora(tiny_tokenizer, tmp_path):
    bitsandbytes = pytest.importorskip("bitsandbytes")
    config = tiny_backbone_config("llama", len(tiny_tokenizer))
    config.update(hidden_size=64, intermediate_size=128, head_dim=16)  # NF4 blocks need 64-wide rows
    AutoModel.from_config(AutoConfig.for_model(**config)).save_pretrained(tmp_path / "backbone")
    model = VanerForTokenClassification.from_backbone(
        str(tmp_path / "backbone"), backbone_kwargs={"quantization_config": four_bit_config()}
    )
    assert isinstance(model.backbone.layers[0].self_attn.q_proj, bitsandbytes.nn.Linear4bit)
    assert type(model.classifier) is torch.nn.Linear and model.classifier.weight.dtype == torch.float32
    peft_model = add_lora(model, r=4, alpha=8)
    ids = torch.tensor([tiny_tokenizer("Aspirin lowers the risk")["input_ids"]])
    output = peft_model(input_ids=ids, labels=torch.zeros_like(ids))
    output.loss.backward()
    grads = [p.grad for n, p in peft_model.named_parameters() if "lora_B" in n]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)
