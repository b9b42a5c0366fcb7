"""Average the weights of VANER models (a "model soup").

Two cooldown branches off the same constant-LR trunk end in nearby minima; their uniform weight average is a
cheap candidate that costs no training, only a dev calibration. Full model folders (`export_model.py
materialize`) are averaged tensor by tensor. LoRA factors cannot be averaged that way (the mean of B @ A is not
the product of the means), but the mean of n rank-r deltas is exactly one rank-n*r LoRA: the A factors stacked,
the B factors side by side, each scaled by its own LoRA scale over n. So adapter folders of one backbone average
into an adapter folder whose merge equals the soup of the merged models, small enough to ship.

    python average_models.py --models FOLDER_A FOLDER_B --output runs/soup            # full folders
    python average_models.py --adapters ADAPTER_A ADAPTER_B --output runs/soup-adapter  # adapter folders

`--max-rank R` keeps the adapter of a soup of many ingredients at the size of one: each module's averaged delta is
replaced by its best rank-R approximation (truncated SVD, Eckart-Young), and soup.json records what that lost.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from adapter_vaner import ADAPTER_CONFIG, ADAPTER_WEIGHTS, LORA_A, LORA_B, plain_lora_scale, read_adapter_config
from export_model import LORA_DTYPES, RUN_ARGS, SOUP_RECORD, STATE_DIR, cast_lora_factors, checkpoint_record
from folder_swap import replaced_when_done

__all__ = ["average_adapters", "average_models", "ingredient_record", "main", "truncate_lora_rank"]

WEIGHTS = "model.safetensors"
# a model card, scores and provenance describe one model, not the average
NOT_COPIED = {"README.md", "test_metrics.json", SOUP_RECORD}
# decision biases calibrated on one model's dev scores (calibrate_o_bias.py) do not carry over to the average
UNCALIBRATED = {"o_bias": {}, "o_bias_no_dataset": None}


def _matching_weights(folders: list[Path], file_name: str, hint: str) -> list[dict[str, torch.Tensor]]:
    """Each folder's weights, checked to hold the same tensor names (and, outside LoRA ranks, shapes)."""
    if len(folders) < 2:
        raise ValueError("give at least two folders to average")
    states = []
    for folder in folders:
        path = folder / file_name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; {hint}")
        states.append(load_file(str(path)))
    first = states[0]
    for folder, state in zip(folders[1:], states[1:]):
        if state.keys() != first.keys():
            diff = sorted(state.keys() ^ first.keys())[:5]
            raise ValueError(f"{folder / file_name}: parameter names differ from {folders[0] / file_name} (e.g. {diff})")
        for name, tensor in state.items():
            if tensor.shape != first[name].shape and not name.endswith((LORA_A, LORA_B)):
                raise ValueError(f"{folder / file_name}: {name} has shape {tuple(tensor.shape)}, "
                                 f"{tuple(first[name].shape)} in {folders[0] / file_name}")
    return states


def _mean(tensors: list[torch.Tensor]) -> torch.Tensor:
    return (sum(t.to(torch.float64) for t in tensors) / len(tensors)).to(tensors[0].dtype).contiguous()


def ingredient_record(folder: Path) -> dict:
    """What the soup's model card needs of one averaged folder: its train.py arguments, step, training time and
    last dev scores, from the training state a shipped checkpoint carries (only the folder where it has none)."""
    args_file, state_file = folder / STATE_DIR / RUN_ARGS, folder / STATE_DIR / "trainer_state.json"
    if not args_file.is_file() or not state_file.is_file():
        return {"folder": str(folder)}
    record = checkpoint_record(json.loads(args_file.read_text()), json.loads(state_file.read_text()))
    # its own LoRA settings: an --init-adapter run has its starting adapter's, not train.py's --lora-*
    if (folder / ADAPTER_CONFIG).is_file():
        config = read_adapter_config(folder)
        kept = ("r", "lora_alpha", "lora_dropout", "use_rslora")
        record["adapter_config"] = {key: config[key] for key in kept if key in config}
    return {"folder": str(folder), **record}


