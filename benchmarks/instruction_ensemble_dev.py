"""Probe whether averaging the O/B/I word probabilities of several (model, instruction mode) members helps.

    python benchmarks/instruction_ensemble_dev.py --name vaner_instruction_ensemble_dev \
        --members models/vaner-gemma3-270m:named models/vaner-gemma3-270m:unnamed models/vaner-gemma3-270m-adapt:unnamed \
        --corpora BC5CDR-disease BC2GM --data-dir ../shared/data/bioner --max-sentences 1000 --bf16

A member is a shipped model folder and `named` (instructions name the dataset) or `unnamed` (adapt mode), with
`:context` for a document-context view: each sentence is read with the split's preceding sentence placed before its
instruction (`<previous sentence> <instruction> <sentence>`, up to `CONTEXT_MAX_LENGTH` tokens per window). Every
member is scored alone, and every average of two or more members: the mean of their probabilities, decoded with the
mean of their calibrated O biases and the first member's `config.decoding`, then the abbreviation rule as the first
member's config sets it. Dev split only: it tells whether an ensemble is worth its extra forward passes.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import results_parser, write_results  # noqa: E402
from dataset_scripts import load_corpus, split_instruction_examples  # noqa: E402
from evaluate_model import abbreviation_reach, load_for_scoring, output_tags  # noqa: E402
from evaluation import entity_scores, example_biases, model_decoding, predict_word_probabilities  # noqa: E402
from export_model import loadable_folder  # noqa: E402

MODES = {"named": True, "unnamed": False}
CONTEXT_MAX_LENGTH = 256  # the context view's windows: room for a previous sentence beside the shipped 128


def parse_member(text: str) -> tuple[str, bool, bool]:
    """`FOLDER:named|unnamed[:context]` -> (folder, use_dataset_names, with_context)."""
    with_context = text.endswith(":context")
    folder, _, mode = text.removesuffix(":context").rpartition(":")
    if not folder or mode not in MODES:
        raise SystemExit(f"--members {text!r}: expected FOLDER:named or FOLDER:unnamed, optionally with :context")
    return folder, MODES[mode], with_context


def member_predictions(folder: str, use_names: bool, corpora: list[str], args, with_context: bool = False) -> dict:
    """Per corpus: word probabilities, per-sentence O biases, decoding, abbreviation reach, gold and words."""
    model, tokenizer = load_for_scoring(loadable_folder(folder), args.bf16)
    if with_context:  # read as a model trained with one sentence of context would be (config.render_with_context)
        model.config.context_sentences = max(1, model.config.context_sentences)
        model.config.max_length = max(CONTEXT_MAX_LENGTH, model.config.max_length)
    reach = abbreviation_reach(args.abbreviation_reach, model.config)
    out = {}
    for corpus in corpora:
        split = load_corpus(corpus, data_dir=args.data_dir)["validation"]
        examples = split_instruction_examples(split, use_dataset_names=use_names, max_sentences=args.max_sentences,
                                              config=model.config)
        start = time.perf_counter()
        probabilities = predict_word_probabilities(model, tokenizer, examples["instruction"], examples["tokens"],
                                                   args.batch_size, f"{corpus} {folder} {'named' if use_names else 'unnamed'}")
        out[corpus] = {"probabilities": [p.float() for p in probabilities], "biases": example_biases(model, examples, use_names),
                       "decoding": model_decoding(model), "reach": reach, "gold": examples["labels"],
                       "tokens": examples["tokens"], "seconds": round(time.perf_counter() - start, 1)}
    del model
    return out


def score_average(members: list[dict], corpus: str) -> dict:
    """Entity scores of the averaged probabilities of `members` on `corpus` (one member: that member alone)."""
    parts = [member[corpus] for member in members]
    probabilities = [torch.stack(words).mean(0) for words in zip(*(part["probabilities"] for part in parts))]
    biases = [statistics.mean(values) for values in zip(*(part["biases"] for part in parts))]
    first = parts[0]
    predicted = output_tags(probabilities, biases, first["decoding"], first["tokens"], first["reach"])
    return entity_scores(first["gold"], predicted)


def main(argv: list[str] | None = None) -> dict:
    parser = results_parser(__doc__)
    parser.add_argument("--members", nargs="+", required=True, help="FOLDER:named or FOLDER:unnamed, optionally :context")
    parser.add_argument("--corpora", nargs="+", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--max-sentences", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--abbreviation-reach", type=int, default=20)
    args = parser.parse_args(argv)
    specs = [parse_member(text) for text in args.members]
    predictions = [member_predictions(folder, names, args.corpora, args, context) for folder, names, context in specs]
    arms = []
    for size in range(1, len(specs) + 1):
        for chosen in itertools.combinations(range(len(specs)), size):
            scores = {corpus: score_average([predictions[i] for i in chosen], corpus) for corpus in args.corpora}
            arms.append({"members": [args.members[i] for i in chosen], "corpora": scores,
                         "mean_f1": statistics.mean(s["f1"] for s in scores.values())})
            print(f"{' + '.join(arms[-1]['members'])}: mean F1 {arms[-1]['mean_f1']:.2f} "
                  + " ".join(f"{c} {s['f1']:.2f}" for c, s in scores.items()), flush=True)
    seconds = {args.members[i]: {c: p[c]["seconds"] for c in args.corpora} for i, p in enumerate(predictions)}
    path = write_results(args.name, {"split": "validation", "max_sentences_per_corpus": args.max_sentences,
                                     "bf16": args.bf16, "abbreviation_reach": args.abbreviation_reach,
                                     "member_seconds": seconds, "arms": arms, "note": args.note})
    print(path)
    return {"arms": arms}


if __name__ == "__main__":
    main()
