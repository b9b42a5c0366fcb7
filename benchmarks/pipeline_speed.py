"""Inference speed of the token-classification pipeline: sentences/s and words/s, one type vs all types.

Text: the first N test sentences of a corpus, detokenised with single spaces (what a user would pass).
Speed does not depend on the head's weights, so an untrained model gives the same figures as a trained one
of the same backbone; the result names the model it ran and, per run, the decoding and abbreviation rule it
used (`--plain-too` adds argmax without the rule, to price what the config adds). `--baseline` times a plain
transformers token classifier (e.g. the MiniLM baseline of baselines/minilm_token_classifier.py) on the same texts
through transformers' own token-classification pipeline (aggregation "simple"). Tokens/s counts each model's own sub-word tokens of the
sentences (without the instruction).

    python benchmarks/pipeline_speed.py --model PATH --data-dir ../shared/data/bioner --sentences 200 \
        --baseline runs/baseline-minilm-ncbi/model
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
    parser.add_argument("--baseline", help="a plain token-classification model folder to time on the same texts")
    parser.add_argument("--repeats", type=int, default=1, help="time each configuration this many times, keep the best")
    parser.add_argument("--plain-too", action="store_true",
                        help="also time argmax decoding without the abbreviation rule (the cost of what the config adds)")
    parser.add_argument("--name", default="pipeline_speed")
    args = parser.parse_args()

    split = load_corpus(args.corpus, data_dir=args.data_dir)["test"]
    texts = [" ".join(tokens) for tokens in split.select(range(args.sentences))["tokens"]]
    words = sum(len(t.split()) for t in texts)
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    ner = pipeline("token-classification", model=args.model, trust_remote_code=True, dtype=dtype)
    ner(texts[:4])  # warm-up
    tokens = sub_word_tokens(ner.tokenizer, texts)
    config = ner.model.config
    settings = [(config.decoding, bool(config.resolve_abbreviations))]  # as the model is configured, first
    if args.plain_too and settings[0] != ("argmax", False):
        settings.append(("argmax", False))
    runs = []
    for decoding, resolve in settings:
        config.decoding, config.resolve_abbreviations = decoding, resolve  # the pipeline reads both per call
        for entity_types in ([config.entity_types[0]], list(config.entity_types)):
            seconds, spans = best_time(lambda: ner(texts, entity_types=entity_types,
                                                   forward_batch_size=args.forward_batch_size), args.repeats)
            head = {"entity_types": entity_types, "decoding": decoding, "resolve_abbreviations": resolve}
            runs.append(speed_record(head, seconds, texts, words, tokens, spans))
    figures = {"model": args.model, "corpus": args.corpus, "sentences": len(texts), "words": words,
               "dtype": str(dtype), "torch_threads": torch.get_num_threads(), "runs": runs}
    if args.baseline:
        figures["baseline"] = time_baseline(args, texts, words)
    print(write_results(args.name, figures))


def time_baseline(args: argparse.Namespace, texts: list[str], words: int) -> dict:
    """The same texts through transformers' stock pipeline (fp32: what a user of a BERT-style tagger runs)."""
    tagger = pipeline("token-classification", model=args.baseline, aggregation_strategy="simple")
    tagger(texts[:4])
    seconds, spans = best_time(lambda: tagger(texts, batch_size=args.forward_batch_size), args.repeats)
    record = speed_record({"model": args.baseline, "dtype": "torch.float32"}, seconds, texts, words,
                          sub_word_tokens(tagger.tokenizer, texts), spans)
    return record


def sub_word_tokens(tokenizer, texts: list[str]) -> int:
    return sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])


def best_time(call, repeats: int) -> tuple[float, list]:
    best, out = float("inf"), []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        out = call()
        best = min(best, time.perf_counter() - start)
    return best, out


def speed_record(head: dict, seconds: float, texts: list[str], words: int, tokens: int, spans: list) -> dict:
    record = {
        **head,
        "seconds": round(seconds, 2),
        "sentences_per_second": round(len(texts) / seconds, 2),
        "words_per_second": round(words / seconds, 1),
        "sub_word_tokens": tokens,
        "tokens_per_second": round(tokens / seconds, 1),
        "spans": sum(len(s) for s in spans),
    }
    print(record, flush=True)
    return record


if __name__ == "__main__":
    main()
