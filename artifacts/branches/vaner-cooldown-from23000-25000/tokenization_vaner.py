"""The tokenizer of an adapter-only VANER repo: the backbone's own fast tokenizer, found through the config.

An adapter-only repo (see adapter_vaner.py) carries no tokenizer files; its tokenizer_config.json maps
`AutoTokenizer` to `VanerTokenizer`, whose `from_pretrained` loads the tokenizer of `config.backbone_source`.
So `AutoTokenizer.from_pretrained(repo, trust_remote_code=True)` and `pipeline(...)` work on such repos.
This file travels to the Hub with the model: it imports only transformers and the standard library.
"""

from __future__ import annotations

from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

try:  # imported as a Hub module
    from .adapter_vaner import adapter_backbone_location, hub_kwargs_of
    from .configuration_vaner import VanerConfig
except ImportError:  # imported from a source checkout
    from adapter_vaner import adapter_backbone_location, hub_kwargs_of
    from configuration_vaner import VanerConfig

__all__ = ["VanerTokenizer", "prepare_tokenizer"]


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase, source: str) -> PreTrainedTokenizerBase:
    """Check a backbone tokenizer is fast (VANER needs character offsets) and give it a right-side pad token."""
    if not tokenizer.is_fast:
        raise ValueError(f"{source}: VANER needs a fast tokenizer (character offsets)")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


class VanerTokenizer(PreTrainedTokenizerFast):
    """Stands in for the backbone tokenizer in adapter-only repos; never instantiated itself."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *inputs, **kwargs) -> PreTrainedTokenizerBase:
        config = VanerConfig.from_pretrained(pretrained_model_name_or_path, **hub_kwargs_of(kwargs))
        location, gguf_file = adapter_backbone_location(config, pretrained_model_name_or_path)
        return prepare_tokenizer(AutoTokenizer.from_pretrained(location, gguf_file=gguf_file), config.backbone_source)
