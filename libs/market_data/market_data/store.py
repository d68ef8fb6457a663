"""The bar store: immutable, content-addressed Parquet partitions under `market/bars` of the storage
(`platform_core.storage`: `<data_dir>/market/bars` by default, `s3://bucket/prefix/market/bars` with
`HUICE_STORAGE_URL`).

One object per (frequency, symbol) version: `bars/<freq>/<symbol>/<sha256-prefix>.parquet`, holding the raw
rows of `STORED_SCHEMA` sorted by `ts`. Locally a file is written to a temporary name in the same directory,
fsynced and renamed; on S3 a PUT is atomic per object — either way an interrupted write never leaves a
half-written partition under a real name. An object is never rewritten or deleted, so every snapshot (a
manifest of files in PostgreSQL, published after its objects are written) stays readable after later syncs.
Reading 300 symbols × 10 years of daily bars is one `scan_parquet` over 300 small objects (polars reads
`s3://` itself, with the storage's options).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from market_data.domain import STORED_SCHEMA
from platform_core.storage import LocalStorage, Storage


@dataclass(frozen=True)
class StoredFile:
    freq: str
    symbol: str
    path: str  # relative to the store root
    content_hash: str
    rows: int
    first_date: date | None
    last_date: date | None


class BarStore:
    """Write and read stored-schema partitions in `storage` (a local directory given as a path, or any
    `Storage`)."""

    def __init__(self, storage: Path | Storage) -> None:
        self.storage: Storage = LocalStorage(storage) if isinstance(storage, (str, Path)) else storage

    @property
    def root(self) -> Path:
        """The directory of a local store (tests and benchmarks look at files; an S3 store has none)."""
        if not isinstance(self.storage, LocalStorage):
            raise TypeError(f"the bar store is not on a local directory: {self.storage!r}")
        return self.storage.root

    def write(self, freq: str, symbol: str, frame: pl.DataFrame) -> StoredFile:
        """Persist one partition atomically; identical content lands on the identical file."""
        frame = conform(frame).sort("ts")
        buffer = io.BytesIO()
        frame.write_parquet(buffer, compression="zstd", statistics=True)
        payload = buffer.getvalue()
        digest = hashlib.sha256(payload).hexdigest()
        relative = f"bars/{freq}/{symbol}/{digest[:24]}.parquet"
        if not self.storage.exists(relative):
            self.storage.put(relative, payload)
        dates = frame["date"]
        return StoredFile(freq, symbol, relative, digest, frame.height, dates.min(), dates.max())

    def read(self, paths: list[str], start: date | None = None, end: date | None = None) -> pl.DataFrame:
        """Rows of the given partitions between `start` and `end` (inclusive), ordered by symbol then ts
        (partitions of one frequency)."""
        if not paths:
            return pl.DataFrame(schema=STORED_SCHEMA)
        sources, options = self.storage.parquet_sources(sorted(paths))  # bars/<freq>/<symbol>/…: symbol order
        scan = pl.scan_parquet(sources, storage_options=options)
        if start is not None:
            scan = scan.filter(pl.col("date") >= start)
        if end is not None:
            scan = scan.filter(pl.col("date") <= end)
        return scan.collect()

    def exists(self, path: str) -> bool:
        return self.storage.exists(path)


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Exactly the stored columns, in order, with their dtypes."""
    return frame.select(pl.col(name).cast(dtype) for name, dtype in STORED_SCHEMA.items())
