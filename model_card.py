"""Fill `model_card.md` (the template at the repo root) with a training run's settings and measured metrics."""

from __future__ import annotations

from pathlib import Path

__all__ = ["TEMPLATE", "render_model_card", "write_model_card"]

TEMPLATE = Path(__file__).resolve().parent / "model_card.md"


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
        corpora=", ".join(summary.get("corpora", [])),
        entity_types=", ".join(summary.get("entity_types", [])) or "see config.json",
        dbr=summary.get("dbr", "none"),
        dataset_names="yes" if summary.get("dataset_names_in_instructions", True) else "no (adapt mode)",
        lora=f"r={lora['r']}, alpha={lora['alpha']}, all linear layers" if lora else "none (full fine-tuning)",
        steps=summary.get("global_step", "?"),
        runtime=f"{summary['train_runtime_seconds'] / 3600:.2f} h" if summary.get("train_runtime_seconds") else "see the run's log",
        metrics_rows="\n".join(rows) or "| (not evaluated) | | | |",
        status=summary.get("status", ""),
    )


def write_model_card(path: str | Path, summary: dict) -> Path:
    path = Path(path)
    path.write_text(render_model_card(summary), encoding="utf-8")
    return path
