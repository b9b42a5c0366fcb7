"""Write a folder beside its target and swap it in when complete (export_model ship, average_models, DBR builds).

Readers never see a half-written folder, nothing of an earlier one survives in the new one (a stale weight file
would load instead of the new weights), and a failure leaves the earlier folder as it was.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["replaced_when_done"]


@contextmanager
def replaced_when_done(target: str | Path, purpose: str, owned: Callable[[Path], bool] | None = None,
                       kind: str = "", label: str | None = None) -> Iterator[Path]:
    """Yield an empty staging folder `.<name>.<purpose>` beside `target`; when the block ends without an error it
    replaces `target`. With `owned`, a non-empty `target` it does not recognise (`kind`: what it would be) is refused
    before anything is written: a user's folder given by mistake is an error, not a deletion."""
    target = Path(target)
    if owned is not None and target.exists() and any(target.iterdir()) and not owned(target):
        raise ValueError(f"{label or target}: a folder that is neither empty nor {kind}; not replacing it")
    staging = target.parent / f".{target.name}.{purpose}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    yield staging
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