def truncate_lora_rank(state: dict[str, torch.Tensor], max_rank: int) -> tuple[dict[str, torch.Tensor], list[float]]:
    """`state` with each LoRA pair (B, A) of rank above `max_rank` replaced by the rank-`max_rank` factors of the
    best approximation of B @ A, and each truncated delta's relative Frobenius error (the dropped singular values'
    share). Computed in float64 through QR of both factors, so only a rank x rank matrix is decomposed."""
    if max_rank < 1:
        raise ValueError(f"max_rank must be at least 1, got {max_rank}")
    truncated, errors = dict(state), []
    for a_name in [name for name in state if name.endswith(LORA_A)]:
        b_name = a_name[: -len(LORA_A)] + LORA_B
        a, b = state[a_name], state[b_name]
        if a.shape[0] <= max_rank:
            continue
        q_b, r_b = torch.linalg.qr(b.to(torch.float64))
        q_a, r_a = torch.linalg.qr(a.to(torch.float64).T)
        u, singular, vh = torch.linalg.svd(r_b @ r_a.T)
        kept = min(max_rank, singular.numel())
        root = singular[:kept].sqrt()
        new_b = torch.zeros(b.shape[0], max_rank, dtype=torch.float64)
        new_a = torch.zeros(max_rank, a.shape[1], dtype=torch.float64)
        new_b[:, :kept] = q_b @ u[:, :kept] * root
        new_a[:kept] = root[:, None] * (vh[:kept] @ q_a.T)
        truncated[b_name], truncated[a_name] = new_b.to(b.dtype).contiguous(), new_a.to(a.dtype).contiguous()
        total = singular.square().sum()
        errors.append(float((singular[kept:].square().sum() / total).sqrt()) if total > 0 else 0.0)
    return truncated, errors


