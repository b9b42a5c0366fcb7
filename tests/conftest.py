"""Shared fixtures: a tiny fast tokenizer trained in the test and tiny random-init VANER models (no downloads)."""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from configuration_vaner import VanerConfig
from modeling_vaner import VanerForTokenClassification

CORPUS = [
    "If any Disease entity is mentioned in the input, extract it.",
    "If any Chemical entity is mentioned in the NCBI-disease input, extract it.",
    "If any Gene entity is mentioned in the input, extract it.",
    "If any Species entity is mentioned in the input, extract it.",
    "Aspirin lowers the risk of colorectal cancer in BRCA1 carriers.",
    "Mutations in the BRCA1 gene cause hereditary breast and ovarian cancer in humans and mice.",
    "Patients treated with cisplatin developed nephrotoxicity ( 12 % ) .",
]


def build_tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A small SentencePiece-style (metaspace) BPE tokenizer with a BOS token, like Llama/Gemma."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<s>", "</s>", "<unk>"])
    tokenizer.train_from_iterator(CORPUS, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


def tiny_backbone_config(model_type: str, vocab_size: int) -> dict:
    common = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=512,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    if model_type == "gemma3_text":
        common.update(sliding_window=4, layer_types=["sliding_attention", "full_attention"], query_pre_attn_scalar=8)
    return {"model_type": model_type, **common}


def build_tiny_model(
    tokenizer: PreTrainedTokenizerFast, model_type: str = "llama", attn_implementation: str = "eager", **config_kwargs
) -> VanerForTokenClassification:
    torch.manual_seed(0)
    config = VanerConfig(backbone_config=tiny_backbone_config(model_type, len(tokenizer)), **config_kwargs)
    config._attn_implementation = attn_implementation
    return VanerForTokenClassification(config).eval()


@pytest.fixture(scope="session")
def tiny_tokenizer() -> PreTrainedTokenizerFast:
    return build_tiny_tokenizer()
