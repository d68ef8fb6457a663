"""Files written so that a crash never leaves a half-written one: temp file, fsync, atomic rename."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write `data` to `target` atomically (readers see the old file or the whole new one, never a part)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.parent / f".tmp-{uuid.uuid4().hex}"
    try:
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