def _write(folders: list[Path], output: str | Path, weights: dict[str, dict[str, torch.Tensor]], method: str,
           adapter_config: dict | None = None) -> Path:
    """`output` with the first folder's other files (config, code, tokenizer), the given weight files, the
    `adapter_config` if any, and the soup record (SOUP_RECORD) naming what was averaged and how.

    Written beside `output` and swapped in when complete (`replaced_when_done`): nothing of an earlier model in
    that folder survives (a full soup's model.safetensors beside a new adapter would load instead of it); a folder
    that holds something other than a soup is refused, not replaced."""
    output = Path(output)
    with replaced_when_done(output, "averaging", lambda folder: (folder / SOUP_RECORD).is_file(), "a soup",
                            label=f"--output {output}") as staging:
        for item in folders[0].iterdir():
            if item.name not in weights and item.name not in NOT_COPIED and item.is_file():
                shutil.copy2(item.resolve(), staging / item.name)
        for name, state in weights.items():
            save_file(state, str(staging / name), metadata={"format": "pt"})
        if adapter_config is not None:
            (staging / ADAPTER_CONFIG).write_text(json.dumps(adapter_config, indent=2) + "\n")
        config_file = staging / "config.json"
        if config_file.is_file():
            config_file.write_text(json.dumps({**json.loads(config_file.read_text()), **UNCALIBRATED}, indent=2) + "\n")
        record = {"method": method, "ingredients": [ingredient_record(folder) for folder in folders]}
        (staging / SOUP_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return output


def average_models(folders: list[str | Path], output: str | Path) -> Path:
    """Write the uniform average of full model folders' weights to `output`, with the first one's config and code."""
    folders = [Path(f) for f in folders]
    states = _matching_weights(folders, WEIGHTS, "--models needs full model folders "
                               "(export_model.py materialize builds one from an adapter folder)")
    averaged = {name: _mean([s[name] for s in states]) for name in states[0]}
    return _write(folders, output, {WEIGHTS: averaged}, "uniform mean of every weight tensor")


def average_adapters(folders: list[str | Path], output: str | Path, lora_dtype: torch.dtype | None = None,
                     max_rank: int | None = None) -> Path:
    """Write one LoRA adapter whose merged model is the uniform average of `folders`' merged models.

    delta = mean_i(s_i * B_i @ A_i) = [s_1 B_1 / n, ..., s_n B_n / n] @ [A_1; ...; A_n], saved with rank sum(r_i)
    and alpha equal to that rank (scale 1, plain LoRA); s_i is the scale adapter_vaner's merge applies (alpha/r, or
    alpha/sqrt(r) for rsLoRA); fully trained modules (the head) are averaged as they are. `lora_dtype` stores
    the factors in another dtype (float16 halves the file; the merge computes in float32 either way). `max_rank`
    caps the rank by truncated SVD of each module's delta (truncate_lora_rank), which is no longer exact.
    """
    folders = [Path(f) for f in folders]
    states = _matching_weights(folders, ADAPTER_WEIGHTS, "--adapters needs adapter folders (export_model.py ship)")
    configs = [read_adapter_config(folder) for folder in folders]
    scales = [plain_lora_scale(config, folder / ADAPTER_CONFIG) for folder, config in zip(folders, configs)]
    for folder, config in zip(folders[1:], configs[1:]):
        if config.get("target_modules") != configs[0].get("target_modules"):
            raise ValueError(f"{folder / ADAPTER_CONFIG}: target_modules differ from {folders[0] / ADAPTER_CONFIG}")
    n = len(folders)
    averaged = {}
    for name in states[0]:
        if name.endswith(LORA_A):
            averaged[name] = torch.cat([s[name] for s in states], dim=0).contiguous()
        elif name.endswith(LORA_B):
            averaged[name] = torch.cat([s[name] * (scale / n) for s, scale in zip(states, scales)], dim=1).contiguous()
        else:
            averaged[name] = _mean([s[name] for s in states])
    rank = sum(config["r"] for config in configs)
    method = (f"uniform mean of the merged models, written as one plain LoRA of rank {rank} (the ingredients' "
              f"factors side by side, each B scaled by its LoRA scale over {n}); heads averaged")
    if max_rank is not None and max_rank < rank:
        averaged, errors = truncate_lora_rank(averaged, max_rank)
        method += (f"; then each module's delta truncated to its best rank-{max_rank} approximation (SVD), relative "
                   f"Frobenius error mean {sum(errors) / len(errors):.4f}, max {max(errors):.4f} over {len(errors)} modules")
        rank = max_rank
    return _write(folders, output, {ADAPTER_WEIGHTS: cast_lora_factors(averaged, lora_dtype)},
                  method + (f"; factors stored as {lora_dtype}" if lora_dtype else ""),
                  adapter_config={**configs[0], "r": rank, "lora_alpha": rank, "use_rslora": False})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--models", nargs="+", help="full model folders with the same architecture")
    kind.add_argument("--adapters", nargs="+", help="LoRA adapter folders of the same backbone (export_model.py ship)")
    parser.add_argument("--output", required=True, help="folder for the averaged model")
    parser.add_argument("--lora-dtype", choices=sorted(LORA_DTYPES),
                        help="with --adapters: store the LoRA factors in this dtype (default: as the inputs)")
    parser.add_argument("--max-rank", type=int,
                        help="with --adapters: cap the averaged LoRA's rank by truncated SVD of each module's delta "
                             "(default: the exact average, rank = the sum of the ingredients' ranks)")
    args = parser.parse_args(argv)
    if args.models and (args.lora_dtype or args.max_rank is not None):
        parser.error("--lora-dtype and --max-rank apply to --adapters only")
    if args.max_rank is not None and args.max_rank < 1:
        parser.error(f"--max-rank must be at least 1, got {args.max_rank}")
    print(average_models(args.models, args.output) if args.models
          else average_adapters(args.adapters, args.output, LORA_DTYPES.get(args.lora_dtype), args.max_rank))


if __name__ == "__main__":
    main()
