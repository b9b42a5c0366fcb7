"""Whether bf16 weights pay off on this machine, so that `--bf16` never silently makes a CPU job 100x slower.

On x86 CPUs with AVX512-BF16 or AMX, bf16 matmuls run natively and a Gemma 3 270M training step takes about
a third of the fp32 time; on AVX2-only CPUs they are emulated and the same step takes minutes (measured: 0.7 s
per step with bf16 on an AVX512-BF16 EPYC; on an AVX2-only EPYC, one thread, the first bf16 step took 216 s and an
fp32 step of 8 x 48 tokens 2.7 s).
Workshop code: the Hub-side files never import it.
"""

from __future__ import annotations

import platform
import warnings
from pathlib import Path

import torch

__all__ = ["cpu_has_native_bf16", "resolve_cpu_dtype", "warn_if_slow_bf16"]

NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_has_native_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool | None:
    """True/False from the CPU flags in `cpuinfo` (Linux x86), None where they cannot be read."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(NATIVE_BF16_FLAGS & set(line.split(":", 1)[1].split()))
    return None


def resolve_cpu_dtype(dtype: str) -> str:
    """`"auto"` -> `"bfloat16"` on a CPU with native bf16, else `"float32"`; any other dtype name as given.

    Encoders (DBR, linking index) default to auto: on an AVX2-only EPYC a bf16 matmul took 4.7x the fp32 time
    (176 vs 38 ms for 1024x640 @ 640x2048), the opposite of the ~4x speed-up bf16 gives where it is native."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if cpu_has_native_bf16() else "float32"


def warn_if_slow_bf16(bf16: bool, device: torch.device | str = "cpu", option: str = "--bf16") -> bool:
    """Warn (naming `option`) when bf16 weights are asked for on a CPU that emulates bf16; True if it warned."""
    if not bf16 or torch.device(device).type != "cpu" or cpu_has_native_bf16() is not False:
        return False
    warnings.warn(
        f"{option}: this CPU ({platform.processor() or platform.machine()}) has no native bf16 (AVX512-BF16/AMX); "
        "bf16 matmuls are emulated and run about 100x slower than fp32 here. Drop the option to use fp32.",
        stacklevel=2,
    )
    return True
