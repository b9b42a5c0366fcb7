"""VanerForTokenClassification on tiny random backbones: bidirectionality, padding invariance, loss, save/load."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import build_tiny_model, tiny_backbone_config

from configuration_vaner import VanerConfig
from modeling_vaner import VanerForTokenClassification

BACKBONES = ["llama", "gemma3_text"]
ATTENTION = ["eager", "sdpa"]


def _ids(tokenizer, text: str) -> torch.Tensor:
    return torch.tensor([tokenizer(text)["input_ids"]])


@pytest.mark.parametrize("model_type", BACKBONES)
@pytest.mark.parametrize("attn", ATTENTION)
def test_later_token_changes_earlier_logits_batch_of_one(tiny_tokenizer, model_type, attn):
    model = build_tiny_model(tiny_tokenizer, model_type, attn)
    ids = _ids(tiny_tokenizer, "Aspirin lowers the risk of colorectal cancer in BRCA1 carriers")
    changed = ids.clone()
    changed[0, -1] = tiny_tokenizer.convert_tokens_to_ids("▁mice")
    with torch.no_grad():
        before, after = model(input_ids=ids).logits, model(input_ids=changed).logits
    assert (before[0, 1] - after[0, 1]).abs().max() > 1e-4


@pytest.mark.parametrize("model_type", BACKBONES)
def test_causal_ablation_keeps_the_mask(tiny_tokenizer, model_type):
    model = build_tiny_model(tiny_tokenizer, model_type, "sdpa", bidirectional=False)
    assert model.config.backbone_config.is_causal is True
    ids = _ids(tiny_tokenizer, "Aspirin lowers the risk of colorectal cancer")
    changed = ids.clone()
    changed[0, -1] = 5
    with torch.no_grad():
        before, after = model(input_ids=ids).logits, model(input_ids=changed).logits
    torch.testing.assert_close(before[0, :-1], after[0, :-1])


@pytest.mark.parametrize("model_type", BACKBONES)
@pytest.mark.parametrize("attn", ATTENTION)
def test_logits_ignore_padding_and_batch_neighbours(tiny_tokenizer, model_type, attn):
    model = build_tiny_model(tiny_tokenizer, model_type, attn)
    short = tiny_tokenizer("BRCA1 carriers")["input_ids"]
    long = tiny_tokenizer("Mutations in the BRCA1 gene cause hereditary breast cancer")["input_ids"]
    width = len(long) + 3  # extra padding even for the longest row
    batch = torch.zeros((2, width), dtype=torch.long)
    mask = torch.zeros_like(batch)
    for row, ids in enumerate([short, long]):
        batch[row, : len(ids)], mask[row, : len(ids)] = torch.tensor(ids), 1
    with torch.no_grad():
        batched = model(input_ids=batch, attention_mask=mask).logits
        alone_short = model(input_ids=torch.tensor([short])).logits
        alone_long = model(input_ids=torch.tensor([long])).logits
        batch[0, len(short) :] = 7  # different pad ids must not matter either
        repadded = model(input_ids=batch, attention_mask=mask).logits
    torch.testing.assert_close(batched[0, : len(short)], alone_short[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(batched[1, : len(long)], alone_long[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(repadded[0, : len(short)], batched[0, : len(short)], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("model_type", BACKBONES)
def test_eager_and_sdpa_agree(tiny_tokenizer, model_type):
    eager = build_tiny_model(tiny_tokenizer, model_type, "eager")
    sdpa = build_tiny_model(tiny_tokenizer, model_type, "sdpa")
    sdpa.load_state_dict(eager.state_dict())
    ids = _ids(tiny_tokenizer, "Aspirin lowers the risk of colorectal cancer")
    with torch.no_grad():
        torch.testing.assert_close(eager(input_ids=ids).logits, sdpa(input_ids=ids).logits, atol=1e-5, rtol=1e-4)


def test_loss_is_cross_entropy_over_labelled_tokens(tiny_tokenizer):
    model = build_tiny_model(tiny_tokenizer)
    ids = _ids(tiny_tokenizer, "BRCA1 carriers and mice")
    labels = torch.full_like(ids, -100)
    labels[0, 1], labels[0, 3] = 1, 0
    with torch.no_grad():
        output = model(input_ids=ids, labels=labels)
    logits = output.logits[0]
    expected = torch.nn.functional.cross_entropy(logits[[1, 3]], torch.tensor([1, 0]))
    torch.testing.assert_close(output.loss, expected)
    assert output.logits.shape == (1, ids.shape[1], 3)


@pytest.mark.parametrize("model_type", BACKBONES)
def test_gradient_checkpointing_is_bidirectional_and_matches(tiny_tokenizer, model_type):
    model = build_tiny_model(tiny_tokenizer, model_type, "sdpa", classifier_dropout=0.0)
    ids = _ids(tiny_tokenizer, "Aspirin lowers the risk of colorectal cancer")
    labels = torch.randint(0, 3, ids.shape)
    model.train()
    plain = model(input_ids=ids, labels=labels)
    plain.loss.backward()
    plain_grad = model.classifier.weight.grad.clone()
    model.zero_grad()
    model.activation_checkpointing_enable()
    assert model.is_activation_checkpointing
    checkpointed = model(input_ids=ids, labels=labels)
    checkpointed.loss.backward()
    torch.testing.assert_close(checkpointed.logits, plain.logits)
    torch.testing.assert_close(model.classifier.weight.grad, plain_grad)
    changed = ids.clone()
    changed[0, -1] = 5
    assert (model(input_ids=changed).logits[0, 1] - checkpointed.logits[0, 1]).abs().max() > 1e-4


def test_config_requires_backbone_and_validates():
    with pytest.raises(ValueError, match="backbone_config"):
        VanerForTokenClassification(VanerConfig())
    with pytest.raises(ValueError, match="stride"):
        VanerConfig(max_length=16, stride=8)
    config = VanerConfig(dataset_names=["NCBI-disease"], dataset_entity_types={"NCBI-disease": "Disease"})
    assert config.render_instruction("Disease", "NCBI-disease") == (
        "If any Disease entity is mentioned in the NCBI-disease input, extract it."
    )
    assert config.render_instruction("Gene") == "If any Gene entity is mentioned in the input, extract it."
    with pytest.raises(ValueError, match="knows"):
        config.render_instruction("Protein")


def test_save_and_load_from_a_fresh_process_elsewhere(tiny_tokenizer, tmp_path):
    model = build_tiny_model(tiny_tokenizer, "gemma3_text", "sdpa", entity_types=["Disease", "Gene"])
    model_dir = tmp_path / "model"
    model.save_pretrained(model_dir)
    tiny_tokenizer.save_pretrained(model_dir)
    saved = json.loads((model_dir / "config.json").read_text())
    assert saved["auto_map"]["AutoModelForTokenClassification"] == "modeling_vaner.VanerForTokenClassification"
    assert (model_dir / "model.safetensors").is_file()
    for code in ["configuration_vaner.py", "modeling_vaner.py", "pipeline_vaner.py", "processing_vaner.py", "linking_vaner.py"]:
        assert (model_dir / code).is_file()
    ids = _ids(tiny_tokenizer, "BRCA1 carriers")
    with torch.no_grad():
        expected = model(input_ids=ids).logits
    torch.save(ids, tmp_path / "ids.pt")
    script = textwrap.dedent(
        f"""
        import sys, torch
        from transformers import AutoModelForTokenClassification
        model = AutoModelForTokenClassification.from_pretrained({str(model_dir)!r}, trust_remote_code=True).eval()
        assert "transformers_modules" in type(model).__module__, type(model).__module__
        with torch.no_grad():
            logits = model(input_ids=torch.load({str(tmp_path / "ids.pt")!r})).logits
        torch.save(logits, {str(tmp_path / "logits.pt")!r})
        """
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run([sys.executable, "-c", script], cwd=elsewhere, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    torch.testing.assert_close(torch.load(tmp_path / "logits.pt"), expected)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_load_keeps_the_head_in_fp32(tiny_tokenizer, tmp_path, dtype):
    """`dtype=bf16` (ner.py --dtype, pipeline(dtype=...)) halves the backbone only: the O/B/I logits stay fp32."""
    model = build_tiny_model(tiny_tokenizer, "llama")
    model.save_pretrained(tmp_path / "model")
    half = VanerForTokenClassification.from_pretrained(tmp_path / "model", dtype=dtype).eval()
    assert half.backbone.get_input_embeddings().weight.dtype == dtype
    assert half.classifier.weight.dtype == torch.float32
    torch.testing.assert_close(half.classifier.weight, model.classifier.weight, rtol=0, atol=0)
    ids = _ids(tiny_tokenizer, "BRCA1 carriers develop breast cancer")
    with torch.no_grad():
        logits = half(input_ids=ids).logits
        expected = model(input_ids=ids).logits
    assert logits.dtype == torch.float32
    torch.testing.assert_close(logits, expected, atol=0.05, rtol=0.05)


def test_from_backbone_adopts_pretrained_weights(tiny_tokenizer, tmp_path):
    from transformers import AutoConfig, AutoModel

    backbone = AutoModel.from_config(AutoConfig.for_model(**tiny_backbone_config("llama", len(tiny_tokenizer))))
    backbone.save_pretrained(tmp_path / "backbone")
    model = VanerForTokenClassification.from_backbone(
        str(tmp_path / "backbone"), backbone_kwargs={"attn_implementation": "sdpa"}, entity_types=["Chemical"]
    )
    assert model.config.entity_types == ["Chemical"]
    assert model.backbone.config._attn_implementation == "sdpa"
    assert model.config.backbone_config.is_causal is False
    for name, tensor in backbone.state_dict().items():
        torch.testing.assert_close(model.backbone.state_dict()[name], tensor)


def test_render_with_context_takes_the_last_n_sentences_and_refuses_a_negative_n():
    from configuration_vaner import VanerConfig

    assert VanerConfig().render_with_context("Tag.", [["a"], ["b"]]) == "Tag."
    assert VanerConfig(context_sentences=1).render_with_context("Tag.", [["a"], ["b", "c"]]) == "b c Tag."
    assert VanerConfig(context_sentences=3).render_with_context("Tag.", [["a"], ["b"]]) == "a b Tag."
    assert VanerConfig(context_sentences=1).render_with_context("Tag.", []) == "Tag."
    with pytest.raises(ValueError, match="context_sentences"):
        VanerConfig(context_sentences=-1)
