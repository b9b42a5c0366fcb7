"""Pick `config.o_bias` (one per entity type) on the dev splits of the training corpora, never on test.

A VANER model that over-tags (precision well below recall) gains F1 from a small bias towards O. The model runs
once per dev sentence; every bias of the grid then re-decodes the same probabilities, so the sweep is cheap.
For each entity type the bias with the best mean dev F1 over that type's corpora wins (ties: the smallest |bias|).
Biases are chosen for one `--decoding` (default: the model's `config.decoding`); the results and `--write-config`
carry it with them, since a bias tuned for per-word argmax is not the best one for Viterbi decoding. Likewise every
bias is scored with the abbreviation rule where the model's config applies it (`--abbreviation-reach`), since the
rule copies a long form's tag to its short forms and so changes what a bias costs.

    python calibrate_o_bias.py --model MODEL_FOLDER --data-dir ../shared/data/bioner --bf16 \
        --max-sentences 1000 --results benchmarks/results/vaner_o_bias.json --write-config MODEL_FOLDER

`--write-config` stores the chosen biases in that folder's config.json (a shipped adapter folder or a full model
folder); `export_model.py ship --calibration RESULTS` puts them into a fresh ship.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from benchmarks.common import git_revision, machine
from cli_args import check_corpora_args, positive_int
from configuration_vaner import DECODINGS, VanerConfig
from dataset_scripts import canonical_corpora, load_corpus, split_instruction_examples
from evaluate_model import abbreviation_reach, check_named_corpora, load_for_scoring, output_tags
from evaluation import entity_scores, predict_word_probabilities

__all__ = ["bias_grid", "choose_bias", "main"]


def bias_grid(spec: str) -> list[float]:
    """`LOW:HIGH:STEP` -> the biases from LOW to HIGH inclusive (0 always included)."""
    try:
        low, high, step = (float(x) for x in spec.split(":"))
    except ValueError:
        raise SystemExit(f"--grid {spec!r}: expected LOW:HIGH:STEP, e.g. -1:4:0.25") from None
    if step <= 0 or high < low:
        raise SystemExit(f"--grid {spec!r}: need STEP > 0 and HIGH >= LOW")
    values = [round(low + i * step, 6) for i in range(int(round((high - low) / step)) + 1)]
    return sorted(set(values) | {0.0})


def choose_bias(curve: dict[float, dict[str, float]]) -> float:
    """The bias whose mean F1 over the corpora is highest; ties go to the bias closest to 0."""
    return max(curve, key=lambda bias: (round(statistics.mean(curve[bias].values()), 6), -abs(bias)))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="VANER model folder (shipped adapter or full weights) or Hub id")
    parser.add_argument("--data-dir", required=True, help="folder with <corpus>/{train,dev,test}.tsv")
    parser.add_argument("--corpora", nargs="+", help="dev corpora (default: the model's dataset names)")
    parser.add_argument("--no-dataset-name", action="store_true", help="instructions without dataset names")
    parser.add_argument("--max-sentences", type=int, default=1000, help="first N dev sentences per corpus (0: all)")
    parser.add_argument("--grid", default="-1:4:0.25", help="biases to try, LOW:HIGH:STEP (write --grid=-1:4:0.25 when LOW is negative)")
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--bf16", action="store_true", help="run the model in bf16")
    parser.add_argument("--decoding", choices=DECODINGS, help="decode with this (default: the model's config.decoding)")
    parser.add_argument("--results", required=True, help="JSON file for the sweep and the chosen biases")
    parser.add_argument("--write-config", help="model folder whose config.json gets the chosen o_bias")
    parser.add_argument("--abbreviation-reach", type=int,
                        help="score every bias with the abbreviation rule as evaluate_model.py does, a definition "
                             "reaching this many later sentences (default: 0 if the model's config resolves them, "
                             "else off): the bias is chosen for the tags the model will really output")
    parser.add_argument("--cache-dir")
    args = parser.parse_args(argv)
    if args.max_sentences < 0:
        parser.error(f"--max-sentences {args.max_sentences}: expected a number of sentences >= 0 (0: all)")
    check_corpora_args(parser, args)
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    grid = bias_grid(args.grid)
    model, tokenizer = load_for_scoring(args.model, args.bf16)
    corpora = args.corpora or list(model.config.dataset_names)
    if not corpora:
        raise SystemExit(f"--corpora: {args.model} names no dataset_names; list the dev corpora")
    if args.corpora is None:  # the model's corpora: their files are checked now, before the first one is scored
        try:
            canonical_corpora(corpora, args.data_dir, option=f"--corpora (default: {args.model}'s dataset names)")
        except (ValueError, FileNotFoundError) as error:
            raise SystemExit(str(error)) from None
    use_names = not args.no_dataset_name
    check_named_corpora(corpora, model.config, use_names)
    reach = abbreviation_reach(args.abbreviation_reach, model.config)
    decoding = args.decoding or model.config.decoding
    by_type: dict[str, dict[str, tuple]] = {}
    start = time.perf_counter()
    for corpus in corpora:
        split = load_corpus(corpus, data_dir=args.data_dir, cache_dir=args.cache_dir)["validation"]
        examples = split_instruction_examples(split, use_dataset_names=use_names, max_sentences=args.max_sentences,
                                              config=model.config)
        probabilities = predict_word_probabilities(model, tokenizer, examples["instruction"], examples["tokens"],
                                                   args.batch_size, f"dev {corpus}")
        by_type.setdefault(examples[0]["entity_type"], {})[corpus] = (
            examples["labels"], probabilities, examples["tokens"])
    model_seconds = time.perf_counter() - start

    def scored(gold, probs, tokens, bias: float) -> dict:
        return entity_scores(gold, output_tags(probs, bias, decoding, tokens, reach))

    chosen, curves, per_corpus = {}, {}, {}
    for entity_type, sets in by_type.items():
        curve = {bias: {corpus: scored(*data, bias)["f1"] for corpus, data in sets.items()} for bias in grid}
        chosen[entity_type] = choose_bias(curve)
        curves[entity_type] = {str(bias): {c: round(f1, 2) for c, f1 in scores.items()} for bias, scores in curve.items()}
        for corpus, data in sets.items():
            per_corpus[corpus] = {
                "entity_type": entity_type,
                "sentences": len(data[0]),
                "bias_0": scored(*data, 0.0),
                "chosen": scored(*data, chosen[entity_type]),
            }
        print(f"{entity_type}: o_bias {chosen[entity_type]:+.2f} | " + " | ".join(
            f"{c} {per_corpus[c]['bias_0']['f1']:.2f} -> {per_corpus[c]['chosen']['f1']:.2f}" for c in sets), flush=True)
    result = {
        "command": " ".join(["python", "calibrate_o_bias.py", *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine(),
        "git_revision": git_revision(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": args.model,
        "split": "validation",
        "max_sentences_per_corpus": args.max_sentences or None,
        "dataset_names_in_instructions": use_names,
        "grid": grid,
        "decoding": decoding,
        "abbreviation_reach": reach,
        "o_bias": chosen,
        "mean_dev_f1_bias_0": round(statistics.mean(c["bias_0"]["f1"] for c in per_corpus.values()), 2),
        "mean_dev_f1_chosen": round(statistics.mean(c["chosen"]["f1"] for c in per_corpus.values()), 2),
        "corpora": per_corpus,
        "curves_f1": curves,
        "model_seconds": round(model_seconds, 1),
    }
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps(result, indent=2) + "\n")
    print(f"mean dev F1 {result['mean_dev_f1_bias_0']:.2f} -> {result['mean_dev_f1_chosen']:.2f} -> {args.results}")
    if args.write_config:
        config = VanerConfig.from_pretrained(args.write_config)
        if config.decoding != decoding and config.o_bias_for_mode(not use_names):
            print(f"note: {args.write_config} now decodes with {decoding}; its biases for instructions "
                  f"{'without' if use_names else 'with'} dataset names were chosen for {config.decoding}: recalibrate them")
        config.set_o_bias(chosen, use_names, decoding)
        config.save_pretrained(args.write_config)
    return result


if __name__ == "__main__":
    main()
