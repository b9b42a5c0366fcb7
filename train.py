"""Instruction-tune a VANER model on a mixture of BioNER corpora (+ DBR data) with the Hugging Face Trainer.

The paper's variants are flags:
  VANER          --corpora <all> --dbr <DBR folder or Hub id>
  VANER_single   --corpora NCBI-disease --dbr <DBR folder>
  w/o DBR        --dbr none            random DBR   --dbr random --kb <KB tsv.gz>
  length-matched random DBR   --dbr matched --dbr-reference <retrieved DBR folder> --kb <KB tsv.gz>
  VANER_adapt    --no-dataset-name     causal ablation   --causal

Checkpoints are selected on the mean entity F1 over the validation splits (never on test); `--resume`
continues a killed run from its last checkpoint with the same result as an uninterrupted run. The LR is the
paper's constant 2e-4; `--resume CHECKPOINT --decay-from STEP --decay-steps N` branches a cooled-down run off
a constant-LR one (warmup-stable-decay): from that checkpoint the LR falls linearly to zero over N steps, on
the batches the trunk would have seen next, and selects its best among its own checkpoints.
`--time-budget-minutes M` plans the steps instead (a leased GPU):
it measures the step time, then ends the run inside M minutes with the last `--budget-decay-fraction` of its
steps as the linear decay. The final
folder is a complete Hub model repo (code files, config with auto_map, tokenizer, model card); multi-GPU and
multi-node runs use `accelerate launch train.py ...` with no change.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import datasets
import torch
from transformers import DataCollatorForTokenClassification, TrainerCallback, TrainingArguments, set_seed

from adapter_vaner import read_adapter_config
from backbones import DEFAULT_BACKBONE, load_tokenizer, resolve_backbone
from benchmarks.common import git_revision, machine
from cli_args import check_corpora_args, positive_int
from configuration_vaner import DEFAULT_ENTITY_TYPES, VanerConfig
from dataset_scripts import build_instruction_examples, load_corpus, mixture_config_fields, split_instruction_examples
from dataset_scripts.entity_types import corpus_entity_type
from dbr.export import load_config, read_build_info
from dev_selection import (
    DecayAsGiven,
    DevF1Trainer,
    FitStepsToTimeBudget,
    StableThenLinearDecay,
    dev_selected_training_arguments,
    training_seconds,
)
from evaluation import evaluate_examples
from lora import add_lora, four_bit_config, load_lora, save_lora
from model_card import learning_rate_schedule, lora_summary, write_model_card
from modeling_vaner import VanerForTokenClassification
from precision import warn_if_slow_bf16
from processing_vaner import window_features

logger = logging.getLogger("vaner.train")

PAPER_CORPORA = ["NCBI-disease", "BC5CDR-disease", "BC5CDR-chem", "BC2GM", "JNLPBA", "linnaeus", "s800"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = parser.add_argument_group("data")
    data.add_argument("--corpora", nargs="+", default=PAPER_CORPORA, help="training corpora (builder names)")
    data.add_argument("--data-dir", default="../shared/data/bioner", help="folder with <corpus>/{train,dev,test}.tsv")
    data.add_argument(
        "--dbr", default="none", help="DBR dataset folder or Hub id (build_dbr.py), 'random', 'matched', or 'none'"
    )
    data.add_argument("--kb", default="../shared/data/kb/biomed_entity_kb.tsv.gz", help="KB for --dbr random|matched")
    data.add_argument(
        "--dbr-reference",
        default="artifacts/dbr/vaner-dbr-minilm",
        help="--dbr matched: the retrieved DBR build whose names it swaps for random ones of equal length",
    )
    data.add_argument("--no-dataset-name", action="store_true", help="instructions without dataset names (adapt)")
    data.add_argument("--max-train-examples", type=int, help="cap training examples per corpus (quick runs)")
    data.add_argument("--max-eval-sentences", type=int, help="cap validation sentences per corpus during training")
    model = parser.add_argument_group("model")
    model.add_argument("--backbone", default=DEFAULT_BACKBONE, help="HF folder, Hub id, .gguf file, or gemma3-270m")
    model.add_argument("--gguf-file", help="GGUF file inside --backbone")
    model.add_argument("--causal", action="store_true", help="keep the causal mask (ablation baseline)")
    model.add_argument("--attn-implementation", default="sdpa", choices=["eager", "sdpa", "flash_attention_2"])
    model.add_argument("--bf16", action="store_true", help="bf16 backbone weights (LoRA and head stay fp32)")
    model.add_argument("--load-in-4bit", action="store_true", help="NF4 backbone (bitsandbytes)")
    model.add_argument("--no-lora", action="store_true", help="full fine-tuning (embeddings frozen)")
    model.add_argument("--init-adapter", metavar="DIR",
                       help="start from a trained adapter (LoRA + head: a shipped model folder or a run's adapter/) "
                            "instead of a fresh one, e.g. to adapt a released model to new corpora or instructions; "
                            "the entity types (and dataset names) it knew stay in the new config")
    model.add_argument("--lora-r", type=int, default=16)
    model.add_argument("--lora-alpha", type=int, default=32)
    model.add_argument("--lora-dropout", type=float, default=0.05)
    model.add_argument("--max-length", type=int, default=128)
    model.add_argument("--stride", type=int, default=32)
    model.add_argument("--context-sentences", type=int, default=0, metavar="N",
                       help="read each corpus sentence with its N preceding sentences before the instruction "
                            "(config.context_sentences; 0: each sentence alone, as the paper); give --max-length room")
    train = parser.add_argument_group("training")
    train.add_argument("--output-dir", required=True)
    train.add_argument("--epochs", type=float, default=3.0)
    train.add_argument("--max-steps", type=int, default=-1, help="overrides --epochs when > 0")
    train.add_argument("--learning-rate", type=float, default=2e-4)
    train.add_argument("--decay-from", type=int, metavar="STEP",
                       help="keep the LR constant until STEP, then decay it linearly to 0 over --decay-steps "
                            "(the run ends at STEP + N; default: constant LR for the whole run)")
    train.add_argument("--decay-steps", type=int, metavar="N", help="length of the linear decay (with --decay-from)")
    train.add_argument("--time-budget-minutes", type=float, metavar="M",
                       help="fit the run into M wall-clock minutes: after --budget-probe-steps steps, fix the last "
                            "step from the measured step time (instead of --epochs/--max-steps/--decay-*)")
    train.add_argument("--budget-decay-fraction", type=float, default=0.5,
                       help="with --time-budget-minutes: share of the planned steps that decay the LR to 0")
    train.add_argument("--budget-probe-steps", type=int, default=50, help="steps timed before the plan is fixed")
    train.add_argument("--batch-size", type=positive_int, default=8)
    train.add_argument("--eval-batch-size", type=positive_int, default=32)
    train.add_argument("--eval-steps", type=int, default=500, help="evaluate and checkpoint every N steps")
    train.add_argument("--logging-steps", type=int, default=50)
    train.add_argument("--save-total-limit", type=int, default=3)
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                       help="continue from the last checkpoint in --output-dir, or from CHECKPOINT (a checkpoint-N "
                            "folder of this or another run: a branch keeps its own --output-dir)")
    train.add_argument("--save-adapter-only", action="store_true", help="final folder holds the LoRA adapter + head")
    train.add_argument("--push-to-hub", metavar="REPO", help="upload the final model folder to this Hub repo")
    train.add_argument("--cache-dir", help="cache for converted backbones and datasets")
    args = parser.parse_args(argv)
    check_corpora_args(parser, args)
    if args.no_lora and args.load_in_4bit:
        parser.error("--load-in-4bit needs LoRA (a 4-bit backbone cannot be fine-tuned in full)")
    if args.no_lora and args.save_adapter_only:
        parser.error("--save-adapter-only needs LoRA")
    if args.context_sentences < 0:
        parser.error(f"--context-sentences {args.context_sentences}: expected a number of sentences >= 0")
    if args.init_adapter and args.no_lora:
        parser.error("--init-adapter needs LoRA")
    if args.init_adapter and not (Path(args.init_adapter) / "adapter_config.json").is_file():
        parser.error(f"--init-adapter {args.init_adapter}: no adapter_config.json there")
    if args.init_adapter:
        try:  # before any data is read: the new config is built from this one
            init_adapter_config(args.init_adapter)
        except FileNotFoundError as error:
            parser.error(str(error))
    if (args.decay_from is None) != (args.decay_steps is None):
        parser.error("--decay-from and --decay-steps go together")
    if args.decay_from is not None and (args.decay_from < 0 or args.decay_steps <= 0):
        parser.error(f"--decay-from {args.decay_from} --decay-steps {args.decay_steps}: need STEP >= 0 and N > 0")
    if args.time_budget_minutes is not None:
        if args.decay_from is not None or args.max_steps > 0:
            parser.error("--time-budget-minutes plans the steps itself: drop --decay-from/--decay-steps/--max-steps")
        try:
            FitStepsToTimeBudget(args.time_budget_minutes * 60, StableThenLinearDecay(0, 1),
                                 args.budget_decay_fraction, args.budget_probe_steps)
        except ValueError as error:
            parser.error(f"--time-budget-minutes/--budget-*: {error}")
    if isinstance(args.resume, str) and not (Path(args.resume) / "trainer_state.json").is_file():
        parser.error(f"--resume {args.resume}: no trainer_state.json there (expected a checkpoint-N folder)")
    return args


def load_examples(args: argparse.Namespace) -> tuple[datasets.Dataset, dict[str, datasets.Dataset], dict]:
    """Instruction-ready training mixture (+ DBR) and one instruction-ready validation set per corpus."""
    corpora = {name: load_corpus(name, data_dir=args.data_dir, cache_dir=args.cache_dir) for name in args.corpora}
    use_names = not args.no_dataset_name
    train_parts = [dd["train"] for dd in corpora.values()]
    train_parts += load_dbr(args)
    reading = VanerConfig(context_sentences=args.context_sentences)  # the instructions the model will be read with
    train = build_instruction_examples(
        train_parts, reading, use_dataset_names=use_names, seed=args.seed,
        max_examples_per_corpus=args.max_train_examples,
    )
    dev = {}
    for name, dd in corpora.items():
        dev[name] = split_instruction_examples(dd["validation"], use_dataset_names=use_names,
                                               max_sentences=args.max_eval_sentences, config=reading)
    fields = mixture_config_fields([dd["train"] for dd in corpora.values()], use_dataset_names=use_names)
    return train, dev, {**fields, "context_sentences": args.context_sentences}


def load_dbr(args: argparse.Namespace) -> list[datasets.Dataset]:
    """The DBR examples for the training corpora: none, a built folder / Hub dataset, or a random variant."""
    if args.dbr == "none":
        return []
    source = str(build_kb_sampled_dbr(args)) if args.dbr in ("random", "matched") else args.dbr
    parts = []
    for corpus in args.corpora:
        try:
            parts.append(load_config(source, corpus, cache_dir=args.cache_dir))
        except ValueError as error:
            raise SystemExit(f"--dbr {args.dbr}: no DBR config for corpus {corpus!r} ({error})") from error
    return parts


def build_kb_sampled_dbr(args: argparse.Namespace) -> Path:
    """The `random` DBR ablation (names drawn at random from the KB, seeded) or its length-`matched` control."""
    from build_dbr import build_dbr, load_sources
    from dbr.assembly import AssemblyOptions
    from dbr.kb import load_kb

    folder = Path(args.output_dir) / f"dbr-{args.dbr}"
    reference = args.dbr_reference if args.dbr == "matched" else None
    wanted = {"variant": args.dbr, "seed": args.seed, "reference": reference, "kb": str(args.kb),
              "corpora": list(args.corpora)}
    built = read_build_info(folder)
    if built is None:
        options = AssemblyOptions(variant=args.dbr, seed=args.seed, reference=reference)
        build_dbr(load_sources(args.corpora, args.data_dir), load_kb(args.kb, seed=args.seed), folder, options,
                  build_info={"kb": wanted["kb"], "corpora": wanted["corpora"]})
        return folder
    # a resumed run reuses its build; one with other settings must not train on it (builds before the kb and
    # corpora were recorded are compared on what they recorded)
    differing = {key: [built[key], value] for key, value in wanted.items() if key in built and built[key] != value}
    if differing:
        raise SystemExit(f"--dbr {args.dbr}: {folder} was built with other settings (then, now): {differing}; "
                         "give another --output-dir, or delete that folder to rebuild it")
    return folder


def featurize(examples: datasets.Dataset, tokenizer, max_length: int, stride: int) -> datasets.Dataset:
    """Token features for training: one row per window, labels on first sub-tokens, and a length column."""

    def encode(batch: dict) -> dict:
        return window_features(tokenizer, batch["instruction"], batch["tokens"], batch["labels"], max_length, stride)

    return examples.map(encode, batched=True, remove_columns=examples.column_names, desc="tokenise + align")


def build_model(args: argparse.Namespace, config_fields: dict):
    location = resolve_backbone(args.backbone, args.gguf_file, args.cache_dir)
    tokenizer = load_tokenizer(location)
    warn_if_slow_bf16(args.bf16, "cuda" if torch.cuda.is_available() else "cpu")
    backbone_kwargs = {
        "attn_implementation": args.attn_implementation,
        "dtype": torch.bfloat16 if args.bf16 else torch.float32,
    }
    if args.load_in_4bit:
        backbone_kwargs["quantization_config"] = four_bit_config()
    model = VanerForTokenClassification.from_backbone(
        location,
        backbone_kwargs=backbone_kwargs,
        bidirectional=not args.causal,
        max_length=args.max_length,
        stride=args.stride,
        **config_fields,
    )
    model.classifier.float()
    model.get_input_embeddings().requires_grad_(False)
    if args.init_adapter:  # LoRA rank/alpha/dropout come from the adapter's own config
        model = load_lora(model, args.init_adapter, is_trainable=True)
    elif not args.no_lora:
        model = add_lora(model, r=args.lora_r, alpha=args.lora_alpha, dropout=args.lora_dropout)
    return model, tokenizer, location


def score_dev_corpus(tokenizer, eval_batch_size: int):
    """Dev scoring for the Trainer: entity F1 on words, instructed and windowed exactly like the pipeline."""

    def score(model, corpus: str, examples: datasets.Dataset) -> dict:
        return evaluate_examples(model, tokenizer, examples, eval_batch_size, f"dev {corpus}")[0]

    return score


UNPLANNED_STEPS = 10**9  # a budgeted run's step cap until FitStepsToTimeBudget fixes the real last step


def training_arguments(args: argparse.Namespace) -> TrainingArguments:
    return dev_selected_training_arguments(
        args.output_dir,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        epochs=args.epochs,
        max_steps=last_step(args),
        eval_steps=args.eval_steps,
        logging_steps=args.logging_steps,
        save_total_limit=args.save_total_limit,
        seed=args.seed,
    )


def last_step(args: argparse.Namespace) -> int:
    """The step cap TrainingArguments get: a cooldown ends when its decay does, a budgeted run's end is planned."""
    if args.time_budget_minutes is not None:
        return UNPLANNED_STEPS
    if args.decay_from is not None:
        return args.decay_from + args.decay_steps
    return args.max_steps


