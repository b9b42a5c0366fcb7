"""Seconds per VANER training step (LoRA, batch 8) under the settings that decide CPU training speed.

Two settings are compared on the 2-core machine: OpenMP's wait policy (PASSIVE puts idle threads to sleep
between the many small ops of a step, and waking them costs more than the ops) and peft's LoRA dropout (a
Bernoulli mask on the input of every adapted linear layer: more small ops). Each variant runs in its own
process, since OpenMP reads its environment once at start-up. The model is built by `train.build_model`, exactly as `train.py` builds it.

    python benchmarks/train_step_speed.py [--length 56] [--steps 8] [--fp32] [--variants 1] [--name NAME]
Run it on an otherwise idle machine (pause other torch jobs: `kill -STOP PID`, then `kill -CONT PID`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import write_results  # noqa: E402

VARIANTS = [  # (LoRA dropout, OMP_WAIT_POLICY; None = unset)
    (0.05, None),
    (0.0, None),
    (0.0, "PASSIVE"),
    (0.05, "PASSIVE"),
]


def time_steps(dropout: float, length: int, steps: int, bf16: bool) -> list[float]:
    """Build the model as train.py does and time full optimiser steps on a random batch of 8 x `length`."""
    import torch

    from train import build_model, parse_args

    with tempfile.TemporaryDirectory() as out:
        argv = ["--output-dir", out, "--lora-dropout", str(dropout), *(["--bf16"] if bf16 else [])]
        model, _, _ = build_model(parse_args(argv), {})
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, 1000, (8, length), generator=generator)
    labels = torch.randint(0, 3, (8, length), generator=generator)
    times = []
    for _ in range(steps + 2):  # the first steps warm up the allocator and kernels
        start = time.perf_counter()
        loss = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - start)
    return times[2:]


def run_variant(dropout: float, wait_policy: str | None, args: argparse.Namespace) -> dict:
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if wait_policy:
        env["OMP_WAIT_POLICY"] = wait_policy
    command = [sys.executable, __file__, "--child", str(dropout), "--length", str(args.length),
               "--steps", str(args.steps), *(["--fp32"] if args.fp32 else [])]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    times = json.loads(output.strip().splitlines()[-1])
    return {
        "lora_dropout": dropout,
        "omp_wait_policy": wait_policy or "unset",
        "seconds_per_step_median": round(statistics.median(times), 3),
        "seconds_per_step_all": [round(t, 3) for t in times],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=56, help="tokens per row (the mixture's batches average ~55)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--fp32", action="store_true", help="fp32 backbone weights (default: bf16, as train.py --bf16)")
    parser.add_argument("--variants", type=int, default=len(VARIANTS),
                        help=f"time the first N settings only (1: train.py's own, LoRA dropout 0.05, wait policy unset; "
                             f"default all {len(VARIANTS)})")
    parser.add_argument("--name", help="results file stem (default train_step_speed, _fp32 with --fp32): a run on "
                                       "another machine gets its own file instead of replacing the record")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.variants <= len(VARIANTS):
        parser.error(f"--variants must be between 1 and {len(VARIANTS)}, got {args.variants}")
    if args.child is not None:
        print(json.dumps(time_steps(args.child, args.length, args.steps, bf16=not args.fp32)))
        return
    runs = []
    for dropout, wait_policy in VARIANTS[:args.variants]:
        runs.append(run_variant(dropout, wait_policy, args))
        print(runs[-1], flush=True)
    figures = {
        "what": "one VANER training step (forward, backward, AdamW) of Gemma 3 270M + LoRA r=16 on all linears",
        "batch": 8,
        "length": args.length,
        "dtype": "float32" if args.fp32 else "bfloat16",
        "runs": runs,
    }
    print(write_results(args.name or "train_step_speed" + ("_fp32" if args.fp32 else ""), figures))


if __name__ == "__main__":
    main()
