"""What every benchmark records beside its figures: the exact command, the machine and the git revision."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
from precision import cpu_has_native_bf16  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "native_bf16": cpu_has_native_bf16(),  # AVX512-BF16/AMX: bf16 runs ~3x faster than fp32, else ~100x slower
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),  # PASSIVE halves training speed here
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


REVISION_FILE = Path("benchmarks/REVISION")  # holds `$Format:%H$`; `git archive` writes the commit id (.gitattributes)


def git_revision(root: Path = REPO_ROOT) -> str:
    """The commit a `git archive` snapshot was made from (it has no .git); else HEAD of the checkout, `+dirty` with
    uncommitted changes to tracked files; else "unknown"."""
    archived = archived_revision(root / REVISION_FILE)
    if archived:
        return archived
    try:
        revision = subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=root, text=True,
                                           stderr=subprocess.DEVNULL).strip()
        dirty = subprocess.check_output(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, text=True)
        return revision + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def archived_revision(path: Path) -> str:
    """The commit id `git archive` substituted into `path`, with " (git archive)"; "" where the file is missing or
    still holds the placeholder (a checkout, or a plain copy)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return ""
    is_commit = len(text) == 40 and all(c in "0123456789abcdef" for c in text)
    return f"{text} (git archive)" if is_commit else ""


def results_parser(description: str) -> argparse.ArgumentParser:
    """A parser with the options of a benchmark that writes a named results file: `--name` and `--note`."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="results file stem under benchmarks/results")
    parser.add_argument("--note", default="", help="anything a reader needs to interpret the figures")
    return parser


def write_results(name: str, figures: dict) -> Path:
    """Write `benchmarks/results/<name>.json` with the command, machine, revision and date beside `figures`."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    record = {
        "command": " ".join(["python", *sys.argv]),
        "machine": machine(),
        "git_revision": git_revision(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **figures,
    }
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
