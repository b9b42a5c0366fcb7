"""Flags that the workshop scripts check before any model loads: counts >= 1, corpus names and their files."""

from __future__ import annotations

import argparse
import re

import pytest

import calibrate_o_bias
import evaluate_model
import train
from calibration_record import read_calibration
from cli_args import positive_int
from dataset_scripts import canonical_corpora


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "bioner" / "NCBI-disease"
    folder.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (folder / f"{split}.tsv").write_text("Breast\tB-Disease\ncancer\tI-Disease\n\n", encoding="utf-8")
    return tmp_path / "bioner"


def test_positive_int_takes_counts_and_refuses_the_rest():
    assert positive_int("8") == 8
    for text, message in [("0", "got 0"), ("-3", "got -3"), ("eight", "got 'eight'"), ("2.5", "got '2.5'")]:
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            positive_int(text)


def test_canonical_corpora_spells_names_and_checks_files(data_dir, tmp_path):
    assert canonical_corpora(["ncbi-DISEASE", "S800"]) == ["NCBI-disease", "s800"]
    assert canonical_corpora(["ncbi-disease"], data_dir) == ["NCBI-disease"]
    with pytest.raises(ValueError, match=r"--corpora: unknown corpus \['NCBI-disaese', 'BC6'\]; known: \["):
        canonical_corpora(["NCBI-disaese", "s800", "BC6"])
    with pytest.raises(FileNotFoundError, match=r"--corpora s800 with --data-dir .*bioner: corpus 's800': missing"):
        canonical_corpora(["NCBI-disease", "s800"], data_dir)


@pytest.mark.parametrize("script, argv", [
    (train, ["--output-dir", "{out}"]),
    (evaluate_model, ["--model", "{out}", "--output-dir", "{out}"]),
    (calibrate_o_bias, ["--model", "{out}", "--results", "{out}/r.json"]),
])  # fmt: skip
def test_scripts_normalise_corpus_names_and_refuse_bad_ones_at_parse_time(script, argv, data_dir, tmp_path, capsys):
    argv = [arg.replace("{out}", str(tmp_path / "out")) for arg in argv] + ["--data-dir", str(data_dir)]
    assert script.parse_args([*argv, "--corpora", "ncbi-disease"]).corpora == ["NCBI-disease"]
    for corpora, message in [(["NCBI-disaese"], "--corpora: unknown corpus ['NCBI-disaese']"),
                             (["BC2GM"], "--corpora BC2GM with --data-dir")]:
        with pytest.raises(SystemExit) as exit_info:
            script.parse_args([*argv, "--corpora", *corpora])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err


@pytest.mark.parametrize("script, option, argv", [
    (train, "--eval-batch-size", ["--output-dir", "out"]),
    (train, "--batch-size", ["--output-dir", "out"]),
    (evaluate_model, "--batch-size", ["--model", "m", "--output-dir", "out"]),
    (calibrate_o_bias, "--batch-size", ["--model", "m", "--results", "r.json"]),
])  # fmt: skip
def test_batch_sizes_below_one_fail_at_parse_time(script, option, argv, data_dir, capsys):
    with pytest.raises(SystemExit):
        script.parse_args([*argv, "--corpora", "NCBI-disease", "--data-dir", str(data_dir), option, "0"])
    assert f"argument {option}: expected a whole number >= 1, got 0" in capsys.readouterr().err


def test_calibration_files_are_checked_before_use(tmp_path, data_dir, capsys):
    good = tmp_path / "calibration.json"
    good.write_text('{"o_bias": {"Disease": 0.5}, "mean_dev_f1_bias_0": 80.0, "mean_dev_f1_chosen": 81.0}')
    assert read_calibration(good, "--o-bias")["o_bias"] == {"Disease": 0.5}
    metrics = tmp_path / "metrics.test.json"  # an evaluation's metrics also carry o_bias, but no dev sweep
    metrics.write_text('{"o_bias": {"Disease": 0.5}, "decoding": "viterbi", "corpora": {}}')
    broken = tmp_path / "broken.json"
    broken.write_text('{"o_bias": ')
    strings = tmp_path / "strings.json"
    strings.write_text('{"o_bias": {"Disease": "high"}, "mean_dev_f1_bias_0": 1, "mean_dev_f1_chosen": 2}')
    for path, message in [(metrics, "metrics.test.json: not a calibrate_o_bias.py results file (no "
                                    "['mean_dev_f1_bias_0', 'mean_dev_f1_chosen'])"),
                          (broken, "broken.json: not a JSON file"),
                          (strings, "strings.json: o_bias must map entity types to numbers"),
                          (tmp_path / "nowhere.json", "nowhere.json: no such file")]:
        with pytest.raises(ValueError, match="--o-bias .*" + re.escape(message)):
            read_calibration(path, "--o-bias")
    with pytest.raises(SystemExit):  # evaluate_model refuses it before loading any model
        evaluate_model.parse_args(["--model", "m", "--output-dir", "out", "--corpora", "NCBI-disease",
                                   "--data-dir", str(data_dir), "--o-bias", str(metrics)])
    assert "--o-bias" in capsys.readouterr().err
