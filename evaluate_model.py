"""Score a saved VANER model on corpus splits: per-corpus entity P/R/F1 to JSON, predictions in CoNLL form.

    python evaluate_model.py --model runs/ncbi/model --corpora NCBI-disease --data-dir ../shared/data/bioner \
        --split test --output-dir runs/ncbi/test
    python evaluate_model.py --model runs/adapt/model --corpora CRAFT-species CRAFT-ggp CRAFT-chem \
        --data-dir ../shared/data/bioner_unseen --split test --no-dataset-name --output-dir runs/adapt/craft

Sentences are windowed exactly as the pipeline does, so every gold entity counts. Corpora the model was
not trained on (e.g. CRAFT) need `--no-dataset-name`: their names never appeared in an instruction.

A model with `config.resolve_abbreviations` (or a run with `--abbreviation-reach N`) tags short forms as their
long forms are. The corpora keep their sentences in document order but mark no document boundaries, so
`--abbreviation-reach N` reads each sentence as the end of a text made of its N preceding sentences (0, the
default: every sentence alone, as the paper scores); the scores without the rule are kept beside.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer

from abbreviations_vaner import resolve_abbreviations
from calibration_record import read_calibration
from cli_args import check_corpora_args, positive_int
from dataset_scripts import load_corpus, split_instruction_examples
from evaluation import (
    entity_scores,
    example_biases,
    model_decoding,
    predict_word_probabilities,
    tags_from_probabilities,
    write_conll,
)
from precision import warn_if_slow_bf16


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="saved model folder or Hub id")
    parser.add_argument("--corpora", nargs="+", required=True)
    parser.add_argument("--data-dir", required=True, help="folder with <corpus>/{train,dev,test}.tsv")
    parser.add_argument("--split", default="test", choices=["train", "validation", "test"])
    parser.add_argument("--no-dataset-name", action="store_true", help="instructions without dataset names")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--bf16", action="store_true", help="run the model in bf16")
    parser.add_argument("--max-sentences", type=positive_int, help="first N sentences per corpus (quick checks)")
    parser.add_argument("--o-bias", help="calibrate_o_bias.py results JSON: decode with its o_bias and decoding "
                        "instead of the config's")
    parser.add_argument("--abbreviation-reach", type=int,
                        help="resolve abbreviations (config.resolve_abbreviations), a definition reaching this many "
                             "later sentences of the split (default: 0 if the model's config resolves them, else off)")
    parser.add_argument("--cache-dir")
    args = parser.parse_args(argv)
    check_corpora_args(parser, args)
    if args.o_bias:  # before the model loads
        try:
            args.calibration = read_calibration(args.o_bias, "--o-bias")
        except ValueError as error:
            parser.error(str(error))
    return args


def abbreviation_reach(requested: int | None, config) -> int | None:
    """The abbreviation rule's reach (sentences after a definition) to score with: `requested`, else 0 (within the
    sentence) where the model's config resolves abbreviations, else None (the rule is off)."""
    if requested is None and getattr(config, "resolve_abbreviations", False):
        requested = 0
    if requested is not None and requested < 0:
        raise SystemExit(f"--abbreviation-reach {requested}: expected a number of sentences >= 0")
    return requested


def output_tags(probabilities, biases, decoding: str, tokens: list[list[str]], reach: int | None) -> list[list[str]]:
    """The tags the model outputs: decoded with `biases`, then the abbreviation rule where `reach` is set."""
    tags = tags_from_probabilities(probabilities, biases, decoding)
    return tags if reach is None else resolve_abbreviations(tokens, tags, reach)


def check_named_corpora(corpora: list[str], config, use_names: bool) -> None:
    """An instruction naming a corpus the model was not trained on is not one it knows: refuse it."""
    unknown = [c for c in corpora if use_names and c not in config.dataset_names]
    if unknown:
        raise SystemExit(
            f"--corpora {unknown}: not among the model's dataset names {config.dataset_names}; "
            "pass --no-dataset-name to instruct without dataset names"
        )


