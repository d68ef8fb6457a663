"""The adjusted bars of recent reads, kept on local disk across work-horses (`get_inputs`' second level).

RQ forks a fresh work-horse per job, so nothing a horse reads survives it; yet a user re-running one backtest
with other parameters asks for the same bars again and again, and reading them (Parquet scans of the
snapshot's files or packs, then the price adjustment) is a large part of a short run. This cache keeps the
adjusted frame of each recent read as one uncompressed Arrow IPC file below `<data_dir>/cache/market-inputs`
(local even when the bars live on S3), which the next horse reads in a fraction of the time.

Keys are content addresses: the stored objects a read takes (every partition and pack path of the bar store
holds a digest of its bytes, and an object is never rewritten), the window, the adjustment, and the versions
of this cache's format and of polars. A data load or sync publishes new objects under new paths, so a
snapshot that changes the data is a different key — nothing is ever invalidated, and a read can never be
served another snapshot's rows. Bounded: past `MAX_BYTES` the least recently used files are removed (a hit
refreshes its file's time). A file is written under a temporary name, fsynced and renamed; one that cannot
be read (damaged, a different format) is read again from the store and replaced. Entries are a few hundred
kB for a handful of symbols over a few years, tens of MB for a whole market.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import polars as pl

FORMAT = 1  # of the cached files: bump when what a key names or how a file is written changes
MAX_BYTES = 512 * 2**20


class InputsCache:
    """Frames by content key, as Arrow IPC files below `root`, at most `max_bytes` of them."""

    def __init__(self, root: Path, max_bytes: int = MAX_BYTES) -> None:
        self.root, self.max_bytes = Path(root), max_bytes

    def frame(self, key: tuple, make: Callable[[], pl.DataFrame]) -> pl.DataFrame:
        """The frame cached under `key` (a tuple of plain values naming its content), else `make()`'s, kept."""
        digest = hashlib.sha256(repr((FORMAT, pl.__version__, key)).encode()).hexdigest()
        path = self.root / f"{digest[:40]}.arrow"
        try:  # the bytes, not the file: no memory map that a later removal or replacement could touch
            frame = pl.read_ipc(path.read_bytes())
        except (OSError, pl.exceptions.PolarsError):  # not there (or unreadable): read from the store
            pass
        else:
            with contextlib.suppress(OSError):
                os.utime(path)  # recently used: the last to go
            return frame
        frame = make()
        with contextlib.suppress(OSError):
            self._keep(path, frame)
        return frame

    def _keep(self, path: Path, frame: pl.DataFrame) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        temp = self.root / f".tmp-{uuid.uuid4().hex}"
        try:
            with temp.open("wb") as handle:
                frame.write_ipc(handle, compression="uncompressed")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        self._prune()

    def _prune(self) -> None:
        """Remove the least recently used files while the cache holds more than `max_bytes`."""
        entries = []
        with os.scandir(self.root) as found:
            for entry in found:
                if entry.name.endswith(".arrow"):
                    with contextlib.suppress(FileNotFoundError):
                        stat = entry.stat()
                        entries.append((stat.st_mtime_ns, stat.st_size, entry.path))
        total = sum(size for _, size, _ in entries)
        for _, size, name in sorted(entries):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            total -= size
