"""Read a `calibrate_o_bias.py` results file (the O biases a model decodes with), checking it is one.

`export_model.py ship --calibration` and `evaluate_model.py --o-bias` both take such a file; any other JSON (an
evaluation's metrics file has an `o_bias` too) would otherwise fail later with a bare KeyError, after a model load.
"""

from __future__ import annotations

from pathlib import Path

from cli_args import read_json_argument

__all__ = ["CALIBRATION_KEYS", "read_calibration"]

# what calibrate_o_bias.py always writes and its readers use: the biases and the dev F1 before / after them
CALIBRATION_KEYS = ("o_bias", "mean_dev_f1_bias_0", "mean_dev_f1_chosen")


def read_calibration(path: str | Path, option: str) -> dict:
    """The results record at `path`; a missing, unreadable or foreign file raises `ValueError` naming `option`."""
    path = Path(path)
    record = read_json_argument(path, option)
    missing = [key for key in CALIBRATION_KEYS if not isinstance(record, dict) or key not in record]
    if missing:
        raise ValueError(f"{option} {path}: not a calibrate_o_bias.py results file (no {missing})")
    if not isinstance(record["o_bias"], dict) or not all(
        isinstance(bias, (int, float)) for bias in record["o_bias"].values()
    ):
        raise ValueError(f"{option} {path}: o_bias must map entity types to numbers, got {record['o_bias']!r}")
    return record