def load_for_scoring(model_path: str, bf16: bool = False, device: str | None = None):
    """(model in eval mode, tokenizer); with `bf16` the backbone runs in bf16 and the O/B/I head stays fp32.

    `device` defaults to the GPU where there is one, else the CPU."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    warn_if_slow_bf16(bf16, device)
    dtype = torch.bfloat16 if bf16 else torch.float32
    # the head stays fp32 by the model's own rule (_keep_in_fp32_modules_strict), as in pipeline(dtype=...) and ner.py
    model = AutoModelForTokenClassification.from_pretrained(model_path, trust_remote_code=True, dtype=dtype).eval()
    model.to(device)
    return model, AutoTokenizer.from_pretrained(model_path, trust_remote_code=True)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model, tokenizer = load_for_scoring(args.model, args.bf16)
    use_names = not args.no_dataset_name
    if args.o_bias:
        calibration = args.calibration
        if calibration.get("dataset_names_in_instructions", True) != use_names:
            raise SystemExit(f"--o-bias {args.o_bias}: calibrated {'with' if not use_names else 'without'} dataset names, "
                             f"but this run instructs {'with' if use_names else 'without'} them"
                             f"{'' if use_names else ' (--no-dataset-name)'}; calibrate in the same mode")
        model.config.set_o_bias(calibration["o_bias"], use_names, calibration.get("decoding", "argmax"))
    reach = abbreviation_reach(args.abbreviation_reach, model.config)
    check_named_corpora(args.corpora, model.config, use_names)
    results: dict = {"model": args.model, "split": args.split, "dataset_names_in_instructions": use_names,
                     "o_bias": dict(model.config.o_bias_for_mode(use_names)), "decoding": model_decoding(model),
                     "abbreviation_reach": reach, "max_sentences": args.max_sentences,
                     "corpora": {}}
    for corpus in args.corpora:
        split = load_corpus(corpus, data_dir=args.data_dir, cache_dir=args.cache_dir)[args.split]
        examples = split_instruction_examples(split, use_dataset_names=use_names, max_sentences=args.max_sentences,
                                              config=model.config)
        start = time.perf_counter()
        probabilities = predict_word_probabilities(model, tokenizer, examples["instruction"], examples["tokens"],
                                                   args.batch_size, f"{args.split} {corpus}")
        biases = example_biases(model, examples, use_names)
        decoding = model_decoding(model)
        predicted = tags_from_probabilities(probabilities, biases, decoding)
        extra: dict = {}
        if reach is not None:  # the same tags without the rule, and with each sentence read alone, kept beside
            extra["without_abbreviation_resolution"] = entity_scores(examples["labels"], predicted)
            if reach:
                alone = resolve_abbreviations(examples["tokens"], predicted, 0)
                extra["abbreviations_within_sentence"] = entity_scores(examples["labels"], alone)
            predicted = resolve_abbreviations(examples["tokens"], predicted, reach)
        scores = {**entity_scores(examples["labels"], predicted), **extra}
        if any(biases):  # the same probabilities decoded without the bias (rule and all), to show what the bias changed
            unbiased = output_tags(probabilities, 0.0, decoding, examples["tokens"], reach)
            scores["without_o_bias"] = entity_scores(examples["labels"], unbiased)
        scores["sentences"] = len(examples)
        scores["seconds"] = round(time.perf_counter() - start, 1)
        results["corpora"][corpus] = scores
        write_conll(output_dir / f"{corpus}.{args.split}.conll", examples["tokens"], examples["labels"], predicted,
                    examples[0]["entity_type"])
        print(f"{corpus}: P {scores['precision']:.2f} R {scores['recall']:.2f} F1 {scores['f1']:.2f}", flush=True)
        # written after every corpus, so an interrupted run keeps the corpora it finished
        results["mean_f1"] = statistics.mean(s["f1"] for s in results["corpora"].values())
        (output_dir / f"metrics.{args.split}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"mean F1 {results['mean_f1']:.2f} -> {output_dir}")
    return results


if __name__ == "__main__":
    main()
