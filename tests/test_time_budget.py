"""The time-budgeted schedule: a plan fixed from the measured step time, and a decay that follows it."""

import pickle

import pytest
import torch
from transformers import TrainerControl, TrainerState, TrainingArguments

import train
from conftest import write_corpus
from dev_selection import DecayAsGiven, FitStepsToTimeBudget, StableThenLinearDecay


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_stable_then_linear_decay_values():
    schedule = StableThenLinearDecay(decay_from=10, decay_steps=4)
    assert [schedule(step) for step in (0, 9, 10, 11, 12, 13, 14, 20)] == [1, 1, 1, 0.75, 0.5, 0.25, 0, 0]


def test_lambda_lr_saves_and_restores_the_plan():
    """LambdaLR keeps a callable object's fields in its state dict: a resumed budgeted run keeps its decay."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    saved = torch.optim.lr_scheduler.LambdaLR(optimizer, StableThenLinearDecay(7, 3)).state_dict()
    fresh = StableThenLinearDecay(10**9, 1)
    torch.optim.lr_scheduler.LambdaLR(optimizer, fresh).load_state_dict(pickle.loads(pickle.dumps(saved)))
    assert (fresh.decay_from, fresh.decay_steps) == (7, 3)


def run_steps(callback, state, clock, steps, seconds_per_step):
    control = TrainerControl()
    for _ in range(steps):
        clock.now += seconds_per_step
        state.global_step += 1
        callback.on_step_end(None, state, control)
        if control.should_training_stop:
            break
    return control


def test_plan_fits_the_budget_after_the_probe():
    clock, schedule = FakeClock(), StableThenLinearDecay(10**9, 1)
    callback = FitStepsToTimeBudget(100.0, schedule, decay_fraction=0.5, probe_steps=10, reserve=0.1,
                                    warmup_steps=2, clock=clock)
    state = TrainerState(global_step=500, max_steps=10**9)
    callback.on_train_begin(None, state, TrainerControl())
    run_steps(callback, state, clock, 2, 2.5)  # a slow start (5 s) that the probe leaves out
    control = run_steps(callback, state, clock, 10, 0.5)  # 10 steps in 5 s: 0.5 s per step
    # (100 s * 0.9 - 10 s) / 0.5 s = 160 more steps: the run ends at 672, decaying over the last 80
    assert callback.plan == {"seconds_per_step": 0.5, "last_step": 672, "decay_from": 592, "decay_steps": 80}
    assert state.max_steps == 672 and not control.should_training_stop
    control = run_steps(callback, state, clock, 1000, 0.5)
    assert state.global_step == 672
    assert control.should_training_stop and control.should_save and control.should_evaluate
    assert schedule(672) == 0.0 and schedule(591) == 1.0


def test_deadline_stops_a_run_slower_than_planned():
    clock, schedule = FakeClock(), StableThenLinearDecay(10**9, 1)
    callback = FitStepsToTimeBudget(60.0, schedule, probe_steps=5, reserve=0.0, warmup_steps=0, clock=clock)
    state = TrainerState(global_step=0, max_steps=10**9)
    callback.on_train_begin(None, state, TrainerControl())
    run_steps(callback, state, clock, 5, 1.0)
    assert callback.plan["last_step"] == 60
    control = run_steps(callback, state, clock, 1000, 3.0)  # three times slower after the probe
    assert control.should_training_stop and control.should_save
    assert state.global_step == 24  # 5 s + 18 steps * 3 s = 59 s at step 23; step 24 ends at 62 s
    assert clock.now - 1000.0 >= 60.0


@pytest.fixture()
def data_args(tmp_path) -> list[str]:
    """A one-corpus data folder that passes train.py's check of its split files, so that parsing the schedule
    flags never depends on ../shared being beside the checkout."""
    write_corpus(tmp_path, "NCBI-disease", train="x\tO")
    return ["--corpora", "NCBI-disease", "--data-dir", str(tmp_path)]


@pytest.mark.parametrize("flags", [
    ["--time-budget-minutes", "5", "--decay-from", "10", "--decay-steps", "5"],
    ["--time-budget-minutes", "5", "--max-steps", "100"],
    ["--time-budget-minutes", "0"],
    ["--time-budget-minutes", "5", "--budget-decay-fraction", "1.5"],
])
def test_time_budget_rejects_conflicting_or_bad_flags(flags, data_args, capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--output-dir", "unused", *data_args, *flags])
    assert "--time-budget-minutes" in capsys.readouterr().err


def test_budgeted_run_caps_steps_until_the_plan(data_args):
    args = train.parse_args(["--output-dir", "unused", *data_args, "--time-budget-minutes", "2"])
    schedule, callbacks = train.lr_schedule_and_callbacks(args)
    assert schedule(123456) == 1.0 and callbacks[0].seconds == 120.0
    training_args = train.training_arguments(args)
    assert isinstance(training_args, TrainingArguments) and training_args.max_steps == train.UNPLANNED_STEPS


def test_cooldown_flags_give_the_same_schedule_object_and_end_with_the_decay(data_args):
    args = train.parse_args(["--output-dir", "unused", *data_args, "--decay-from", "100", "--decay-steps", "40"])
    schedule, callbacks = train.lr_schedule_and_callbacks(args)
    assert [type(c) for c in callbacks] == [DecayAsGiven] and (schedule.decay_from, schedule.decay_steps) == (100, 40)
    assert [schedule(step) for step in (99, 100, 120, 140)] == [1.0, 1.0, 0.5, 0.0]
    training_args = train.training_arguments(args)
    assert training_args.max_steps == 140 and training_args.lr_scheduler_type == "constant"


def test_a_decay_given_on_the_command_line_wins_over_the_one_a_checkpoint_restores():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    saved = torch.optim.lr_scheduler.LambdaLR(optimizer, StableThenLinearDecay(7, 3)).state_dict()
    asked = StableThenLinearDecay(100, 40)
    keep = DecayAsGiven(asked)
    torch.optim.lr_scheduler.LambdaLR(optimizer, asked).load_state_dict(saved)  # what a resume does first
    assert (asked.decay_from, asked.decay_steps) == (7, 3)
    keep.on_train_begin(None, TrainerState(), TrainerControl())
    assert (asked.decay_from, asked.decay_steps) == (100, 40)
