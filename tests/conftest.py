"""Shared fixtures: a tiny fast tokenizer trained in the test and tiny random-init VANER models (no downloads)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

# datasets caches `load_dataset(local_folder)` by the folder's base name, and pytest's tmp folders repeat their
# names from run to run (out0, test_..._0): a cache private to this session keeps a test from reading rows an
# earlier run wrote. Set before anything imports datasets, which reads the variable at import.
os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="vaner-tests-datasets-")
atexit.register(shutil.rmtree, os.environ["HF_DATASETS_CACHE"], ignore_errors=True)

import pytest  # noqa: E402
import torch  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers  # noqa: E402
from transformers import PreTrainedTokenizerFast  # noqa: E402
from transformers.modeling_outputs import TokenClassifierOutput  # noqa: E402

from configuration_vaner import VanerConfig  # noqa: E402
from modeling_vaner import VanerForTokenClassification  # noqa: E402

def write_corpus(root: Path, name: str, train: str, dev: str = "x\tO\n", test: str = "x\tO\n") -> Path:
    """A corpus folder `root/name` with the three split files (text given without the final empty line)."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for split, text in (("train", train), ("dev", dev), ("test", test)):
        (folder / f"{split}.tsv").write_text(text + "\n", encoding="utf-8")
    return folder


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


def _first_token_id(tokenizer, word: str) -> int:
    token_id = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(" " + word)[0])
    assert token_id != tokenizer.unk_token_id
    return token_id


def oracle_model(model, tokenizer, target_word: str, calls: list, inside_word: str | None = None):
    """Make the model tag B on the first sub-token of `target_word`, I on that of `inside_word` (if given) and O
    elsewhere, counting forward calls."""
    target_id = _first_token_id(tokenizer, target_word)
    inside_id = None if inside_word is None else _first_token_id(tokenizer, inside_word)

    def forward(input_ids=None, attention_mask=None, **kwargs):
        calls.append(tuple(input_ids.shape))
        logits = torch.zeros((*input_ids.shape, 3))
        logits[..., 0] = 5.0
        logits[..., 1] = torch.where(input_ids == target_id, 10.0, 0.0)
        if inside_id is not None:
            logits[..., 2] = torch.where(input_ids == inside_id, 10.0, 0.0)
        return TokenClassifierOutput(logits=logits)

    model.forward = forward
    return model
