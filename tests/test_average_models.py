"""average_models: the soup of two saved VANER folders loads and holds the parameter-wise mean."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from average_models import average_models, main
from modeling_vaner import VanerForTokenClassification
from tests.conftest import build_tiny_model


@pytest.fixture()
def two_models(tmp_path, tiny_tokenizer):
    first = build_tiny_model(tiny_tokenizer, "llama")
    second = build_tiny_model(tiny_tokenizer, "llama")
    with torch.no_grad():
        for index, parameter in enumerate(second.parameters()):
            parameter.add_(0.5 * (index + 1))
    first.save_pretrained(tmp_path / "a")
    second.save_pretrained(tmp_path / "b")
    return tmp_path / "a", tmp_path / "b", first, second


def test_average_is_the_parameter_mean_and_loads(tmp_path, two_models, tiny_tokenizer):
    folder_a, folder_b, first, second = two_models
    soup = VanerForTokenClassification.from_pretrained(average_models([folder_a, folder_b], tmp_path / "soup")).eval()
    for (name, mine), theirs_a, theirs_b in zip(soup.named_parameters(), first.parameters(), second.parameters()):
        assert torch.allclose(mine, (theirs_a + theirs_b) / 2, atol=1e-6), name
    inputs = tiny_tokenizer(["Aspirin lowers the risk"], return_tensors="pt")
    with torch.no_grad():
        logits = soup(**inputs).logits
    assert logits.shape[:2] == inputs["input_ids"].shape and torch.isfinite(logits).all()


def test_a_model_averaged_with_itself_is_unchanged(tmp_path, two_models):
    folder_a, _, _, _ = two_models
    out = main(["--models", str(folder_a), str(folder_a), "--output", str(tmp_path / "same")])
    assert out is None
    original, averaged = load_file(str(folder_a / "model.safetensors")), load_file(str(tmp_path / "same" / "model.safetensors"))
    assert original.keys() == averaged.keys()
    assert all(torch.equal(original[k], averaged[k]) for k in original)
    assert (tmp_path / "same" / "config.json").read_text() == (folder_a / "config.json").read_text()


def test_bad_inputs_name_the_file(tmp_path, two_models):
    folder_a, folder_b, _, _ = two_models
    with pytest.raises(ValueError, match="at least two"):
        average_models([folder_a], tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="adapter-only|missing"):
        average_models([folder_a, tmp_path / "nowhere"], tmp_path / "x")
    weights = load_file(str(folder_b / "model.safetensors"))
    weights.pop(next(iter(weights)))
    save_file(weights, str(folder_b / "model.safetensors"))
    with pytest.raises(ValueError, match="parameter names differ"):
        average_models([folder_a, folder_b], tmp_path / "x")
    assert not (tmp_path / "x").exists()
