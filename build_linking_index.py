"""Build the entity-linking index folder that `linking_vaner.EntityLinker` loads.

One command:

    python build_linking_index.py --output /work/artifacts/vaner-linking-index --copy-embedder

The default embedder is the shipped self-aligned MiniLM (`models/vaner-embedder`, see dbr.embedding.default_embedder);
`--copy-embedder` puts it inside the index folder, so that the folder (or the Hub repo it is pushed to) is complete.

Every KB row (name, id, canonical type via dataset_scripts.entity_types) is embedded with the same encoder the
linker uses for mentions (`linking_vaner.MeanPoolingEncoder`: AutoModel, mean pooling, L2 norm); each distinct
string is encoded once. Rows are grouped by type (Disease, Chemical, Gene, Species) so that each type is one
contiguous slice, and within a type by id prefix (MESH, MONDO, HGNC, ...) so that a prefix filter
is a sub-slice. Embeddings are stored int8 with a per-row scale (row ~= int8 * scale; 384 B + 4 B per name,
~560 MB for the whole KB); names and ids as UTF-8 blobs + offsets; everything `.npy`, opened memory-mapped.

Resumable: encoding is written chunk by chunk into the final memory-mapped arrays and `progress.json` records the
chunks done; `--resume` continues an interrupted build.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from numpy.lib.format import open_memmap

from cli_args import positive_int
from dbr.embedding import default_embedder
from linking.kb import DEFAULT_KB_PATH, load_kb
from linking_vaner import INDEX_FORMAT, LINKING_TYPES, MANIFEST, MeanPoolingEncoder
from precision import resolve_cpu_dtype

DEFAULT_EMBEDDER = default_embedder()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kb", default=str(DEFAULT_KB_PATH))
    p.add_argument("--embedder", default=DEFAULT_EMBEDDER, help="path or Hub id of the (sentence-transformers) embedder")
    p.add_argument("--embedder-name", default=None,
                   help="what the manifest names as embedder (e.g. the Hub id it will live under); default --embedder")
    p.add_argument("--copy-embedder", action="store_true",
                   help="copy the embedder into <output>/embedder so that the index folder is self-contained")
    p.add_argument("--output", default="/work/artifacts/vaner-linking-index")
    p.add_argument("--types", default=",".join(LINKING_TYPES), help="comma-separated canonical types to index")
    p.add_argument("--id-prefixes", default="",
                   help="comma-separated id prefixes to keep (e.g. MESH: a corpus's target vocabulary); default all")
    p.add_argument("--max-seq-length", type=int, default=32)
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"],
                   help="encoder weights dtype (bfloat16: ~4x faster on CPUs with AVX512-BF16, ~5x slower where it is "
                        "emulated, cosine ~0.9999 to float32; auto: bfloat16 only where native); recorded in the "
                        "manifest so that the linker encodes mentions the same way")
    p.add_argument("--precomputed", default=None,
                   help="a float .npy of embeddings of the KB's distinct names in `dbr.kb.load_kb(kb).names` order, made "
                        "with --embedder (e.g. the DBR builder's cache): used instead of encoding")
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--chunk", type=positive_int, default=50000, help="distinct names encoded per resumable chunk")
    p.add_argument("--limit", type=int, default=None, help="index only the first N rows per type (smoke tests)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--resume", action="store_true")
    args = p.parse_args(argv)
    args.dtype = resolve_cpu_dtype(args.dtype)
    if args.copy_embedder and not Path(args.embedder).is_dir():  # checked now, not after hours of encoding
        p.error(f"--copy-embedder needs --embedder to be a local folder, got {args.embedder!r}")
    return args


# what the encoded rows depend on: a resumed build must use the same, or it would mix two encodings in one index
RESUME_SETTINGS = ("kb", "embedder", "precomputed", "types", "id_prefixes", "limit", "max_seq_length", "dtype", "chunk")


def _prepare_output(out: Path, resume: bool, settings: dict, rows: int, distinct: int) -> dict:
    """The build's progress record: the interrupted one to resume, or a fresh one in an emptied `out`.

    Only a folder this script wrote (or an empty one) is ever emptied: `--output` naming some other folder is an
    error, not a deletion."""
    progress_path = out / "progress.json"
    if out.exists() and not out.is_dir():
        raise ValueError(f"--output {out}: a file, not a folder")
    if resume and progress_path.is_file():
        progress = json.loads(progress_path.read_text())
        if progress.get("rows") != rows:
            raise ValueError(f"{progress_path} belongs to another build ({progress.get('rows')} rows, now {rows})")
        started = progress.get("settings", {})
        changed = {k: [started.get(k), v] for k, v in settings.items() if started.get(k) != v}
        if changed:
            raise ValueError(f"--resume: {progress_path} was started with other settings (then, now): {changed}; "
                             "resume with the same ones, or drop --resume to start again")
        return progress
    if resume and (out / MANIFEST).is_file():
        raise ValueError(f"--resume: {out} is a finished index (it has {MANIFEST}); drop --resume to rebuild it")
    if out.exists():
        if any(out.iterdir()) and not ((out / MANIFEST).is_file() or progress_path.is_file()):
            raise ValueError(f"--output {out}: a folder that is neither empty nor a linking index; not emptying it")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    progress = {"rows": rows, "distinct": distinct, "chunks_done": 0, "encode_seconds": 0.0, "settings": settings}
    progress_path.write_text(json.dumps(progress))
    return progress


def _write_strings(folder: Path, stem: str, values) -> None:
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    np.save(folder / f"{stem}_offsets.npy", offsets)
    np.save(folder / f"{stem}_bytes.npy", np.frombuffer(b"".join(encoded), dtype=np.uint8))


def quantize_rows(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-row int8: returns (int8 rows, float32 scales) with vectors ~= rows * scales[:, None]."""
    scales = np.abs(vectors).max(axis=1) / 127.0
    scales[scales == 0] = 1.0
    rows = np.clip(np.rint(vectors / scales[:, None]), -127, 127).astype(np.int8)
    return rows, scales.astype(np.float32)


