"""The Trainer setup that VANER (train.py) and the MiniLM baseline share, so the two are trained and selected alike.

Both train with AdamW at a constant learning rate (optionally followed by a linear decay to zero: the
warmup-stable-decay schedule, which lets a constant-LR run branch off a cooled-down checkpoint), no weight
decay, length-grouped batches, and keep the checkpoint with the best mean entity F1 over the validation corpora
(never test). They differ only in how one dev corpus is scored (instructed windows for VANER, plain sentences
for the baseline): `DevF1Trainer` leaves that to a `score_corpus` callable. Workshop code: the Hub-side files
never import it.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch
import warnings

from transformers import Trainer, TrainerCallback, TrainingArguments

__all__ = ["DevF1Trainer", "SchedulerFollowsGlobalStep", "dev_selected_training_arguments", "training_seconds"]

CorpusScorer = Callable[[Any, str, Any], dict]  # (model, corpus name, dev set) -> {"precision", "recall", "f1", ...}


class SchedulerFollowsGlobalStep(TrainerCallback):
    """Puts the LR scheduler at the run's global step when training (re)starts.

    A checkpoint restored from a shipped folder has no optimizer.pt, and the Trainer then loads no scheduler state
    either: the scheduler counts from 0 again while the run is at step N. A constant LR does not care, but the
    cooldown's decay (`decay=(start, steps)`) is keyed to the step, so it would begin N steps late.
    """

    def on_train_begin(self, args, state, control, lr_scheduler=None, **kwargs):
        if lr_scheduler is not None and lr_scheduler.last_epoch != state.global_step:
            lr_scheduler.last_epoch = state.global_step - 1
            with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()": intended here
                warnings.simplefilter("ignore", UserWarning)
                lr_scheduler.step()


class DevF1Trainer(Trainer):
    """Trainer whose evaluation is entity-level P/R/F1 on each validation corpus; their mean selects checkpoints."""

    def __init__(self, *args, dev_sets: dict[str, Any], score_corpus: CorpusScorer, **kwargs):
        super().__init__(*args, **kwargs)
        self.dev_sets = dev_sets
        self.score_corpus = score_corpus
        self.dev_history: list[dict] = []
        self.add_callback(SchedulerFollowsGlobalStep())

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        start = time.perf_counter()
        was_training = self.model.training
        self.model.eval()
        metrics: dict[str, float] = {}
        for corpus, dev_set in self.dev_sets.items():
            scores = self.score_corpus(self.model, corpus, dev_set)
            for key in ("precision", "recall", "f1"):
                metrics[f"{metric_key_prefix}_{corpus}_{key}"] = round(scores[key], 2)
        mean_f1 = round(statistics.mean(metrics[f"{metric_key_prefix}_{c}_f1"] for c in self.dev_sets), 2)
        metrics[f"{metric_key_prefix}_mean_f1"] = mean_f1
        metrics[f"{metric_key_prefix}_runtime"] = round(time.perf_counter() - start, 1)
        self.model.train(was_training)
        self.dev_history.append({"step": self.state.global_step, "mean_f1": mean_f1})
        per_corpus = " | ".join(f"{c} {metrics[f'{metric_key_prefix}_{c}_f1']:.2f}" for c in self.dev_sets)
        print(f"[eval step {self.state.global_step}] mean F1 {mean_f1:.2f} | {per_corpus}", flush=True)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def dev_selected_training_arguments(
    output_dir: str | Path,
    *,
    batch_size: int,
    learning_rate: float,
    epochs: float,
    max_steps: int,
    eval_steps: int,
    logging_steps: int,
    save_total_limit: int,
    seed: int,
    decay: tuple[int, int] | None = None,
) -> TrainingArguments:
    """AdamW, constant LR, no weight decay, length-grouped batches, checkpoint + dev F1 every `eval_steps` steps
    (every epoch when 0), best mean dev F1 reloaded at the end. Checkpoints go to `output_dir/checkpoints`.

    `decay=(start, steps)` keeps the LR constant until step `start`, then takes it linearly to zero over `steps`
    steps and ends the run there (transformers' warmup_stable_decay schedule, no warmup); `max_steps` is then
    `start + steps`.
    """
    if decay is not None:
        start, steps = decay
        max_steps = start + steps
        scheduler = {
            "lr_scheduler_type": "warmup_stable_decay",
            "lr_scheduler_kwargs": {"num_stable_steps": start, "num_decay_steps": steps, "decay_type": "linear"},
        }
    else:
        scheduler = {"lr_scheduler_type": "constant"}
    if eval_steps > 0:
        schedule = {"eval_strategy": "steps", "eval_steps": eval_steps, "save_strategy": "steps", "save_steps": eval_steps}
    else:
        schedule = {"eval_strategy": "epoch", "save_strategy": "epoch"}
    return TrainingArguments(
        output_dir=str(Path(output_dir) / "checkpoints"),
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        **scheduler,
        optim="adamw_torch",
        weight_decay=0.0,
        num_train_epochs=epochs,
        max_steps=max_steps,
        train_sampling_strategy="group_by_length",
        length_column_name="length",
        **schedule,
        save_total_limit=save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model="mean_f1",
        greater_is_better=True,
        logging_steps=logging_steps,
        seed=seed,
        data_seed=seed,
        report_to="none",
        dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding",
        save_only_model=False,
        use_cpu=not torch.cuda.is_available(),
    )


def training_seconds(log_history: list[dict]) -> float:
    """Wall seconds of training (dev evaluations included) over every segment of a resumed run.

    Each log entry carries `train_runtime`, the seconds since its own `train()` call began; a resume starts the
    count again, so the total is the sum of each segment's last value.
    """
    total, last = 0.0, 0.0
    for entry in log_history:
        runtime = entry.get("train_runtime")
        if runtime is None:
            continue
        if runtime < last:
            total += last
        last = runtime
    return round(total + last, 1)
