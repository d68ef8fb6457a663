"""The packed layout (manifest layout 2): a snapshot's daily partitions packed per code prefix read back exactly
as the per-symbol partitions do — same rows, same order, same dtypes — on the sample data and on a synthetic
universe, for every universe size and window, on a local directory and on S3 (moto); layout-1 snapshots (no
packs) stay readable; an unchanged bucket reuses its pack."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import update

from market_data import repository as repo
from market_data import service
from market_data.config import MarketDataEnv
from market_data.domain import Source, adjust_bars
from market_data.service.snapshots import Partition, publish
from market_data.store import PACK_MIN_SHARE, BarStore, PackRef, bucket_of
from platform_core.settings import CoreSettings
from platform_core.storage import open_storage
from tests.benchmarks.bench_market_scale import stored_frame, symbols, synthetic_bars
from tests.market_data.conftest import SLICE
from tests.object_store import S3Bucket

WINDOWS = [(None, None), (date(2015, 3, 2), date(2016, 6, 30)), (date(2015, 1, 5), date(2015, 1, 5))]


def _universe(count: int = 48, sessions: int = 300) -> pl.DataFrame:
    """Stored rows of `count` synthetic symbols over four code prefixes, with a few adjustment events."""
    frame = stored_frame(synthetic_bars(count, sessions))
    step = pl.int_range(pl.len()).over("symbol") // 100  # factor changes every 100 sessions …
    factor = 1.0 + step.cast(pl.Float64) * 0.125
    odd = pl.col("symbol").str.slice(3, 3).cast(pl.Int64) % 2 == 1  # … for every other symbol
    return frame.with_columns(pl.when(odd).then(factor).otherwise(pl.col("adj_factor")).alias("adj_factor"))


def _store(store: BarStore, frame: pl.DataFrame) -> tuple[list[tuple[str, str]], list[PackRef]]:
    """Per-symbol partitions and one pack per bucket, as `publish` writes them."""
    files = {}
    for (symbol,), rows in frame.partition_by("symbol", as_dict=True, maintain_order=True).items():
        files[symbol] = store.write("1d", symbol, rows)
    buckets: dict[str, list[tuple[str, str, str]]] = {}
    for symbol, f in sorted(files.items()):
        buckets.setdefault(bucket_of(symbol), []).append((symbol, f.path, f.content_hash))
    packs = [store.write_pack("1d", b, m) for b, m in buckets.items()]
    return [(s, f.path) for s, f in sorted(files.items())], [PackRef(p.bucket, p.path, p.symbols) for p in packs]


def _subsets(files: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    by_bucket: dict[str, list[tuple[str, str]]] = {}
    for f in files:
        by_bucket.setdefault(bucket_of(f[0]), []).append(f)
    first, *rest = by_bucket.values()
    return [
        files,  # the whole universe: every bucket from its pack, unfiltered
        files[:1],  # one symbol: its partition
        files[::3],  # a third of every bucket: the packs, filtered by symbol
        first + [m for b in rest for m in b[::7]],  # a whole bucket from its pack, the rest from partitions
        files[1::5][::-1],  # unsorted input
        [],
    ]


def test_packs_read_exactly_as_the_per_symbol_partitions(tmp_path: Path) -> None:
    store = BarStore(tmp_path / "market")
    frame = _universe()
    files, packs = _store(store, frame)
    assert sorted({bucket_of(s) for s, _ in files}) == ["000", "300", "600", "688"]  # 12 symbols each
    for subset in _subsets(files):
        for start, end in WINDOWS:
            old = store.read([p for _, p in subset], start, end)
            new = store.read_layout(subset, packs, start, end)
            assert new.schema == old.schema
            assert new.equals(old), (len(subset), start, end)
            last = end or date(2030, 1, 1)
            assert adjust_bars(new, "qfq", last).equals(adjust_bars(old, "qfq", last))


def test_a_large_read_comes_from_the_packs_and_a_small_one_from_the_partitions(tmp_path: Path) -> None:
    store = BarStore(tmp_path / "market")
    files, packs = _store(store, _universe())
    expected = store.read([p for _, p in files])
    for _, path in files:  # without the partitions only the packs are left to read
        (store.root / path).unlink()
    assert store.read_layout(files, packs).equals(expected)
    with pytest.raises((FileNotFoundError, pl.exceptions.ComputeError)):
        store.read_layout(files[:1], packs)  # one symbol of a bucket (< PACK_MIN_SHARE): its partition
    assert PACK_MIN_SHARE * max(p.symbols for p in packs) > 1


def test_packs_on_s3_are_the_local_ones_and_read_the_same(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    remote = BarStore(
        open_storage(CoreSettings(data_dir=data_dir, _env_file=None, **s3_bucket.settings())).child("market")
    )
    local = BarStore(tmp_path / "local" / "market")
    frame = _universe(count=16, sessions=120)
    (files, packs), (local_files, local_packs) = _store(remote, frame), _store(local, frame)
    assert (files, packs) == (local_files, local_packs)  # same content-addressed keys
    assert [k for k in s3_bucket.keys("market") if "/packs/" in k] == sorted(f"market/{p.path}" for p in packs)
    window = (date(2015, 2, 2), date(2015, 4, 30))
    for subset in (files, files[::3]):
        from_s3 = remote.read_layout(subset, packs, *window)
        assert from_s3.height > 0 and from_s3.equals(local.read([p for _, p in subset], *window))
    assert list(data_dir.iterdir()) == []


def _old_read(session: Any, market: MarketDataEnv, snapshot_id: str, syms: list[str], start: date, end: date):
    files = repo.snapshot_files(session, snapshot_id, freq="1d", symbols=syms)
    return adjust_bars(market.store.read([f.path for f in files], start, end), "qfq", end)


def test_a_published_sample_snapshot_has_packs_and_reads_as_before(session: Any, market: MarketDataEnv) -> None:
    loaded = service.load_sample(session, market, symbols=SLICE)
    snap = repo.get_snapshot(session, loaded.snapshot.id)
    packs = repo.snapshot_packs(session, snap.id)
    assert snap.layout == 2
    assert {p.freq for p in packs} == {"1d"}  # minute bars stay per symbol
    assert sorted(p.bucket for p in packs) == sorted({bucket_of(s) for s in SLICE})
    assert sum(p.symbols for p in packs) == len(SLICE)
    start, end = date(2023, 1, 3), date(2024, 12, 31)
    for syms in (SLICE, SLICE[:1], ["600010.SH", "600110.SH"], ["000010.SZ", "000300.SH"]):
        got = service.get_bars(session, market, symbols=syms, freq="1d", start=start, end=end)
        expected = _old_read(session, market, snap.id, syms, start, end)
        assert got.height > 0 and got.equals(expected)
    day = repo.snapshot_files(session, snap.id, freq="5min")[0].last_date
    minutes = service.get_bars(session, market, symbols=SLICE[:2], freq="5min", start=day, end=day)
    assert minutes.height > 0 and repo.snapshot_packs(session, snap.id, freq="5min") == []
    assert service.check(session, market, snapshot_id=snap.id).rows == sum(p.rows for p in packs)


def test_a_layout_1_snapshot_reads_its_partitions(session: Any, market: MarketDataEnv) -> None:
    loaded = service.load_sample(session, market, symbols=SLICE)
    start, end = date(2023, 1, 3), date(2024, 12, 31)
    packed = service.get_bars(session, market, symbols=SLICE, freq="1d", start=start, end=end)
    for pack in repo.snapshot_packs(session, loaded.snapshot.id):  # as published before packs existed
        market.store.storage.delete(pack.path)
        session.delete(pack)
    session.execute(update(repo.Snapshot).where(repo.Snapshot.id == loaded.snapshot.id).values(layout=1))
    session.flush()
    session.expire_all()
    assert service.get_bars(session, market, symbols=SLICE, freq="1d", start=start, end=end).equals(packed)


def test_republishing_one_symbol_repacks_its_bucket_only(session: Any, market: MarketDataEnv) -> None:
    first = service.load_sample(session, market, symbols=SLICE).snapshot
    before = {p.bucket: p for p in repo.snapshot_packs(session, first.id)}
    start, end = date(2023, 1, 3), date(2023, 6, 30)
    (stored,) = repo.snapshot_files(session, first.id, freq="1d", symbols=["600010.SH"])
    rows = market.store.read([stored.path]).with_columns(pl.col("volume") + 100.0)
    part = Partition(market.store.write("1d", "600010.SH", rows), stored.covered_start, stored.covered_end)
    second, created = publish(session, Source.SAMPLE, [part], store=market.store)
    assert created
    after = {p.bucket: p for p in repo.snapshot_packs(session, second.id)}
    assert after.keys() == before.keys()
    assert [b for b in after if after[b].path != before[b].path] == ["600"]
    got = service.get_bars(session, market, symbols=SLICE, freq="1d", start=start, end=end, snapshot_id=second.id)
    assert got.equals(_old_read(session, market, second.id, SLICE, start, end))
    window = rows.filter(pl.col("date").is_between(start, end))
    assert got.filter(pl.col("symbol") == "600010.SH")["volume"].equals(window["volume"])


def test_bench_universe_codes_fall_into_a_few_buckets() -> None:
    assert sorted({bucket_of(s) for s in symbols(5000)}) == ["000", "001", "300", "301", "600", "601", "688", "689"]