def build_index(args) -> Path:
    torch.set_num_threads(args.threads)
    out = Path(args.output)
    types = [t.strip() for t in args.types.split(",") if t.strip()]
    unknown = [t for t in types if t not in LINKING_TYPES]
    if unknown:
        raise ValueError(f"unknown types {unknown}; expected some of {list(LINKING_TYPES)}")
    t0 = time.time()
    kb = load_kb(args.kb, types=types)
    prefixes = np.array([i.split(":", 1)[0] if ":" in i else "" for i in kb.ids], dtype=object)
    keep_prefixes = [x.strip().rstrip(":") for x in args.id_prefixes.split(",") if x.strip().rstrip(":")]
    if keep_prefixes:
        available = set(prefixes[np.isin(kb.types, types)].tolist())
        unknown_prefixes = [p for p in keep_prefixes if p not in available]
        if unknown_prefixes:
            raise ValueError(f"--id-prefixes {unknown_prefixes}: no {types} id of {args.kb} has that prefix; "
                             f"it has {sorted(available)}")
    rows_per_type, type_ranges, prefix_ranges, start = [], {}, {}, 0
    for etype in types:
        rows = np.flatnonzero(kb.types == etype)
        if keep_prefixes:
            rows = rows[np.isin(prefixes[rows].astype(str), keep_prefixes)]
        rows = rows[: args.limit] if args.limit else rows
        # within a type, rows are grouped by id prefix (MESH, MONDO, ...): a prefix filter is a sub-range
        rows = rows[np.argsort(prefixes[rows].astype(str), kind="stable")]
        rows_per_type.append(rows)
        type_ranges[etype] = [start, start + len(rows)]
        prefix_ranges[etype] = {}
        for p in dict.fromkeys(prefixes[rows]):
            hits = np.flatnonzero(prefixes[rows] == p)
            prefix_ranges[etype][p] = [start + int(hits[0]), start + int(hits[-1]) + 1]
        start += len(rows)
    order = np.concatenate(rows_per_type) if rows_per_type else np.zeros(0, dtype=np.int64)
    names = kb.names[order]
    ids = kb.ids[order]
    uniq, inverse = np.unique(names.astype(str), return_inverse=True)
    print(f"{len(names):,} names ({len(uniq):,} distinct strings) of types {types}; KB read in {time.time() - t0:.0f}s",
          flush=True)

    settings = {key: getattr(args, key) for key in RESUME_SETTINGS} | {"types": types, "id_prefixes": keep_prefixes}
    progress_path = out / "progress.json"
    progress = _prepare_output(out, args.resume, settings, len(names), len(uniq))

    if args.precomputed:
        from dbr.kb import load_kb as load_dbr_kb

        vectors_of = np.load(args.precomputed, mmap_mode="r")
        position = {name: i for i, name in enumerate(load_dbr_kb(args.kb).names)}
        missing = [u for u in uniq[:1000] if u not in position]
        if missing or vectors_of.shape[0] != len(position):
            raise ValueError(f"{args.precomputed} does not match the KB's distinct names (e.g. missing {missing[:3]})")
        encoder = None
        dims = int(vectors_of.shape[1])
    else:
        encoder = MeanPoolingEncoder.from_pretrained(args.embedder, max_length=args.max_seq_length, dtype=args.dtype)
        dims = encoder.dims
    uniq_path = out / "distinct_embeddings.tmp.npy"
    scale_path = out / "distinct_scales.tmp.npy"
    mode = "r+" if progress["chunks_done"] else "w+"
    emb_u = open_memmap(uniq_path, mode=mode, dtype=np.int8, shape=(len(uniq), dims))
    scl_u = open_memmap(scale_path, mode=mode, dtype=np.float32, shape=(len(uniq),))
    n_chunks = (len(uniq) + args.chunk - 1) // args.chunk
    from tqdm.auto import tqdm

    bar = tqdm(total=len(uniq), initial=min(len(uniq), progress["chunks_done"] * args.chunk), desc="encode names",
               unit="name", mininterval=10, smoothing=0.05)
    for c in range(progress["chunks_done"], n_chunks):
        lo, hi = c * args.chunk, min(len(uniq), (c + 1) * args.chunk)
        t = time.time()
        if encoder is None:
            vectors = np.asarray(vectors_of[[position[u] for u in uniq[lo:hi]]], dtype=np.float32)
        else:
            vectors = encoder.encode(uniq[lo:hi].tolist(), batch_size=args.batch_size)
        emb_u[lo:hi], scl_u[lo:hi] = quantize_rows(vectors)
        emb_u.flush()
        scl_u.flush()
        progress["chunks_done"] = c + 1
        progress["encode_seconds"] += time.time() - t
        progress_path.write_text(json.dumps(progress))
        bar.update(hi - lo)
    bar.close()

    emb = open_memmap(out / "embeddings.npy", mode="w+", dtype=np.int8, shape=(len(names), dims))
    for lo in range(0, len(names), 200000):
        emb[lo : lo + 200000] = emb_u[inverse[lo : lo + 200000]]
    emb.flush()
    np.save(out / "scales.npy", np.asarray(scl_u)[inverse])
    del emb, emb_u, scl_u
    _write_strings(out, "names", names)
    _write_strings(out, "ids", ids)
    np.save(out / "types.npy", np.concatenate([np.full(len(r), i, dtype=np.int8) for i, r in enumerate(rows_per_type)])
            if rows_per_type else np.zeros(0, dtype=np.int8))

    embedder_name = args.embedder_name or args.embedder
    if args.copy_embedder:
        shutil.copytree(args.embedder, out / "embedder", dirs_exist_ok=True, ignore=shutil.ignore_patterns("checkpoints"))
        embedder_name = "embedder"
    manifest = {
        "format": INDEX_FORMAT,
        "embedder": embedder_name,
        "pooling": "mean",
        "normalize": True,
        "max_seq_length": args.max_seq_length,
        "encoder_dtype": args.dtype,
        "precomputed": args.precomputed,
        "dims": dims,
        "count": int(len(names)),
        "distinct_names": int(len(uniq)),
        "types": types,
        "id_prefixes_kept": keep_prefixes or "all",
        "type_ranges": type_ranges,
        "id_prefix_ranges": prefix_ranges,
        "counts": {t: int(r[1] - r[0]) for t, r in type_ranges.items()},
        "embedding_dtype": "int8",
        "embedding_scale": "per-row float32 in scales.npy",
        "kb": str(args.kb),
        "build_command": " ".join(["python", *sys.argv]),
        "encode_seconds": round(progress["encode_seconds"], 1),
        "encode_names_per_second": round(len(uniq) / max(progress["encode_seconds"], 1e-9), 1),
        "build_seconds_this_run": round(time.time() - t0, 1),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    progress_path.unlink()  # only now: until the manifest is written, a failure can still be resumed
    uniq_path.unlink()
    scale_path.unlink()
    print(json.dumps({k: manifest[k] for k in ("count", "distinct_names", "counts", "encode_names_per_second")}), flush=True)
    return out


def main(argv=None):
    build_index(parse_args(argv))


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"build_linking_index.py: error: {error}")
