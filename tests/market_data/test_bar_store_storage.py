"""The bar store on both storage backends: the same partitions (same content-addressed keys and hashes) and
the same rows read back, from a local directory and from an S3 bucket (moto's server over HTTP)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from market_data import sample
from market_data.store import BarStore
from platform_core.settings import CoreSettings
from platform_core.storage import open_storage
from tests.object_store import S3Bucket

SYMBOLS = ["600010.SH", "000010.SZ", "300010.SZ"]
START, END = date(2023, 1, 1), date(2024, 6, 30)


def _write(store: BarStore) -> list:
    bars = sample.generate(SYMBOLS, START, END).bars
    return [
        store.write(freq.value, symbol, rows)
        for freq, frame in bars.items()
        for (symbol,), rows in frame.partition_by("symbol", as_dict=True, maintain_order=True).items()
    ]


def test_bars_round_trip_on_s3_exactly_as_on_a_local_directory(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    local = BarStore(tmp_path / "local" / "market")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    remote = BarStore(
        open_storage(CoreSettings(data_dir=data_dir, _env_file=None, **s3_bucket.settings())).child("market")
    )

    local_files, remote_files = _write(local), _write(remote)
    assert remote_files == local_files  # same keys, hashes, rows and dates
    daily = sorted(f.path for f in remote_files if f.freq == "1d")
    assert len(daily) == len(SYMBOLS)
    assert s3_bucket.keys("market") == sorted(f"market/{f.path}" for f in remote_files)
    assert list(data_dir.iterdir()) == []  # nothing written locally

    window = (date(2023, 6, 1), date(2023, 12, 29))
    from_s3 = remote.read(daily, *window)
    assert from_s3.height > 0 and from_s3.equals(local.read(daily, *window))
    assert from_s3["date"].min() >= window[0] and from_s3["date"].max() <= window[1]
    assert from_s3["symbol"].unique(maintain_order=True).to_list() == sorted(SYMBOLS)  # symbol order
    assert remote.exists(daily[0]) and not remote.exists("bars/1d/600010.SH/0000.parquet")


def test_writing_an_existing_partition_again_is_a_no_op_on_s3(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    store = BarStore(open_storage(CoreSettings(data_dir=tmp_path, _env_file=None, **s3_bucket.settings())))
    first, second = _write(store), _write(store)
    assert first == second
    assert len(s3_bucket.keys()) == len(first)
