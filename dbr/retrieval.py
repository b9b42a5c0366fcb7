"""Top-K nearest KB names for query phrases by cosine (inner product of L2-normalised embeddings).

Three back ends, compared in `benchmarks/dbr_benchmark.py` on the full 1.4 M-name KB on this 2-core machine:
* `exact`: batched numpy matmul over float16 KB chunks cast to float32 (no index, no extra memory);
* `flat`:  faiss IndexFlatIP (exact, float32 copy of the KB in RAM, BLAS matmul);
* `ivf`:   faiss IndexIVFScalarQuantizer (fp16 codes, `nlist` k-means cells, `nprobe` cells searched),
           approximate, orders of magnitude more queries/s; its recall@K against `flat` is measured.
`auto` picks `flat` for small KBs (quick runs, tests) and `ivf` for large ones. Built indexes are cached
next to the KB embedding they were built from.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

__all__ = ["INDEX_KINDS", "choose_index_kind", "exact_search", "build_index", "cached_index", "search"]

INDEX_KINDS = ("auto", "exact", "flat", "ivf")
IVF_MIN_SIZE = 200_000  # below this, exact search is fast enough and the k-means training is not worth it
ADD_CHUNK = 65_536


def choose_index_kind(kind: str, kb_size: int) -> str:
    if kind not in INDEX_KINDS:
        raise ValueError(f"--index must be one of {INDEX_KINDS}, got {kind!r}")
    if kind != "auto":
        return kind
    return "ivf" if kb_size >= IVF_MIN_SIZE else "flat"


def exact_search(
    kb: np.ndarray, queries: np.ndarray, k: int, kb_chunk: int = 131_072
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product, streaming the (memory-mapped) KB in chunks; returns (scores, ids)."""
    k = min(k, len(kb))
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), k), dtype=np.int64)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    for start in range(0, len(kb), kb_chunk):
        scores = queries @ np.asarray(kb[start : start + kb_chunk], dtype=np.float32).T
        top = _top_columns(scores, k)
        merged_scores = np.hstack([best_scores, np.take_along_axis(scores, top, axis=1)])
        merged_ids = np.hstack([best_ids, top + start])
        keep = np.argpartition(-merged_scores, k - 1, axis=1)[:, :k]
        best_scores = np.take_along_axis(merged_scores, keep, axis=1)
        best_ids = np.take_along_axis(merged_ids, keep, axis=1)
    order = np.argsort(-best_scores, axis=1)
    return np.take_along_axis(best_scores, order, axis=1), np.take_along_axis(best_ids, order, axis=1)


def _top_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the (unordered) k largest scores per row; all columns when there are at most k."""
    if scores.shape[1] <= k:
        return np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    return np.argpartition(-scores, k - 1, axis=1)[:, :k]


def _ivf_nlist(kb_size: int) -> int:
    """About 2*sqrt(N) cells, a power of two, capped at 2048 so k-means training stays ~1 min on 2 cores."""
    return int(min(2048, max(16, 2 ** round(math.log2(2 * math.sqrt(kb_size))))))


def build_index(kb: np.ndarray, kind: str, seed: int = 0, nprobe: int = 16):
    """A faiss index (`flat` or `ivf`) over the L2-normalised KB embeddings, added in float32 chunks."""
    import faiss

    dim = kb.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "ivf":
        nlist = _ivf_nlist(len(kb))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, nlist, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        sample = np.sort(np.random.default_rng(seed).choice(len(kb), size=min(len(kb), 40 * nlist), replace=False))
        index.train(np.asarray(kb[sample], dtype=np.float32))
        index.nprobe = nprobe
    else:
        raise ValueError(f"build_index: unknown index kind {kind!r} (use 'flat' or 'ivf')")
    for start in tqdm(range(0, len(kb), ADD_CHUNK), desc=f"Indexing KB ({kind})", leave=False):
        index.add(np.asarray(kb[start : start + ADD_CHUNK], dtype=np.float32))
    return index


def cached_index(kb: np.ndarray, embedding_path: str | Path, kind: str, seed: int = 0, nprobe: int = 16):
    """`build_index`, stored beside the embedding `.npy` it was built from and read back on later runs."""
    import faiss

    # an IVF index trains on a seeded sample, so the seed is part of what was built (flat/HNSW do not depend on it)
    path = Path(embedding_path).with_suffix(f".{kind}-seed{seed}.faiss" if kind == "ivf" else f".{kind}.faiss")
    if path.is_file():
        index = faiss.read_index(str(path))
        if kind == "ivf":
            index.nprobe = nprobe
        return index
    index = build_index(kb, kind, seed=seed, nprobe=nprobe)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # two builds at once must not write one file
    faiss.write_index(index, str(tmp))
    tmp.replace(path)
    return index


def search(
    index_or_kb, queries: np.ndarray, k: int, batch_size: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, ids) for every query, in batches with a progress bar; `index_or_kb` is a faiss index or,
    for `exact`, the KB embedding array itself."""
    run: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    if isinstance(index_or_kb, np.ndarray):
        run = lambda q: exact_search(index_or_kb, q, k)  # noqa: E731
    else:
        run = lambda q: index_or_kb.search(np.ascontiguousarray(q, dtype=np.float32), k)  # noqa: E731
    scores, ids = [], []
    for start in tqdm(range(0, len(queries), batch_size), desc="Searching KB", leave=False):
        s, i = run(np.asarray(queries[start : start + batch_size], dtype=np.float32))
        scores.append(s)
        ids.append(i)
    if not scores:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    return np.vstack(scores), np.vstack(ids)
