"""Write a trained embedder (train_embedder.py output) as the committed offline default: fp16 weights + model card.

    python ship_embedder.py --source /work/artifacts/vaner-embedder-nen --output models/vaner-embedder \
        --results benchmarks/results/embedder_training.json benchmarks/results/embedder_nen.json \
        --linking benchmarks/results/linking_nen.json

fp16 halves the folder (about 45 MB) at no measurable cost: `SentenceTransformer(path)` loads it as float32
(config.json says so) and cosine similarities match the float32 model to about 1e-3. The card lists how the
model was trained and what it scored, from the results files of the runs that made it.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

__all__ = ["ship_embedder", "render_card"]

WEIGHTS = "model.safetensors"


def render_card(records: list[dict], linking: dict | None) -> str:
    """The model card: the training commands and held-out synonym retrieval of each stage, and linking acc@1."""
    lines = [
        "---", "library_name: sentence-transformers", "pipeline_tag: sentence-similarity",
        "tags: [biomedical, entity-linking, vaner]", "---", "",
        "# VANER-HF self-aligned biomedical embedder (all-MiniLM-L6-v2, tuned offline)", "",
        "all-MiniLM-L6-v2 fine-tuned SapBERT-style on synonym groups of the open KB (names sharing an id), then on "
        "gold train/dev mentions of NCBI-disease and BC5CDR paired with KB names of their id. Weights stored in "
        "fp16, loaded as float32. Offline default embedder of `build_dbr.py` and `build_linking_index.py`.", "",
        "```python", "from sentence_transformers import SentenceTransformer",
        'model = SentenceTransformer("models/vaner-embedder")', "```", "", "## Training", "",
    ]
    for record in records:
        after = record.get("after", {}).get("all", {})
        lines += [f"- `{record['command']}` ({record.get('train', {}).get('seconds_this_run', '?')} s): held-out "
                  f"synonyms acc@1 {after.get('acc@1', float('nan')):.2f} / acc@5 {after.get('acc@5', float('nan')):.2f}"]
        if record.get("before"):
            before = record["before"]["all"]
            lines[-1] += f" (base model: {before['acc@1']:.2f} / {before['acc@5']:.2f})"
    if linking:
        lines += ["", "## Linking gold mentions (acc@1, MESH candidates, abbreviations expanded, train dictionary)", "",
                  "| index (embedder) | set | type | acc@1 | acc@5 | ceiling |", "|---|---|---|---:|---:|---:|"]
        for label, entry in linking["indexes"].items():
            embedder = "/".join(Path(entry.get("manifest", {}).get("embedder") or "?").parts[-2:])
            for key, per_type in entry.get("nen_abbreviations_train_dictionary", {}).items():
                for etype, r in per_type.items():
                    if "acc@1" in r:
                        lines.append(f"| {label} ({embedder}) | {key} | {etype} | {r['acc@1']:.2f} | {r['acc@5']:.2f} | "
                                     f"{r['ceiling']:.2f} |")
        lines += ["", f"From `{linking['command']}` (git {linking['git_revision'][:12]})."]
    return "\n".join(lines) + "\n"


def ship_embedder(source: str | Path, output: str | Path, records: list[dict], linking: dict | None = None) -> Path:
    source, output = Path(source), Path(output)
    if not (source / "modules.json").is_file() or not (source / WEIGHTS).is_file():
        raise FileNotFoundError(f"--source {source}: not a sentence-transformers folder with {WEIGHTS}")
    if output.exists():
        shutil.rmtree(output)
    shutil.copytree(source, output, ignore=shutil.ignore_patterns("checkpoints", WEIGHTS, "README.md"))
    tensors = {k: v.half() if v.is_floating_point() else v for k, v in load_file(source / WEIGHTS).items()}
    save_file(tensors, output / WEIGHTS, metadata={"format": "pt"})
    config = json.loads((output / "config.json").read_text())
    config["dtype"] = config["torch_dtype"] = "float32"  # load (and run) in float32 on CPU
    (output / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (output / "README.md").write_text(render_card(records, linking))
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, help="train_embedder.py --output folder")
    parser.add_argument("--output", default="models/vaner-embedder")
    parser.add_argument("--results", nargs="*", default=[], help="train_embedder.py results JSON of each stage, in order")
    parser.add_argument("--linking", help="linking_benchmark.py results JSON of an index built with this embedder")
    args = parser.parse_args(argv)
    records = [json.loads(Path(path).read_text()) for path in args.results]
    linking = json.loads(Path(args.linking).read_text()) if args.linking else None
    print(ship_embedder(args.source, args.output, records, linking))


if __name__ == "__main__":
    main()
