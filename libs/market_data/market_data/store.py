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

Packs (manifest layout 2, daily bars): Parquet's cost per file dominates a read of thousands of small objects,
so a snapshot also holds its daily partitions packed by code prefix — `packs/<freq>/<bucket>/<hash>.parquet`,
one object per bucket (`bucket_of`: the code's first three characters, e.g. `600`, `000`, `300`, `688`), the
member partitions' rows concatenated in symbol order (each sorted by `ts`), lz4-compressed, row groups of
`PACK_ROW_GROUP` rows with statistics. Buckets are contiguous ranges of the symbol order, so reading packs in
bucket order gives the rows in exactly the order of the per-symbol files — no sort. `read_layout` reads a bucket
from its pack when the read wants at least `PACK_MIN_SHARE` of the bucket's symbols (filtering the symbols
and the window in the scan, pruned by row-group statistics) and from the per-symbol partitions otherwise, so a
read of a few symbols costs what it did. Per-symbol partitions stay the source of truth (syncs merge into them); a
pack is derived at publication and never changes either.
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


PACK_COMPRESSION = "lz4"  # decodes in ~half zstd's CPU at 1.6× the bytes (bench_market_scale, README)
PACK_ROW_GROUP = 65_536  # ≈ 26 symbols × 10 years of daily bars: a read of a few symbols prunes the rest
PACK_MIN_SHARE = 0.25  # below this share of a bucket's symbols, read their per-symbol partitions instead


def bucket_of(symbol: str) -> str:
    """The pack a symbol's daily partition goes to: its code's first three characters (`600010.SH` → `600`).
    Buckets order like their symbols (every symbol of `000` sorts before every symbol of `001`)."""
    return symbol[:3]


@dataclass(frozen=True)
class StoredPack:
    freq: str
    bucket: str
    path: str  # relative to the store root
    content_hash: str
    rows: int
    symbols: int  # member partitions
    members_hash: str  # digest of the members' (symbol, content hash): an unchanged bucket reuses its pack


@dataclass(frozen=True)
class PackRef:
    """A pack as a read needs it: where, and how many symbols it holds."""

    bucket: str
    path: str
    symbols: int


def members_hash(members: list[tuple[str, str]]) -> str:
    """Digest of a bucket's member partitions `(symbol, content_hash)` (order-independent)."""
    return hashlib.sha256("\n".join(f"{s}:{h}" for s, h in sorted(members)).encode()).hexdigest()


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

    def write_pack(self, freq: str, bucket: str, members: list[tuple[str, str, str]]) -> StoredPack:
        """Pack the partitions `members` `(symbol, path, content_hash)` of one bucket into one object (their
        rows in symbol order, as `read` returns them); identical content lands on the identical file."""
        if any(bucket_of(symbol) != bucket for symbol, _, _ in members):
            raise ValueError(f"pack {freq}/{bucket}: a member is not in the bucket")
        members = sorted(members)
        frame = self.read([path for _, path, _ in members])
        buffer = io.BytesIO()
        frame.write_parquet(buffer, compression=PACK_COMPRESSION, statistics=True, row_group_size=PACK_ROW_GROUP)
        payload = buffer.getvalue()
        digest = hashlib.sha256(payload).hexdigest()
        relative = f"packs/{freq}/{bucket}/{digest[:24]}.parquet"
        if not self.storage.exists(relative):
            self.storage.put(relative, payload)
        return StoredPack(
            freq, bucket, relative, digest, frame.height, len(members), members_hash([(s, h) for s, _, h in members])
        )

    def read_layout(
        self,
        files: list[tuple[str, str]],
        packs: list[PackRef],
        start: date | None = None,
        end: date | None = None,
    ) -> pl.DataFrame:
        """What `read` returns for the partitions `files` `(symbol, path)` (one frequency), reading each bucket
        that has a pack from the pack when the read wants at least `PACK_MIN_SHARE` of its symbols."""
        by_pack = {p.bucket: p for p in packs}
        wanted: dict[str, list[tuple[str, str]]] = {}
        for symbol, path in sorted(files):
            wanted.setdefault(bucket_of(symbol), []).append((symbol, path))
        if not any(b in by_pack and len(m) >= PACK_MIN_SHARE * by_pack[b].symbols for b, m in wanted.items()):
            return self.read([path for _, path in files], start, end)
        window = []
        if start is not None:
            window.append(pl.col("date") >= start)
        if end is not None:
            window.append(pl.col("date") <= end)
        scans: list[pl.LazyFrame] = []
        loose: list[str] = []  # consecutive buckets read from their partitions: one scan
        for bucket in sorted(wanted):
            members, pack = wanted[bucket], by_pack.get(bucket)
            if pack is None or len(members) < PACK_MIN_SHARE * pack.symbols:
                loose.extend(path for _, path in members)
                continue
            if loose:
                scans.append(self._scan(loose, window))
                loose = []
            predicates = list(window)
            if len(members) < pack.symbols:  # a pack holds exactly its bucket's partitions of the snapshot
                predicates.append(pl.col("symbol").is_in([symbol for symbol, _ in members]))
            scans.append(self._scan([pack.path], predicates))
        if loose:
            scans.append(self._scan(loose, window))
        return pl.concat(scans).collect() if len(scans) > 1 else scans[0].collect()

    def _scan(self, paths: list[str], predicates: list[pl.Expr]) -> pl.LazyFrame:
        sources, options = self.storage.parquet_sources(paths)
        scan = pl.scan_parquet(sources, storage_options=options)
        return scan.filter(*predicates) if predicates else scan

    def exists(self, path: str) -> bool:
        return self.storage.exists(path)


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Exactly the stored columns, in order, with their dtypes."""
    return frame.select(pl.col(name).cast(dtype) for name, dtype in STORED_SCHEMA.items())
