"""Average the weights of full VANER model folders (a "model soup").

Two cooldown branches off the same constant-LR trunk end in nearby minima; their uniform weight average is a
cheap candidate that costs no training, only a dev calibration. LoRA factors cannot be averaged (the mean of
B @ A is not the product of the means), so this works on merged full folders (`export_model.py materialize`).

    python average_models.py --models FOLDER_A FOLDER_B --output runs/soup
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

__all__ = ["average_models", "main"]

WEIGHTS = "model.safetensors"


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    path = folder / WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; average_models needs full model folders "
                                "(export_model.py materialize builds one from an adapter folder)")
    return load_file(str(path))


def average_models(folders: list[str | Path], output: str | Path) -> Path:
    """Write the uniform average of `folders`' weights to `output`, with the first folder's config and code."""
    if len(folders) < 2:
        raise ValueError("--models: give at least two model folders to average")
    folders = [Path(f) for f in folders]
    first = _weights(folders[0])
    sums = {name: tensor.to(torch.float64) for name, tensor in first.items()}
    for folder in folders[1:]:
        other = _weights(folder)
        if other.keys() != first.keys():
            diff = sorted(other.keys() ^ first.keys())[:5]
            raise ValueError(f"{folder / WEIGHTS}: parameter names differ from {folders[0] / WEIGHTS} (e.g. {diff})")
        for name, tensor in other.items():
            if tensor.shape != first[name].shape:
                raise ValueError(f"{folder / WEIGHTS}: {name} has shape {tuple(tensor.shape)}, "
                                 f"{tuple(first[name].shape)} in {folders[0] / WEIGHTS}")
            sums[name] += tensor.to(torch.float64)
    averaged = {name: (total / len(folders)).to(first[name].dtype).contiguous() for name, total in sums.items()}
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    for item in folders[0].iterdir():
        if item.name != WEIGHTS and item.is_file():
            shutil.copy2(item.resolve(), output / item.name)
    save_file(averaged, str(output / WEIGHTS), metadata={"format": "pt"})
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help="full model folders with the same architecture")
    parser.add_argument("--output", required=True, help="folder for the averaged model")
    args = parser.parse_args(argv)
    print(average_models(args.models, args.output))


if __name__ == "__main__":
    main()
