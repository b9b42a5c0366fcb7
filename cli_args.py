"""Argument checks the workshop scripts share (train.py, build_dbr.py, evaluate_model.py, calibrate_o_bias.py).

A bad flag should fail at parse time with a message naming the flag, before a model loads or a step runs, rather
than as a traceback from deep code after minutes of work.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dataset_scripts import canonical_corpora

__all__ = ["check_corpora_args", "positive_int", "read_json_argument"]


def positive_int(text: str) -> int:
    """argparse `type=` for counts that must be at least 1 (batch sizes, neighbours per query)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def read_json_argument(path: str | Path, option: str):
    """The JSON document a file option names; a missing, unreadable or non-JSON file raises `ValueError` naming the
    option and the path, so the caller can say which argument to fix."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{option} {path}: no such file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{option} {path}: not a JSON file ({error})") from None


def check_corpora_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Put `args.corpora` in the builders' spelling and check `args.data_dir` holds their split files.

    `args.corpora` None (a script that defaults to the model's corpora) is left alone; `args.data_dir` None means
    the builders download, so there are no files to check.
    """
    if args.corpora is None:
        return
    try:
        args.corpora = canonical_corpora(args.corpora, getattr(args, "data_dir", None))
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
