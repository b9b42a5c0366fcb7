"""Entity linking for VANER spans: nearest KB names of the mention's type, by embedding similarity.

Travels with the model to the Hub: imports only the standard library, numpy, torch, transformers and
huggingface_hub. The mention encoder is a plain transformers AutoModel + AutoTokenizer with attention-masked
mean pooling and L2 normalisation, which is what a sentence-transformers MiniLM model computes
(Transformer -> Pooling(mean) -> Normalize).

Index folder (written by `build_linking_index.py`):

    manifest.json          format, embedder, dims, counts, per-type and per-(type, id prefix) row ranges, dtype
    embeddings.npy         (N, dims) int8, rows grouped by type, within a type by id prefix (MESH, MONDO, ...)
    scales.npy             (N,) float32, per-row dequantisation scale (row ~= int8 * scale)   [int8 only]
    names_bytes.npy        uint8 UTF-8 blob of all names;  names_offsets.npy (N + 1,) int64
    ids_bytes.npy          uint8 UTF-8 blob of all ids;    ids_offsets.npy   (N + 1,) int64
    types.npy              (N,) int8 index into manifest["types"]

All arrays are opened memory-mapped, so loading takes milliseconds and only touched pages count toward memory.

    linker = EntityLinker.from_pretrained("path/or/hub-repo")
    linker.link(["breast cancer", "aspirin"], ["Disease", "Chemical"], top_k=3)
    # [[{"id": "MESH:D001943", "name": "Breast Cancer", "score": 0.98}, ...], [...]]
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import torch

try:  # imported as a Hub module
    from .abbreviations_vaner import find_abbreviations
except ImportError:  # imported from a source checkout
    from abbreviations_vaner import find_abbreviations

__all__ = ["EntityLinker", "MeanPoolingEncoder", "LINKING_TYPES", "INDEX_FORMAT", "expand_short_forms", "find_abbreviations",
           "normalize_name", "split_coordination"]

LINKING_TYPES = ("Disease", "Chemical", "Gene", "Species")
INDEX_FORMAT = "vaner-linking-index/1"
MANIFEST = "manifest.json"


class MeanPoolingEncoder:
    """transformers AutoModel + AutoTokenizer, masked mean pooling, L2 normalisation (sentence-transformers' MiniLM)."""

    def __init__(self, model, tokenizer, max_length: int = 256, device: str | torch.device = "cpu"):
        self.model = model.eval().to(device)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.device = torch.device(device)

    @classmethod
    def from_pretrained(cls, name_or_path: str, max_length: int = 256, device: str = "cpu", dtype: str = "float32",
                        **kwargs):
        """`dtype="bfloat16"`: bf16 weights, ~4x faster than float32 on CPUs with AVX512-BF16 (cosine ~0.9999 to the
        float32 vectors); pooling and normalisation are done in float32 either way."""
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(name_or_path, **kwargs)
        model = AutoModel.from_pretrained(name_or_path, dtype=getattr(torch, dtype), **kwargs)
        return cls(model, tokenizer, max_length=max_length, device=device)

    @property
    def dims(self) -> int:
        return int(self.model.config.hidden_size)

    @torch.inference_mode()
    def encode(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        """(len(texts), dims) float32, unit rows. Texts are batched by length to keep padding small."""
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        if not texts:
            return out
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            batch = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt").to(self.device)
            hidden = self.model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[idx] = torch.nn.functional.normalize(pooled, p=2, dim=-1).cpu().numpy()
        return out


class _Strings:
    """Memory-mapped UTF-8 blob + offsets; decodes only the rows asked for."""

    def __init__(self, folder: Path, stem: str):
        self.blob = np.load(folder / f"{stem}_bytes.npy", mmap_mode="r")
        self.offsets = np.load(folder / f"{stem}_offsets.npy", mmap_mode="r")

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, row: int) -> str:
        start, end = int(self.offsets[row]), int(self.offsets[row + 1])
        return bytes(self.blob[start:end]).decode("utf-8")


def resolve_folder(path_or_repo: str | os.PathLike, revision: str | None = None, repo_type: str = "model",
                   **hub_kwargs) -> Path:
    """A local folder as is; otherwise a Hub repo id via huggingface_hub.snapshot_download."""
    path = Path(path_or_repo).expanduser()
    if path.is_dir():
        return path
    text = str(path_or_repo)
    if text.startswith(("/", ".", "~")) or "\\" in text or not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", text):
        raise FileNotFoundError(f"linking index folder not found: {path}")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=text, revision=revision, repo_type=repo_type, **hub_kwargs))
    except Exception as err:  # noqa: BLE001 - report the path the user gave, whatever the hub error was
        raise FileNotFoundError(f"linking index not found: {text!r} is neither a local folder nor a reachable Hub repo ({err})") from err


