"""VANER model: any Hugging Face decoder with the causal mask removed, and a linear O/B/I head per token.

This file travels to the Hub with the model: it imports only torch, transformers and the standard library.
Bidirectional attention uses transformers' supported switch (`is_causal=False` on the backbone config, which
makes `create_causal_mask` build a bidirectional mask that still masks padding) plus `is_causal=False` passed
to the attention functions, so SDPA never falls back to its own causal mask when no mask is materialised
(batch of one, no padding).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers.modeling_outputs import TokenClassifierOutput

try:  # imported as a Hub module (transformers_modules.<repo>.modeling_vaner)
    from .adapter_vaner import adapter_backbone_location, find_adapter_only_weights, hub_kwargs_of, merge_adapter, read_adapter_config
    from .configuration_vaner import VanerConfig
    from .pipeline_vaner import VanerTokenClassificationPipeline
except ImportError:  # imported from a source checkout
    from adapter_vaner import adapter_backbone_location, find_adapter_only_weights, hub_kwargs_of, merge_adapter, read_adapter_config
    from configuration_vaner import VanerConfig
    from pipeline_vaner import VanerTokenClassificationPipeline

__all__ = ["VanerPreTrainedModel", "VanerForTokenClassification", "VanerTokenClassificationPipeline"]


class VanerPreTrainedModel(PreTrainedModel):
    """Weight init and loading conventions shared by VANER models."""

    config_class = VanerConfig
    base_model_prefix = "backbone"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    # The O/B/I head (hidden_size x 3 weights) stays fp32 when the backbone loads in bf16/fp16 (`dtype=`), so that
    # scores and Viterbi decoding see full-precision logits however the model is loaded (pipeline, ner.py, evaluation).
    _keep_in_fp32_modules_strict = ["classifier"]

    def _init_weights(self, module: nn.Module) -> None:
        if module is getattr(self, "classifier", None):
            std = getattr(self.config.backbone_config, "initializer_range", 0.02)
            nn.init.normal_(module.weight, mean=0.0, std=std)
            nn.init.zeros_(module.bias)
        else:
            super()._init_weights(module)


class VanerForTokenClassification(VanerPreTrainedModel):
    """Decoder backbone (bidirectional unless `config.bidirectional=False`) + dropout + linear O/B/I head.

    Example:
    ```python
    >>> from transformers import AutoModelForTokenClassification, pipeline
    >>> model = AutoModelForTokenClassification.from_pretrained("path/or/hub-id", trust_remote_code=True)
    >>> ner = pipeline("token-classification", model="path/or/hub-id", trust_remote_code=True)
    >>> ner("Aspirin lowers the risk of colorectal cancer.")
    ```
    """

    def __init__(self, config: VanerConfig, backbone: PreTrainedModel | None = None):
        super().__init__(config)
        if config.backbone_config is None:
            raise ValueError("VanerConfig.backbone_config is required to build a VanerForTokenClassification")
        # A pretrained backbone (from_backbone) is adopted as is; otherwise it is built from its config.
        self.backbone = backbone if backbone is not None else AutoModel.from_config(config.backbone_config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.backbone_config.hidden_size, config.num_labels)
        self.post_init()

    @classmethod
    def from_backbone(
        cls, name_or_path: str, gguf_file: str | None = None, *, backbone_kwargs: dict | None = None, **config_kwargs
    ) -> "VanerForTokenClassification":
        """A VANER model whose backbone starts from pretrained decoder weights (the head is freshly initialised).

        `name_or_path` is an HF folder or Hub id; with `gguf_file`, a GGUF file in that folder (dequantised on
        load, which takes about a minute for 270M parameters: convert it once to an HF folder and reuse that).
        `backbone_kwargs` go to `AutoModel.from_pretrained` (e.g. `dtype`, `attn_implementation`,
        `quantization_config` for 4-bit); `config_kwargs` go to `VanerConfig` (e.g. `entity_types`).
        """
        backbone_kwargs = dict(backbone_kwargs or {})
        if gguf_file is not None:
            backbone_kwargs["gguf_file"] = gguf_file
        backbone = AutoModel.from_pretrained(name_or_path, **backbone_kwargs)
        attn_implementation = backbone.config._attn_implementation
        # VanerConfig flips `is_causal` on this same config object, so the adopted backbone turns bidirectional;
        # building it resets the sub-config's attention implementation, which is therefore set back here.
        config = VanerConfig(backbone_config=backbone.config, **config_kwargs)
        config._attn_implementation = attn_implementation
        model = cls(config, backbone=backbone)
        return model.to(next(backbone.parameters()).device)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs) -> "VanerForTokenClassification":
        """Full-weight repos load as usual; an adapter-only repo (LoRA + head, `config.backbone_source` set) loads
        its backbone from that source and merges the adapter into it, so both kinds work with `pipeline(...)`."""
        adapter_weights = find_adapter_only_weights(pretrained_model_name_or_path, **kwargs)
        if adapter_weights is None:
            return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        return cls._from_adapter_repo(pretrained_model_name_or_path, adapter_weights, **kwargs)

    @classmethod
    def _from_adapter_repo(cls, name_or_path, adapter_weights: str, **kwargs) -> "VanerForTokenClassification":
        kwargs.pop("adapter_kwargs", None)  # set by the Auto classes when they spot adapter_config.json
        config = kwargs.pop("config", None)
        hub_kwargs = hub_kwargs_of(kwargs)
        if not isinstance(config, VanerConfig):
            config = VanerConfig.from_pretrained(name_or_path, **hub_kwargs)
        location, gguf_file = adapter_backbone_location(config, name_or_path)
        dtype = kwargs.get("dtype", kwargs.get("torch_dtype"))
        backbone = AutoModel.from_pretrained(
            location,
            gguf_file=gguf_file,
            config=config.backbone_config,
            dtype=torch.float32 if dtype in (None, "auto") else dtype,
            attn_implementation=kwargs.get("attn_implementation", config.backbone_config._attn_implementation),
        )
        model = cls(config, backbone=backbone)
        merge_adapter(model, adapter_weights, read_adapter_config(name_or_path, **hub_kwargs))
        return model.eval()

    def get_input_embeddings(self) -> nn.Module:
        return self.backbone.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.backbone.set_input_embeddings(value)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> TokenClassifierOutput:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
            O/B/I label ids; -100 (instruction tokens, later sub-tokens, special and pad tokens) is ignored.
        """
        if self.config.bidirectional:
            kwargs["is_causal"] = False
        outputs = self.backbone(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            use_cache=False,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            **kwargs,
        )
        hidden = outputs.last_hidden_state
        logits = self.classifier(self.dropout(hidden.to(self.classifier.weight.dtype)))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(
                logits.float().view(-1, logits.size(-1)), labels.to(logits.device).view(-1), ignore_index=-100
            )
        return TokenClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


VanerConfig.register_for_auto_class()
VanerForTokenClassification.register_for_auto_class("AutoModelForTokenClassification")