def lr_schedule_and_callbacks(args: argparse.Namespace) -> tuple[StableThenLinearDecay | None, list[TrainerCallback]]:
    """The LR decay of a `--decay-from` run, or the planned one of a `--time-budget-minutes` run (constant LR until
    the plan is fixed); None (constant LR) otherwise."""
    if args.decay_from is not None:
        schedule = StableThenLinearDecay(args.decay_from, args.decay_steps)
        return schedule, [DecayAsGiven(schedule)]
    if args.time_budget_minutes is None:
        return None, []
    schedule = StableThenLinearDecay(UNPLANNED_STEPS, 1)
    budget = FitStepsToTimeBudget(args.time_budget_minutes * 60, schedule, args.budget_decay_fraction,
                                  args.budget_probe_steps)
    return schedule, [budget]


def last_checkpoint(output_dir: Path) -> str | None:
    checkpoints = sorted((output_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(checkpoints[-1]) if checkpoints else None


def checkpoint_to_resume(resume: bool | str, output_dir: Path) -> str | None:
    """`--resume CHECKPOINT` names it; a bare `--resume` takes the run's own last one."""
    if isinstance(resume, str):
        return resume
    return last_checkpoint(output_dir) if resume else None


def save_final(trainer: DevF1Trainer, args: argparse.Namespace, tokenizer, summary: dict) -> Path:
    """The final Hub folder: merged model (or adapter + head), tokenizer, code files, metrics, model card."""
    final_dir = Path(args.output_dir) / "model"
    model = trainer.model
    if args.no_lora:
        model.save_pretrained(final_dir)
        tokenizer.save_pretrained(final_dir)
    else:
        save_lora(model, Path(args.output_dir) / "adapter", tokenizer)
        save_lora(model, final_dir, tokenizer, merged=not args.save_adapter_only)
    (final_dir / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    write_model_card(final_dir / "README.md", summary)
    return final_dir


def init_adapter_config(init_adapter: str) -> VanerConfig:
    """The VanerConfig of an `--init-adapter` folder: its own config.json (a shipped folder) or, for a run's
    `adapter/`, the run folder's. Checked by model type, since a folder without one would load as defaults."""
    for folder in (Path(init_adapter), Path(init_adapter).parent):
        config_file = folder / "config.json"
        if config_file.is_file() and json.loads(config_file.read_text()).get("model_type") == VanerConfig.model_type:
            return VanerConfig.from_pretrained(folder)
    raise FileNotFoundError(f"--init-adapter {init_adapter}: no VANER config.json in it or its parent run folder")


def keep_init_adapter_knowledge(config_fields: dict, init_adapter: str, use_dataset_names: bool) -> dict:
    """The run's config fields, plus the entity types (and, when instructions name datasets, the datasets) that
    the `--init-adapter` model already knew.

    Training a released model further on a few corpora does not make it forget the other types: without this its
    config would list only the new corpora's types, and the pipeline would stop offering the rest.
    """
    init = init_adapter_config(init_adapter)
    known = set(config_fields["entity_types"]) | set(init.entity_types)
    extra = [t for t in init.entity_types if t not in DEFAULT_ENTITY_TYPES]
    fields = {**config_fields, "entity_types": [t for t in DEFAULT_ENTITY_TYPES if t in known] + extra}
    if use_dataset_names:
        new_names = [n for n in config_fields["dataset_names"] if n not in init.dataset_names]
        fields["dataset_names"] = list(init.dataset_names) + new_names
        fields["dataset_entity_types"] = {**init.dataset_entity_types, **config_fields["dataset_entity_types"]}
    return fields


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    set_seed(args.seed)  # the head and LoRA initialisations must be the same in a fresh and a resumed run
    train_examples, dev_sets, config_fields = load_examples(args)
    trained_types = {corpus_entity_type(name) for name in args.corpora}
    config_fields["entity_types"] = [t for t in DEFAULT_ENTITY_TYPES if t in trained_types]
    if args.init_adapter:
        config_fields = keep_init_adapter_knowledge(config_fields, args.init_adapter, not args.no_dataset_name)
    model, tokenizer, location = build_model(args, config_fields)
    # only now: a call that fails on its data or backbone must not overwrite a run's recorded arguments
    (output_dir / "train_args.json").write_text(json.dumps(vars(args), indent=2) + "\n")
    model.config.save_pretrained(output_dir)  # the run's VanerConfig, for export_model.py ship
    features = featurize(train_examples, tokenizer, args.max_length, args.stride)
    logger.info("%d training examples -> %d windows; dev: %s", len(train_examples), len(features),
                {c: len(d) for c, d in dev_sets.items()})

    lr_schedule, schedule_callbacks = lr_schedule_and_callbacks(args)
    trainer = DevF1Trainer(
        model=model,
        args=training_arguments(args),
        train_dataset=features,
        eval_dataset=next(iter(dev_sets.values())),
        data_collator=DataCollatorForTokenClassification(tokenizer, label_pad_token_id=-100),
        processing_class=tokenizer,
        dev_sets=dev_sets,
        score_corpus=score_dev_corpus(tokenizer, args.eval_batch_size),
        lr_schedule=lr_schedule,
        callbacks=schedule_callbacks,
    )
    resume_from = checkpoint_to_resume(args.resume, output_dir)
    if args.resume is True and resume_from is None:
        logger.info("--resume: no checkpoint in %s yet, starting from scratch", output_dir / "checkpoints")
    train_output = trainer.train(resume_from_checkpoint=resume_from)
    if lr_schedule is not None:  # the card and summary show the schedule the run followed (a budget plans it)
        args.decay_from, args.decay_steps = lr_schedule.decay_from, lr_schedule.decay_steps
    if trainer.state.best_model_checkpoint:  # the final '[eval step N]' line scores this checkpoint, not step N
        logger.info("final evaluation: dev-selected %s", trainer.state.best_model_checkpoint)
    final_metrics = trainer.evaluate()
    if not trainer.is_world_process_zero():  # several processes (torchrun / accelerate): one writes and pushes
        return Path(args.output_dir) / "model"
    runtime = train_output.metrics.get("train_runtime", 0.0)
    runtime_all_segments = training_seconds([*trainer.state.log_history, {"train_runtime": runtime}])
    summary = {
        "backbone": args.backbone,
        "backbone_location": location,
        "corpora": args.corpora,
        "entity_types": config_fields["entity_types"],
        "dbr": args.dbr,
        "dataset_names_in_instructions": not args.no_dataset_name,
        "context_sentences": args.context_sentences,
        "bidirectional": not args.causal,
        "lora": lora_summary(vars(args), read_adapter_config(args.init_adapter) if args.init_adapter else None),
        "init_adapter": args.init_adapter,
        "learning_rate_schedule": learning_rate_schedule(vars(args)),
        "global_step": trainer.state.global_step,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "best_global_step": trainer.state.best_global_step if trainer.state.best_model_checkpoint else None,
        "train_runtime_seconds": runtime_all_segments,
        "train_runtime_seconds_this_run": runtime,
        "steps_per_second": train_output.metrics.get("train_steps_per_second"),
        "non_pad_tokens_seen": trainer.state.num_input_tokens_seen,
        "non_pad_tokens_per_second": (
            round(trainer.state.num_input_tokens_seen / runtime_all_segments, 1) if runtime_all_segments else None
        ),
        "dev_metrics": final_metrics,
        "resumed_from": resume_from,
        "time_budget_plan": next((c.plan for c in schedule_callbacks if isinstance(c, FitStepsToTimeBudget)), None),
        # the code and machine of the segment that finished the run (an earlier segment may have run elsewhere)
        "git_revision": git_revision(),
        "machine": machine(),
    }
    final_dir = save_final(trainer, args, tokenizer, summary)
    print(f"saved {final_dir}", flush=True)
    if args.push_to_hub:
        from huggingface_hub import HfApi

        api = HfApi()
        api.create_repo(args.push_to_hub, exist_ok=True)
        api.upload_folder(repo_id=args.push_to_hub, folder_path=str(final_dir))
    return final_dir


if __name__ == "__main__":
    main(sys.argv[1:])
