"""benchmarks/record_run_state.py: the run record's best checkpoint survives a resume that cleared it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.record_run_state import checkpoint_fields


def _checkpoint(tmp_path: Path, best_model_checkpoint: str | None) -> Path:
    folder = tmp_path / "checkpoint-31000"
    folder.mkdir()
    history = [
        {"step": 25000, "eval_mean_f1": 79.16},
        {"step": 30950, "loss": 0.05, "learning_rate": 2e-4},
        {"step": 31000, "eval_mean_f1": 76.68},
    ]
    state = {"global_step": 31000, "max_steps": 31000, "log_history": history,
             "best_model_checkpoint": best_model_checkpoint, "best_metric": 79.16}
    (folder / "trainer_state.json").write_text(json.dumps(state))
    return folder


@pytest.mark.parametrize("trainer_best", [None, "runs/x/checkpoints/checkpoint-25000"])
def test_best_checkpoint_comes_from_the_evaluations(tmp_path, trainer_best):
    fields = checkpoint_fields(_checkpoint(tmp_path, trainer_best))
    assert fields["best_checkpoint"] == "checkpoint-25000"
    assert fields["best_mean_dev_f1"] == 79.16
    assert [e["step"] for e in fields["dev_evaluations_first_200_sentences_per_corpus"]] == [25000, 31000]
    assert fields["last_log"]["step"] == 30950


def test_a_folder_without_trainer_state_is_refused_by_name(tmp_path):
    with pytest.raises(SystemExit, match="no trainer_state.json"):
        checkpoint_fields(tmp_path)
