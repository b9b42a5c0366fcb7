"""How much `link=...` adds to pipeline time: the same texts tagged with and without entity linking.

    python benchmarks/linking_overhead.py --model runs/ncbi/model --index INDEX_DIR --sentences 200
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from transformers import pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import write_results  # noqa: E402
from dataset_scripts import load_corpus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--index", required=True, help="linking index folder or Hub repo")
    parser.add_argument("--data-dir", default="../shared/data/bioner")
    parser.add_argument("--corpus", default="NCBI-disease")
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--id-prefixes", nargs="+", default=["MESH"])
    args = parser.parse_args()

    texts = [" ".join(t) for t in load_corpus(args.corpus, data_dir=args.data_dir)["test"].select(range(args.sentences))["tokens"]]
    ner = pipeline("token-classification", model=args.model, trust_remote_code=True, dtype=torch.bfloat16)
    start = time.perf_counter()
    ner(texts[:2], link=args.index)  # loads the linker once (cached by the pipeline)
    linker_load = time.perf_counter() - start
    timings = {}
    for label, options in [("ner", {}), ("ner+link", {"link": args.index, "link_id_prefixes": args.id_prefixes})]:
        start = time.perf_counter()
        spans = ner(texts, **options)
        timings[label] = {"seconds": round(time.perf_counter() - start, 2), "spans": sum(map(len, spans))}
        print(label, timings[label], flush=True)
    overhead = timings["ner+link"]["seconds"] / timings["ner"]["seconds"] - 1
    print(write_results("linking_overhead", {
        "model": args.model, "index": args.index, "corpus": args.corpus, "sentences": len(texts),
        "linker_first_load_seconds": round(linker_load, 2), "timings": timings,
        "linking_overhead_fraction": round(overhead, 3), "example": spans[0][:3],
    }))  # fmt: skip


if __name__ == "__main__":
    main()
