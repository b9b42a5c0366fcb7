"""Inference speed of the token-classification pipeline: sentences/s and words/s, one type vs all types.

Text: the first N test sentences of a corpus, detokenised with single spaces (what a user would pass).
Speed does not depend on the head's weights, so an untrained model gives the same figures as a trained one
of the same backbone; the result names the model it ran.

    python benchmarks/pipeline_speed.py --model PATH --data-dir ../shared/data/bioner --sentences 200
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
    parser.add_argument("--model", required=True, help="VANER model folder or Hub id")
    parser.add_argument("--data-dir", default="../shared/data/bioner")
    parser.add_argument("--corpus", default="NCBI-disease")
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--forward-batch-size", type=int, default=32)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--name", default="pipeline_speed")
    args = parser.parse_args()

    split = load_corpus(args.corpus, data_dir=args.data_dir)["test"]
    texts = [" ".join(tokens) for tokens in split.select(range(args.sentences))["tokens"]]
    words = sum(len(t.split()) for t in texts)
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    ner = pipeline("token-classification", model=args.model, trust_remote_code=True, dtype=dtype)
    ner(texts[:4])  # warm-up
    runs = []
    for entity_types in ([ner.model.config.entity_types[0]], list(ner.model.config.entity_types)):
        start = time.perf_counter()
        spans = ner(texts, entity_types=entity_types, forward_batch_size=args.forward_batch_size)
        seconds = time.perf_counter() - start
        run = {
            "entity_types": entity_types,
            "seconds": round(seconds, 2),
            "sentences_per_second": round(len(texts) / seconds, 2),
            "words_per_second": round(words / seconds, 1),
            "spans": sum(len(s) for s in spans),
        }
        print(run, flush=True)
        runs.append(run)
    path = write_results(
        args.name,
        {"model": args.model, "corpus": args.corpus, "sentences": len(texts), "words": words,
         "dtype": str(dtype), "torch_threads": torch.get_num_threads(), "runs": runs},
    )  # fmt: skip
    print(path)


if __name__ == "__main__":
    main()
