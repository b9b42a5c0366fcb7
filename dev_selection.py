"""The Trainer setup that VANER (train.py) and the MiniLM baseline share, so the two are trained and selected alike.

Both train with AdamW at a constant learning rate (optionally followed by a linear decay to zero,
`StableThenLinearDecay`, which lets a constant-LR run branch off a cooled-down checkpoint), no weight
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

__all__ = [
    "BestWithinThisRun",
    "DecayAsGiven",
    "DevF1Trainer",
    "FitStepsToTimeBudget",
    "SchedulerFollowsGlobalStep",
    "StableThenLinearDecay",
    "dev_evaluations",
    "dev_selected_training_arguments",
    "training_seconds",
]

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


class DecayAsGiven(TrainerCallback):
    """Keeps a decay fixed on the command line (`--decay-from/--decay-steps`) over the one a resumed checkpoint holds.

    LambdaLR restores a `StableThenLinearDecay`'s fields from scheduler.pt, so a cooldown branched off a checkpoint
    of another cooldown (or of a budgeted run) would silently follow that run's decay instead of the one asked for.
    The Trainer loads the checkpoint before `on_train_begin`, so putting the fields back there is enough.
    """

    def __init__(self, schedule: "StableThenLinearDecay"):
        self.schedule, self.fields = schedule, dict(vars(schedule))

    def on_train_begin(self, args, state, control, **kwargs):
        vars(self.schedule).update(self.fields)


class BestWithinThisRun(TrainerCallback):
    """Makes a branch select its checkpoint among its own: a run resumed from another run's checkpoint forgets the
    best dev score and checkpoint that the other run's trainer state carries.

    Otherwise a cooldown branched off a constant-LR trunk would keep the trunk's best as the one to beat and, when
    none of its own evaluations beat it, reload the trunk's checkpoint at the end: its final model would be a
    trunk point and its checkpoint rotation would not protect its own best. Resuming a run from its own checkpoint
    keeps that run's best. The Trainer loads the resumed state before `on_train_begin`, and there it already drops
    a best checkpoint whose folder is gone (a run restored on another machine) but keeps its score: that score is
    dropped here too, since a checkpoint that cannot be reloaded must not stay the one to beat.
    """

    def on_train_begin(self, args, state, control, **kwargs):
        best = state.best_model_checkpoint
        if best is None or not Path(best).resolve().is_relative_to(Path(args.output_dir).resolve()):
            state.best_model_checkpoint = state.best_metric = state.best_global_step = None


class StableThenLinearDecay:
    """LR multiplier: 1 until step `decay_from`, then linearly down to 0 over `decay_steps` steps (a WSD cooldown).

    A callable object rather than a closure so that `FitStepsToTimeBudget` can move the decay once it has measured
    the step time, and so that LambdaLR saves both fields in scheduler.pt (a resumed budgeted run keeps its plan;
    a decay given on the command line wins over the saved one through `DecayAsGiven`).
    """

    def __init__(self, decay_from: int, decay_steps: int):
        self.decay_from = decay_from
        self.decay_steps = decay_steps

    def __call__(self, step: int) -> float:
        if step < self.decay_from:
            return 1.0
        return max(0.0, 1.0 - (step - self.decay_from) / self.decay_steps)


class FitStepsToTimeBudget(TrainerCallback):
    """Fits a run into a wall-clock budget (a leased accelerator, a CI slot) instead of a step count.

    It times `probe_steps` steps after `warmup_steps` (the first steps carry the CUDA start-up and the resume's
    batch skipping: on an H200 they doubled the measured step time), sets the run's last step so that the rest
    fits in `seconds` less a `reserve` fraction (dev evaluations, the final save), and moves `schedule`'s linear
    decay onto the last `decay_fraction` of the steps left. The steps are fixed from then on, so the run's record
    (trainer state, scheduler.pt) says exactly which schedule it followed. Should the budget still run out (a slower
    stretch), it stops at the deadline with a checkpoint and a dev evaluation.
    """

    def __init__(self, seconds: float, schedule: StableThenLinearDecay, decay_fraction: float = 0.5,
                 probe_steps: int = 50, reserve: float = 0.1, warmup_steps: int = 10,
                 clock: Callable[[], float] = time.monotonic):
        if (seconds <= 0 or not 0 < decay_fraction <= 1 or probe_steps < 1 or not 0 <= reserve < 1
                or warmup_steps < 0):
            raise ValueError(f"time budget {seconds}s, decay fraction {decay_fraction}, probe {probe_steps} steps, "
                             f"reserve {reserve}, warm-up {warmup_steps} steps: need seconds > 0, 0 < fraction <= 1, "
                             "probe >= 1, 0 <= reserve < 1, warm-up >= 0")
        self.seconds, self.schedule, self.decay_fraction = seconds, schedule, decay_fraction
        self.probe_steps, self.reserve, self.warmup_steps, self.clock = probe_steps, reserve, warmup_steps, clock
        self.started_at: float | None = None
        self.probe_started_at: float | None = None
        self.first_step = 0
        self.plan: dict | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.started_at, self.first_step = self.clock(), state.global_step
        self.probe_started_at = self.started_at  # moved to the end of the warm-up, if there is one

    def on_step_end(self, args, state, control, **kwargs):
        now = self.clock()
        elapsed = now - self.started_at
        done = state.global_step - self.first_step
        if done == self.warmup_steps:
            self.probe_started_at = now
        if self.plan is None and done >= self.warmup_steps + self.probe_steps:
            seconds_per_step = (now - self.probe_started_at) / (done - self.warmup_steps)
            steps_left = max(1, int((self.seconds * (1 - self.reserve) - elapsed) / seconds_per_step))
            decay_steps = max(1, round(steps_left * self.decay_fraction))
            state.max_steps = state.global_step + steps_left
            self.schedule.decay_from, self.schedule.decay_steps = state.max_steps - decay_steps, decay_steps
            self.plan = {"seconds_per_step": round(seconds_per_step, 4), "last_step": state.max_steps,
                         "decay_from": self.schedule.decay_from, "decay_steps": decay_steps}
            print(f"[time budget] {self.plan}", flush=True)
        if state.global_step >= state.max_steps or elapsed >= self.seconds:
            control.should_training_stop = control.should_save = control.should_evaluate = True
        return control


class DevF1Trainer(Trainer):
    """Trainer whose evaluation is entity-level P/R/F1 on each validation corpus; their mean selects checkpoints.

    `lr_schedule` (a `StableThenLinearDecay`) replaces the constant LR that TrainingArguments name: one mechanism
    for a decay fixed on the command line and one that `FitStepsToTimeBudget` plans while the run trains.
    """

    def __init__(self, *args, dev_sets: dict[str, Any], score_corpus: CorpusScorer,
                 lr_schedule: StableThenLinearDecay | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.dev_sets = dev_sets
        self.score_corpus = score_corpus
        self.lr_schedule = lr_schedule
        self.dev_history: list[dict] = []
        self.add_callback(SchedulerFollowsGlobalStep())
        self.add_callback(BestWithinThisRun())

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_schedule is None:
            return super().create_scheduler(num_training_steps, optimizer)
        if self.lr_scheduler is None:
            self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer or self.optimizer, self.lr_schedule)
        return self.lr_scheduler

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
) -> TrainingArguments:
    """AdamW, constant LR, no weight decay, length-grouped batches, checkpoint + dev F1 every `eval_steps` steps
    (every epoch when 0), best mean dev F1 reloaded at the end. Checkpoints go to `output_dir/checkpoints`.
    A decaying LR is `DevF1Trainer(lr_schedule=...)`'s job.
    """
    if eval_steps > 0:
        schedule = {"eval_strategy": "steps", "eval_steps": eval_steps, "save_strategy": "steps", "save_steps": eval_steps}
    else:
        schedule = {"eval_strategy": "epoch", "save_strategy": "epoch"}
    return TrainingArguments(
        output_dir=str(Path(output_dir) / "checkpoints"),
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        lr_scheduler_type="constant",
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


def dev_evaluations(log_history: list[dict]) -> list[dict]:
    """The dev evaluations (entries with `eval_mean_f1`) of a Trainer log history, in step order."""
    return [entry for entry in log_history if "eval_mean_f1" in entry]


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
