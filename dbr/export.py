"""Write DBR rows as a Hugging Face dataset folder (parquet shards + dataset card) and push it to the Hub.

Layout: `<folder>/<source corpus>/train-0000i-of-0000n.parquet` and a `README.md` whose YAML `configs:` names
one config per source corpus (the first is the default), so `datasets.load_dataset(folder, name)` works with
no code of ours, locally and on the Hub. The parquet files carry the `datasets` features (ClassLabel O/B/I),
so `ner_tags` loads exactly like the real corpora from `dataset_scripts.load_corpus`. Our own code reads a config
back with `load_config`, which keys the cache on the files rather than on the folder's name.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from datasets import ClassLabel, Dataset, Features, List, Value, load_dataset
from tqdm.auto import tqdm

from folder_swap import replaced_when_done

__all__ = ["DBR_FEATURES", "write_dataset_folder", "read_build_info", "push_folder", "load_config"]

DBR_FEATURES = Features(
    {
        "id": Value("string"),
        "tokens": List(Value("string")),
        "ner_tags": List(ClassLabel(names=["O", "B", "I"])),
        "corpus": Value("string"),
        "entity_type": Value("string"),
        "source_corpus": Value("string"),
        "source_id": Value("string"),
        "kb_ids": List(Value("string")),
    }
)
SHARD_ROWS = 50_000


def _write_config(rows: list[dict], folder: Path, config: str) -> int:
    """Write one config's rows as parquet shards; returns the number of shards."""
    dataset = Dataset.from_list(rows, features=DBR_FEATURES)
    shards = max(1, math.ceil(len(rows) / SHARD_ROWS))
    (folder / config).mkdir(parents=True, exist_ok=True)
    for i in range(shards):
        dataset.shard(shards, i, contiguous=True).to_parquet(folder / config / f"train-{i:05d}-of-{shards:05d}.parquet")
    return shards


def _card(configs: dict[str, int], build_info: dict) -> str:
    lines = ["---", "configs:"]
    for n, (config, count) in enumerate(configs.items()):
        lines += [f"- config_name: {config}", "  data_files:", "  - split: train"]
        lines.append(f"    path: {config}/train-*.parquet")
        if n == 0:
            lines.append("  default: true")
    lines += ["task_categories:", "- token-classification", "tags:", "- biomedical", "- ner", "- vaner", "---", ""]
    lines += [
        "# VANER Dense Bioentities Recognition (DBR) data",
        "",
        "Dense pseudo-sentences of knowledge-base entity names (Bian et al. 2024, VANER): names of the instructed",
        "type are tagged B/I, names of other types are O. One config per source corpus (its training sentences",
        "drove the retrieval); every row has `corpus` = `DBR`, `entity_type`, `source_corpus`, `source_id`,",
        "`kb_ids` (one KB id per inserted name, in order).",
        "",
        "| config | rows |",
        "|---|---|",
        *[f"| {config} | {count} |" for config, count in configs.items()],
        "",
        "Build settings:",
        "",
        "```json",
        json.dumps(build_info, indent=2, sort_keys=True),
        "```",
        "",
    ]
    return "\n".join(lines)


def write_dataset_folder(rows_by_config: dict[str, list[dict]], folder: str | Path, build_info: dict) -> Path:
    """Write every config's rows and the dataset card; configs with no rows are left out.

    The folder is written beside `folder` and swapped in when complete: a rebuild with fewer corpora must not
    leave the old build's configs loadable, nor a failed one a mix of old and new shards under the old card. A
    folder that holds something other than a DBR build is refused, not replaced."""
    folder = Path(folder)
    counts = {c: len(r) for c, r in rows_by_config.items() if r}
    if not counts:
        raise ValueError("no DBR rows to write: every source sentence produced an empty dense sentence")
    with replaced_when_done(folder, "building", lambda f: read_build_info(f) is not None, "a DBR build") as staging:
        for config in tqdm(counts, desc="Writing parquet", leave=False):
            _write_config(rows_by_config[config], staging, config)
        (staging / "README.md").write_text(_card(counts, build_info), encoding="utf-8")
    return folder


def read_build_info(folder: str | Path) -> dict | None:
    """The build settings a DBR folder's card records (`write_dataset_folder`'s `build_info`), None for a folder
    that is not a DBR build."""
    card = Path(folder) / "README.md"
    if not card.is_file():
        return None
    text = card.read_text(encoding="utf-8")
    start = text.find("Build settings:\n\n```json\n")
    if start < 0:
        return None
    body = text[start:].split("```json\n", 1)[1].split("\n```", 1)[0]
    return json.loads(body)


def push_folder(folder: str | Path, repo_id: str, private: bool = False) -> str:
    """Upload exactly `folder` to the Hub dataset repo `repo_id` (created when missing); returns its URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset")
    return f"https://huggingface.co/datasets/{repo_id}"


def load_config(source: str | Path, corpus: str, cache_dir: str | None = None) -> Dataset:
    """One source corpus' DBR rows, from a folder written by `write_dataset_folder` or a Hub dataset repo.

    A local folder is read through its parquet files, not `load_dataset(folder, name)`: datasets caches a local
    folder under its base name and card only, so a second build in a folder of the same name (every `dbr-random`
    of the ablations) or a rebuild in place would load the first build's rows. The parquet builder keys its cache
    on each file's path and mtime. Raises ValueError when the source has no config for `corpus`.
    """
    folder = Path(source)
    if folder.is_dir():
        files = sorted(str(path) for path in (folder / corpus).glob("train-*.parquet"))
        if not files:
            raise ValueError(f"{folder} has no {corpus}/train-*.parquet")
        return load_dataset("parquet", data_files=files, split="train", cache_dir=cache_dir)
    return load_dataset(str(source), name=corpus, split="train", cache_dir=cache_dir)