class EntityLinker:
    """Exact nearest-name search restricted to the mention's entity type over a memory-mapped index."""

    def __init__(self, folder: str | os.PathLike, encoder: MeanPoolingEncoder | None = None, embedder: str | None = None,
                 chunk_rows: int = 32768, device: str = "cpu"):
        """`encoder`: a ready MeanPoolingEncoder; else `embedder` (path / Hub id) or the manifest's embedder is loaded
        in the manifest's `encoder_dtype` (the dtype the index was encoded with)."""
        folder = Path(folder)
        manifest_path = folder / MANIFEST
        if not manifest_path.is_file():
            raise FileNotFoundError(f"no {MANIFEST} in linking index folder {folder}")
        self.folder = folder
        self.manifest = json.loads(manifest_path.read_text())
        if self.manifest.get("format") != INDEX_FORMAT:
            raise ValueError(f"{manifest_path}: unsupported index format {self.manifest.get('format')!r}, expected {INDEX_FORMAT!r}")
        self.embeddings = np.load(folder / "embeddings.npy", mmap_mode="r")
        self.scales = None  # (N,) float32, small: held in memory as a tensor
        if (folder / "scales.npy").is_file():
            self.scales = torch.from_numpy(np.load(folder / "scales.npy")).to(device)
        self.names = _Strings(folder, "names")
        self.ids = _Strings(folder, "ids")
        self.type_ranges = {t: tuple(r) for t, r in self.manifest["type_ranges"].items()}
        self.prefix_ranges = {t: {p: tuple(r) for p, r in ranges.items()}
                              for t, ranges in self.manifest.get("id_prefix_ranges", {}).items()}
        self.chunk_rows = chunk_rows
        self.device = torch.device(device)
        if len(self.names) != self.embeddings.shape[0] or len(self.ids) != self.embeddings.shape[0]:
            raise ValueError(f"{folder}: names/ids/embeddings row counts differ")
        if encoder is None:
            encoder = MeanPoolingEncoder.from_pretrained(
                self._resolve_embedder(embedder), max_length=int(self.manifest.get("max_seq_length", 256)),
                device=device, dtype=self.manifest.get("encoder_dtype") or "float32")
        if encoder.dims != self.embeddings.shape[1]:
            raise ValueError(f"embedder gives {encoder.dims}-d vectors, index {folder} holds {self.embeddings.shape[1]}-d")
        self.encoder = encoder
        self._extra: dict[str, tuple] = {}  # type -> (vectors, global row numbers, id prefixes) of add_names rows
        self._extra_names: list[str] = []
        self._extra_ids: list[str] = []
        # (type, normalised name) -> (added row, its position in the type's block of _extra); first added wins
        self._exact: dict[tuple[str, str], tuple[int, int]] = {}

    @classmethod
    def from_pretrained(cls, index_path_or_repo: str | os.PathLike, embedder: str | None = None, *,
                        revision: str | None = None, repo_type: str = "model", device: str = "cpu",
                        **hub_kwargs) -> "EntityLinker":
        """Load an index folder (local path or Hub repo id). `embedder`: path or Hub id of the mention encoder;
        None = the one named in the manifest (a relative path there is resolved inside the index folder)."""
        folder = resolve_folder(index_path_or_repo, revision=revision, repo_type=repo_type, **hub_kwargs)
        return cls(folder, embedder=embedder, device=device)

    def _resolve_embedder(self, embedder: str | None) -> str:
        name = embedder or self.manifest.get("embedder")
        if not name:
            raise ValueError(f"{self.folder / MANIFEST} names no embedder; pass embedder=...")
        inside = self.folder / name
        if not Path(name).is_absolute() and inside.is_dir():
            return str(inside)
        return str(name)

    @property
    def types(self) -> list[str]:
        return [t for t, (start, end) in self.type_ranges.items() if end > start]

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])

    def link(self, mentions: list[str], entity_types: list[str], top_k: int = 5, batch_size: int = 128,
             id_prefixes: list[str] | None = None, split_composites: bool = True) -> list[list[dict]]:
        """For each mention, the `top_k` best KB concepts of its type, best first:
        `{"id": ..., "name": <best-matching KB name of that id>, "score": cosine similarity}`; distinct ids.

        `id_prefixes` (e.g. `["MESH"]`) keeps only KB ids with those prefixes (the vocabulary a corpus is normalised
        to); a mention whose type has none of them gets `[]`.

        `split_composites`: a coordinated mention (`breast and ovarian cancer`, see `split_coordination`) names one
        concept per conjunct, so its list starts with each conjunct's best concept (with `"part"`: the conjunct
        linked), then the whole mention's candidates. Without it, the KB name `breast and ovarian cancer` of the
        hereditary syndrome wins at cosine 1.0."""
        parts = [split_coordination(m) if split_composites else [] for m in mentions]
        if not any(parts):
            return self._link_whole(mentions, entity_types, top_k, batch_size, id_prefixes)
        flat_mentions, flat_types = list(mentions), list(entity_types)
        for conjuncts, etype in zip(parts, entity_types):
            flat_mentions += conjuncts
            flat_types += [etype] * len(conjuncts)
        flat = self._link_whole(flat_mentions, flat_types, top_k, batch_size, id_prefixes)
        results, next_part = flat[: len(mentions)], len(mentions)
        for i, conjuncts in enumerate(parts):
            if not conjuncts:
                continue
            linked = flat[next_part : next_part + len(conjuncts)]
            next_part += len(conjuncts)
            firsts = [{**found[0], "part": part} for part, found in zip(conjuncts, linked) if found]
            merged, seen = [], set()
            for candidate in firsts + results[i] + [c for found in linked for c in found[1:]]:
                if candidate["id"] not in seen:
                    seen.add(candidate["id"])
                    merged.append(candidate)
            results[i] = merged[: max(top_k, len(firsts))]
        return results

    def _link_whole(self, mentions: list[str], entity_types: list[str], top_k: int, batch_size: int,
                    id_prefixes: list[str] | None) -> list[list[dict]]:
        """`link` with each mention searched as one string."""
        if isinstance(mentions, str) or isinstance(entity_types, str):
            raise TypeError("mentions and entity_types must be lists of strings")
        if len(mentions) != len(entity_types):
            raise ValueError(f"got {len(mentions)} mentions but {len(entity_types)} entity types")
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        for etype in set(entity_types):
            if etype not in LINKING_TYPES:
                raise ValueError(f"unknown entity type {etype!r}; expected one of {list(LINKING_TYPES)}")
            if etype not in self.types and etype not in self._extra:  # names given to add_names are searched too
                raise ValueError(f"the linking index {self.folder} has no {etype!r} names (it has {self.types}) "
                                 "and add_names gave it none")
        if id_prefixes is not None:
            if isinstance(id_prefixes, str):
                id_prefixes = [id_prefixes]
            id_prefixes = [p.rstrip(":") for p in id_prefixes]
            known = {p for ranges in self.prefix_ranges.values() for p in ranges}
            known |= {p for _, _, prefixes in self._extra.values() for p in prefixes}
            if not set(id_prefixes) & known:
                raise ValueError(f"none of the id prefixes {id_prefixes} occurs in the index; it has {sorted(known)}")
        results: list[list[dict]] = [[] for _ in mentions]
        if not mentions:
            return results
        vectors = self.encoder.encode(list(mentions), batch_size=batch_size)
        for etype in dict.fromkeys(entity_types):
            rows = [i for i, t in enumerate(entity_types) if t == etype]
            ranges = [self.type_ranges[etype]] if etype in self.types else []
            if id_prefixes is not None:
                ranges = [self.prefix_ranges.get(etype, {})[p] for p in id_prefixes if p in self.prefix_ranges.get(etype, {})]
                ranges = [r for r in ranges if r]  # () = only added names carry the prefix
            scores, index = self._search(vectors[rows], ranges, top_k) if ranges else (None, None)
            if etype in self._extra:
                scores, index = self._merge_extra(vectors[rows], etype, id_prefixes, top_k, scores, index)
            if scores is None:
                continue
            for j, i in enumerate(rows):
                results[i] = self._collect(scores[j], index[j], top_k)
                exact = self._exact_match(mentions[i], etype, id_prefixes, vectors[i])
                if exact is not None:
                    results[i] = [exact, *(c for c in results[i] if c["id"] != exact["id"])][:top_k]
        return results

    def _exact_match(self, mention: str, etype: str, id_prefixes: list[str] | None, vector: np.ndarray) -> dict | None:
        """The added name (`add_names`) spelled like `mention` up to case, spaces and punctuation, as a candidate:
        a dictionary entry says which concept that exact string means, which a near-tie in cosine with a KB name of
        another concept (int8 rounding decides it) must not overturn."""
        found = self._exact.get((etype, normalize_name(mention)))
        if found is None:
            return None
        row, position = found
        eid = self._extra_ids[row]
        if id_prefixes is not None and eid.split(":", 1)[0] not in id_prefixes:
            return None
        score = float(torch.from_numpy(vector).to(self.device) @ self._extra[etype][0][position])
        return {"id": eid, "name": self._extra_names[row], "score": score, "exact": True}

    def add_names(self, names: list[str], entity_types: list[str], ids: list[str], batch_size: int = 128) -> None:
        """Add (name, type, id) rows held in memory beside the index, e.g. a corpus's training annotations
        (mention text -> gold id) or a user dictionary; `link` searches them together with the index, and a
        mention spelled like an added name (`normalize_name`) gets that name's id first (with `"exact": True`)."""
        if not (len(names) == len(entity_types) == len(ids)):
            raise ValueError(f"got {len(names)} names, {len(entity_types)} types and {len(ids)} ids")
        for etype in set(entity_types):
            if etype not in LINKING_TYPES:
                raise ValueError(f"unknown entity type {etype!r}; expected one of {list(LINKING_TYPES)}")
        vectors = self.encoder.encode(list(names), batch_size=batch_size)
        for etype in dict.fromkeys(entity_types):
            rows = [i for i, t in enumerate(entity_types) if t == etype]
            base = len(self) + len(self._extra_names)
            block_start = len(self._extra[etype][1]) if etype in self._extra else 0
            for offset, i in enumerate(rows):
                self._exact.setdefault((etype, normalize_name(names[i])),
                                       (len(self._extra_names) + offset, block_start + offset))
            self._extra_names += [names[i] for i in rows]
            self._extra_ids += [ids[i] for i in rows]
            block = (torch.from_numpy(vectors[rows]).to(self.device), torch.arange(base, base + len(rows)),
                     [ids[i].split(":", 1)[0] if ":" in ids[i] else "" for i in rows])
            old = self._extra.get(etype)
            if old is not None:
                block = (torch.cat([old[0], block[0]]), torch.cat([old[1], block[1]]), old[2] + block[2])
            self._extra[etype] = block
        for etype, (_, _, prefixes) in self._extra.items():
            for p in set(prefixes):
                self.prefix_ranges.setdefault(etype, {}).setdefault(p, ())

    def clear_added_names(self) -> None:
        """Forget every row added with `add_names`."""
        self._extra, self._extra_names, self._extra_ids, self._exact = {}, [], [], {}
        self.prefix_ranges = {t: {p: r for p, r in ranges.items() if r} for t, ranges in self.prefix_ranges.items()}

    def _merge_extra(self, queries, etype, id_prefixes, top_k, scores, index):
        vectors, rows, prefixes = self._extra[etype]
        if id_prefixes is not None:
            keep = torch.tensor([p in id_prefixes for p in prefixes], dtype=torch.bool)
            vectors, rows = vectors[keep], rows[keep]
        if len(rows) == 0:
            return scores, index
        sims = torch.from_numpy(queries).to(self.device) @ vectors.T
        s, i = sims.topk(min(len(rows), 4 * top_k + 16), dim=1)
        s, i = s.cpu().numpy(), rows[i.cpu()].numpy()
        if scores is not None:
            s, i = np.concatenate([scores, s], axis=1), np.concatenate([index, i], axis=1)
        order = np.argsort(-s, axis=1, kind="stable")
        return np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)

    def _search(self, queries: np.ndarray, ranges: list[tuple[int, int]] | str, top_k: int):
        """Exact top-n rows within `ranges` (row ranges, or a type name for its whole slice), n = a margin above
        top_k so that top_k distinct ids survive."""
        if isinstance(ranges, str):
            ranges = [self.type_ranges[ranges]]
        n = min(sum(end - start for start, end in ranges), 4 * top_k + 16)
        q = torch.from_numpy(queries).to(self.device)
        best_scores = torch.full((len(queries), 0), float("-inf"), device=self.device)
        best_index = torch.zeros((len(queries), 0), dtype=torch.long, device=self.device)
        chunks = [(lo, min(end, lo + self.chunk_rows)) for start, end in ranges for lo in range(start, end, self.chunk_rows)]
        for lo, hi in chunks:
            block = torch.from_numpy(np.asarray(self.embeddings[lo:hi], dtype=np.float32)).to(self.device)
            scores = q @ block.T
            if self.scales is not None:
                scores *= self.scales[lo:hi]
            k = min(n, hi - lo)
            s, i = scores.topk(k, dim=1)
            best_scores = torch.cat([best_scores, s], dim=1)
            best_index = torch.cat([best_index, i + lo], dim=1)
            if best_scores.shape[1] > n:
                best_scores, pos = best_scores.topk(n, dim=1)
                best_index = best_index.gather(1, pos)
        order = best_scores.argsort(dim=1, descending=True)
        return best_scores.gather(1, order).cpu().numpy(), best_index.gather(1, order).cpu().numpy()

    def _collect(self, scores: np.ndarray, rows: np.ndarray, top_k: int) -> list[dict]:
        out, seen, n = [], set(), len(self)
        for score, row in zip(scores, rows):
            row = int(row)
            eid = self.ids[row] if row < n else self._extra_ids[row - n]
            if eid in seen:
                continue
            seen.add(eid)
            out.append({"id": eid, "name": self.names[row] if row < n else self._extra_names[row - n], "score": float(score)})
            if len(out) == top_k:
                break
        return out


