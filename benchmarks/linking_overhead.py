"""How much `link=...` adds to pipeline time: the same texts tagged with and without entity linking.

    python benchmarks/linking_overhead.py --model runs/ncbi/model --index INDEX_DIR --sentences 200 \
        [--entity-types Disease] [--dtype float32|bfloat16] [--name linking_overhead] [--note ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import write_results  # noqa: E402
from dataset_scripts import load_corpus  # noqa: E402
from precision import warn_if_slow_bf16  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--index", required=True, help="linking index folder or Hub repo")
    parser.add_argument("--data-dir", default="../shared/data/bioner")
    parser.add_argument("--corpus", default="NCBI-disease")
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--id-prefixes", nargs="+", default=["MESH"])
    parser.add_argument("--entity-types", nargs="+", default=None,
                        help="tag (and link) only these types; default every type the model knows (the index must "
                             "hold names of each)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                        help="model weights (emulated bf16 slows NER and so understates the linking share)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per condition (median reported)")
    parser.add_argument("--name", default="linking_overhead", help="results file stem under benchmarks/results")
    parser.add_argument("--note", default="")
    args = parser.parse_args()

    warn_if_slow_bf16(args.dtype == "bfloat16", option="--dtype bfloat16")
    texts = [" ".join(t) for t in load_corpus(args.corpus, data_dir=args.data_dir)["test"].select(range(args.sentences))["tokens"]]
    ner = pipeline("token-classification", model=args.model, trust_remote_code=True, dtype=getattr(torch, args.dtype))
    narrow = {"entity_types": args.entity_types} if args.entity_types else {}
    start = time.perf_counter()
    ner(texts[:2], link=args.index, **narrow)  # loads the linker once (cached by the pipeline)
    linker_load = time.perf_counter() - start
    conditions = {"ner": narrow, "ner+link": {**narrow, "link": args.index, "link_id_prefixes": args.id_prefixes}}
    ner(texts[:16], **narrow)  # warm-up: thread pools and allocator, which would otherwise bill the first condition
    seconds: dict[str, list[float]] = {label: [] for label in conditions}
    spans: dict[str, list] = {}
    for repeat in range(args.repeats):  # alternate the order, so that drift in machine speed hits both alike
        for label in conditions if repeat % 2 == 0 else reversed(list(conditions)):
            start = time.perf_counter()
            spans[label] = ner(texts, **conditions[label])
            seconds[label].append(round(time.perf_counter() - start, 2))
            print(label, seconds[label][-1], flush=True)
    timings = {label: {"seconds": statistics.median(runs), "runs_seconds": runs, "spans": sum(map(len, spans[label]))}
               for label, runs in seconds.items()}
    overhead = timings["ner+link"]["seconds"] / timings["ner"]["seconds"] - 1
    print(write_results(args.name, {
        "model": args.model, "index": args.index, "corpus": args.corpus, "sentences": len(texts),
        "dtype": args.dtype, "entity_types": args.entity_types or "all", "torch_threads": torch.get_num_threads(),
        "note": args.note,
        "linker_first_load_seconds": round(linker_load, 2), "timings": timings,
        "linking_overhead_fraction": round(overhead, 3), "repeats": args.repeats, "example": spans["ner+link"][0][:3],
    }))  # fmt: skip


if __name__ == "__main__":
    main()
