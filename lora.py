"""LoRA and 4-bit for VANER models: LoRA on every linear layer of the backbone, the O/B/I head trained in full.

Workshop code (peft, bitsandbytes); the Hub-side model files never import it.
"""

from __future__ import annotations

import re
from pathlib import Path

from torch import nn

from modeling_vaner import VanerForTokenClassification

__all__ = ["backbone_linear_pattern", "add_lora", "save_lora", "load_lora", "four_bit_config"]


def backbone_linear_pattern(model: VanerForTokenClassification) -> str:
    """A peft `target_modules` regex matching every `nn.Linear` inside the backbone (never the head)."""
    leaf_names = sorted(
        {name.rsplit(".", 1)[-1] for name, module in model.backbone.named_modules() if isinstance(module, nn.Linear)}
    )
    if not leaf_names:
        raise ValueError("the backbone has no nn.Linear layers to adapt")
    return rf"^(?:.*\.)?backbone\..*\.(?:{'|'.join(map(re.escape, leaf_names))})$"


def add_lora(model: VanerForTokenClassification, r: int = 16, alpha: int = 32, dropout: float = 0.05):
    """Wrap `model` with LoRA adapters (peft) on all backbone linear layers; the head stays fully trainable."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=backbone_linear_pattern(model),
        modules_to_save=["classifier"],
        bias="none",
    )
    return get_peft_model(model, config)


def save_lora(peft_model, output_dir: str | Path, tokenizer=None, merged: bool = False) -> Path:
    """Save the adapter alone (LoRA + head, a few MB) or the merged model (a complete Hub model folder)."""
    output_dir = Path(output_dir)
    if merged:
        model = peft_model.merge_and_unload()
        model.save_pretrained(output_dir)
    else:
        peft_model.save_pretrained(output_dir)
    if tokenizer is not None:
        tokenizer.save_pretrained(output_dir)
    return output_dir


def load_lora(model: VanerForTokenClassification, adapter_dir: str | Path, is_trainable: bool = False):
    """Attach a saved adapter (LoRA + head) to a VANER model built on the same backbone."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=is_trainable)


def four_bit_config():
    """bitsandbytes NF4 quantisation for the backbone (the head is kept out of quantisation)."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=torch.bfloat16,
        llm_int8_skip_modules=["classifier"],
    )