def normalize_name(name: str) -> str:
    """A name's spelling up to case, spaces and punctuation: `Duchenne-muscular  dystrophy` -> `duchenne muscular
    dystrophy`."""
    return " ".join(re.sub(r"[^\w]+", " ", name.lower()).split())


# ------------------------------------------------------------------------------------------ abbreviations


def expand_short_forms(mention: str, abbreviations: dict[str, str]) -> str:
    """`mention` with the short forms defined in its document (`find_abbreviations`) replaced by their long forms:
    the whole mention (`DMD`) or a word of it (`primary HPT` -> `primary hyperparathyroidism`, `AO-GLD` ->
    `AO-globoid cell leukodystrophy`); case-sensitive, whole words only."""
    if mention in abbreviations or not abbreviations:
        return abbreviations.get(mention, mention)
    shorts = sorted((sf for sf in abbreviations if sf in mention), key=len, reverse=True)
    if not shorts:
        return mention
    pattern = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(map(re.escape, shorts)) + r")(?![A-Za-z0-9])")
    return pattern.sub(lambda match: abbreviations[match.group(1)], mention)


_COORDINATORS = frozenset({"and", "or", "and/or"})


def split_coordination(mention: str) -> list[str]:
    """The concepts a coordinated mention names: one-word modifiers sharing a head, `breast and ovarian cancer` ->
    [`breast cancer`, `ovarian cancer`], `breast, ovarian, or other cancers` -> three, `Duchenne and Becker
    muscular dystrophy` -> two. [] for anything else (one coordinator exactly, each conjunct one word, a head after
    the last conjunct), so `cleft lip and palate` or `hereditary breast and ovarian cancer` stay whole."""
    words = mention.split()
    coordinators = [i for i, word in enumerate(words) if word.lower() in _COORDINATORS]
    if len(coordinators) != 1:
        return []
    at = coordinators[0]
    if len(words) - at < 3:  # no head after the last conjunct
        return []
    conjuncts = [c.strip() for c in " ".join(words[:at]).split(",") if c.strip()] + [words[at + 1]]
    if len(conjuncts) < 2 or any(len(c.split()) != 1 or not any(ch.isalpha() for ch in c) for c in conjuncts):
        return []  # also `breast and 79 ovarian cancer`: a footnote number is no conjunct
    head = " ".join(words[at + 2 :])
    return [f"{conjunct} {head}" for conjunct in conjuncts]

