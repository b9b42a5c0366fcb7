"""average_models: the soup of two saved VANER folders loads and holds the parameter-wise mean."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from average_models import average_adapters, average_models, main
from modeling_vaner import VanerForTokenClassification
import adapter_vaner
from lora import add_lora
from tests.conftest import build_tiny_model


@pytest.fixture()
def two_models(tmp_path, tiny_tokenizer):
    first = build_tiny_model(tiny_tokenizer, "llama")
    second = build_tiny_model(tiny_tokenizer, "llama")
    with torch.no_grad():
        for index, parameter in enumerate(second.parameters()):
            parameter.add_(0.5 * (index + 1))
    first.config.set_o_bias({"Disease": 0.5}, with_dataset_name=False)  # calibrated for model a alone
    first.save_pretrained(tmp_path / "a")
    second.save_pretrained(tmp_path / "b")
    (tmp_path / "a" / "README.md").write_text("model card of model a only")
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
    averaged_config = VanerForTokenClassification.config_class.from_pretrained(tmp_path / "same")
    assert averaged_config.o_bias_no_dataset is None and averaged_config.o_bias == {}  # to be calibrated anew
    original_config = VanerForTokenClassification.config_class.from_pretrained(folder_a).to_dict()
    assert original_config["o_bias_no_dataset"] == {"Disease": 0.5}
    assert {**original_config, "o_bias_no_dataset": None} == averaged_config.to_dict()  # nothing else changed
    assert not (tmp_path / "same" / "README.md").exists()


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


def _adapter(tiny_tokenizer, folder, seed: int, r: int, alpha: int) -> None:
    """A tiny LoRA adapter with non-zero B factors and head, saved the way peft saves it."""
    peft_model = add_lora(build_tiny_model(tiny_tokenizer, "llama"), r=r, alpha=alpha)
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_" in name or "classifier" in name:
                parameter.normal_(std=0.3)
    peft_model.save_pretrained(folder)


def _merged(tiny_tokenizer, folder) -> dict[str, torch.Tensor]:
    model = build_tiny_model(tiny_tokenizer, "llama")
    config = adapter_vaner.read_adapter_config(folder)
    adapter_vaner.merge_adapter(model, folder / adapter_vaner.ADAPTER_WEIGHTS, config)
    return model.state_dict()


@pytest.mark.parametrize("rslora_b", [False, True])
def test_averaged_adapter_merges_to_the_soup_of_the_merged_models(tmp_path, tiny_tokenizer, rslora_b):
    _adapter(tiny_tokenizer, tmp_path / "a", seed=1, r=4, alpha=8)
    _adapter(tiny_tokenizer, tmp_path / "b", seed=2, r=2, alpha=8)  # another rank and scale
    if rslora_b:  # scale alpha/sqrt(r) in adapter_vaner's merge: the average must use the same
        path = tmp_path / "b" / "adapter_config.json"
        path.write_text(path.read_text().replace('"use_rslora": false', '"use_rslora": true'))
        assert adapter_vaner.read_adapter_config(tmp_path / "b")["use_rslora"]
    out = average_adapters([tmp_path / "a", tmp_path / "b"], tmp_path / "soup")
    config = adapter_vaner.read_adapter_config(out)
    assert (config["r"], config["lora_alpha"]) == (6, 6)
    merged_a, merged_b = _merged(tiny_tokenizer, tmp_path / "a"), _merged(tiny_tokenizer, tmp_path / "b")
    soup = _merged(tiny_tokenizer, out)
    base = build_tiny_model(tiny_tokenizer, "llama").state_dict()
    changed = [k for k in base if not torch.equal(merged_a[k], base[k])]
    assert any("classifier" in k for k in changed) and any("q_proj" in k for k in changed)
    for key in base:
        torch.testing.assert_close(soup[key], (merged_a[key] + merged_b[key]) / 2, atol=1e-5, rtol=1e-5)


def test_adapter_averaging_refuses_other_peft_kinds(tmp_path, tiny_tokenizer):
    _adapter(tiny_tokenizer, tmp_path / "a", seed=1, r=4, alpha=8)
    _adapter(tiny_tokenizer, tmp_path / "b", seed=2, r=4, alpha=8)
    path = tmp_path / "b" / "adapter_config.json"
    path.write_text(path.read_text().replace('"use_dora": false', '"use_dora": true'))
    with pytest.raises(ValueError, match=r"b/adapter_config.json: only plain LoRA"):
        average_adapters([tmp_path / "a", tmp_path / "b"], tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="adapter_model.safetensors: missing"):
        main(["--adapters", str(tmp_path / "a"), str(tmp_path / "nowhere"), "--output", str(tmp_path / "x")])


def test_lora_factors_stored_in_float16_merge_to_the_same_soup(tmp_path, tiny_tokenizer):
    _adapter(tiny_tokenizer, tmp_path / "a", seed=1, r=4, alpha=8)
    _adapter(tiny_tokenizer, tmp_path / "b", seed=2, r=4, alpha=8)
    full = average_adapters([tmp_path / "a", tmp_path / "b"], tmp_path / "fp32")
    main(["--adapters", str(tmp_path / "a"), str(tmp_path / "b"), "--output", str(tmp_path / "fp16"),
          "--lora-dtype", "float16"])
    half = load_file(str(tmp_path / "fp16" / adapter_vaner.ADAPTER_WEIGHTS))
    assert {t.dtype for k, t in half.items() if "lora_" in k} == {torch.float16}
    assert {t.dtype for k, t in half.items() if "lora_" not in k} == {torch.float32}  # the head stays as trained
    merged_full, merged_half = _merged(tiny_tokenizer, full), _merged(tiny_tokenizer, tmp_path / "fp16")
    for key in merged_full:
        torch.testing.assert_close(merged_half[key], merged_full[key], atol=2e-3, rtol=2e-3)
    assert "float16" in (tmp_path / "fp16" / "soup.json").read_text()
    with pytest.raises(SystemExit):
        main(["--models", str(tmp_path / "a"), str(tmp_path / "b"), "--output", str(tmp_path / "x"), "--lora-dtype", "float16"])


def test_max_rank_keeps_the_best_low_rank_approximation_of_each_delta(tmp_path, tiny_tokenizer):
    for index, name in enumerate("abc"):
        _adapter(tiny_tokenizer, tmp_path / name, seed=index + 1, r=4, alpha=8)
    folders = [tmp_path / name for name in "abc"]
    exact = average_adapters(folders, tmp_path / "exact")
    main(["--adapters", *map(str, folders), "--output", str(tmp_path / "cut"), "--max-rank", "5"])
    config = adapter_vaner.read_adapter_config(tmp_path / "cut")
    assert (config["r"], config["lora_alpha"]) == (5, 5)
    base = build_tiny_model(tiny_tokenizer, "llama").state_dict()
    merged_exact, merged_cut = _merged(tiny_tokenizer, exact), _merged(tiny_tokenizer, tmp_path / "cut")
    truncated_modules = 0
    for key in base:
        delta = (merged_exact[key] - base[key]).double()
        if delta.dim() != 2 or "classifier" in key or not delta.any():  # not a LoRA target: kept exactly
            torch.testing.assert_close(merged_cut[key], merged_exact[key], atol=1e-5, rtol=1e-5)
            continue
        u, s, vh = torch.linalg.svd(delta, full_matrices=False)
        best = (u[:, :5] * s[:5]) @ vh[:5]  # Eckart-Young: the closest rank-5 matrix
        torch.testing.assert_close((merged_cut[key] - base[key]).double(), best, atol=1e-4, rtol=1e-4)
        assert torch.linalg.matrix_rank(delta).item() > 5  # so the cut really dropped something
        truncated_modules += 1
    assert truncated_modules > 0
    assert "best rank-5 approximation" in (tmp_path / "cut" / "soup.json").read_text()
    # a cap at or above the summed rank is the exact average
    uncut = average_adapters(folders, tmp_path / "uncut", max_rank=12)
    assert adapter_vaner.read_adapter_config(uncut)["r"] == 12
    uncut_weights = load_file(str(uncut / adapter_vaner.ADAPTER_WEIGHTS))
    for key, tensor in load_file(str(exact / adapter_vaner.ADAPTER_WEIGHTS)).items():
        torch.testing.assert_close(uncut_weights[key], tensor)


def test_max_rank_is_checked(tmp_path, tiny_tokenizer):
    _adapter(tiny_tokenizer, tmp_path / "a", seed=1, r=4, alpha=8)
    _adapter(tiny_tokenizer, tmp_path / "b", seed=2, r=4, alpha=8)
    with pytest.raises(SystemExit):
        main(["--adapters", str(tmp_path / "a"), str(tmp_path / "b"), "--output", str(tmp_path / "x"), "--max-rank", "0"])
    with pytest.raises(SystemExit):
        main(["--models", str(tmp_path / "a"), str(tmp_path / "b"), "--output", str(tmp_path / "x"), "--max-rank", "4"])
    assert not (tmp_path / "x").exists()


def test_a_soup_replaces_the_one_in_its_folder_whole_and_refuses_other_folders(tmp_path, two_models, tiny_tokenizer):
    first, second, _, _ = two_models
    average_models([first, second], tmp_path / "soup")
    assert (tmp_path / "soup" / "model.safetensors").is_file()
    _adapter(tiny_tokenizer, tmp_path / "x", seed=1, r=4, alpha=8)
    _adapter(tiny_tokenizer, tmp_path / "y", seed=2, r=2, alpha=8)
    out = average_adapters([tmp_path / "x", tmp_path / "y"], tmp_path / "soup")
    # the full soup's weights would be loaded instead of the adapter if they stayed beside it
    assert not (out / "model.safetensors").exists() and (out / adapter_vaner.ADAPTER_WEIGHTS).is_file()
    assert adapter_vaner.find_adapter_only_weights(out) is not None
    assert not list(tmp_path.glob(".soup*"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a soup")
    with pytest.raises(ValueError, match="mine: a folder that is neither empty nor a soup"):
        average_adapters([tmp_path / "x", tmp_path / "y"], tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "not a soup"


def test_an_ingredient_record_keeps_the_adapters_own_lora_settings(tmp_path, tiny_tokenizer):
    import json

    from average_models import ingredient_record

    folder = tmp_path / "checkpoint"
    _adapter(tiny_tokenizer, folder, seed=1, r=4, alpha=8)  # e.g. an --init-adapter run: not train.py's --lora-r 16
    (folder / "training_state").mkdir()
    (folder / "training_state" / "train_args.json").write_text(json.dumps({"lora_r": 16, "lora_alpha": 32}))
    (folder / "training_state" / "trainer_state.json").write_text(json.dumps({"global_step": 3, "log_history": []}))
    record = ingredient_record(folder)
    assert record["global_step"] == 3
    assert {key: record["adapter_config"][key] for key in ("r", "lora_alpha")} == {"r": 4, "lora_alpha": 8}
