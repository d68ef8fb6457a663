"""A whole-market sync by date with the bar store on an S3 bucket (moto's server over HTTP) and the Tushare
stand-in: the by-date staging lives in the bucket (so an interrupted sync resumes from it on any machine,
fetching only the missing partitions), the published partitions are objects, the staging is removed, and
nothing is written locally."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from market_data import service
from market_data.config import MarketDataEnv
from market_data.store import BarStore
from platform_core.settings import CoreSettings
from platform_core.storage import open_storage
from tests.market_data.conftest import standin_settings
from tests.object_store import S3Bucket

START, END = date(2025, 3, 3), date(2025, 3, 7)  # one week: 5 sessions


def _sync(session, market, server, **kwargs):
    with standin_settings(market, server), service.make_client(market) as client:
        return service.sync(session, market, client=client, freq="1d", start=START, end=END, **kwargs)


def test_an_interrupted_sync_on_s3_resumes_from_the_staging_in_the_bucket(
    session, market: MarketDataEnv, tushare, s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    root = open_storage(CoreSettings(data_dir=tmp_path, _env_file=None, **s3_bucket.settings()))
    on_s3 = dataclasses.replace(market, store=BarStore(root.child("market")))

    def ctrl_c_after_two(label: str, done: int, total: int) -> None:
        if done == 2 * 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _sync(session, on_s3, tushare, symbols=None, all_symbols=True, progress=ctrl_c_after_two)
    staged = s3_bucket.keys("market/staging/by-date")
    assert {k.split("/")[3] for k in staged} == {"20250303", "20250304"}
    endpoints = {"daily.parquet", "adj_factor.parquet", "stk_limit.parquet", "suspend_d.parquet"}
    assert {k.rsplit("/", 1)[1] for k in staged} == endpoints
    session.rollback()
    tushare.reset()

    result = _sync(session, on_s3, tushare, symbols=None, all_symbols=True)
    calls = {(r["api_name"], r["params"].get("trade_date")) for r in tushare.bar_requests()}
    assert {day for _, day in calls} == {"20250305", "20250306", "20250307"}  # the staged two not again
    assert result.created and s3_bucket.keys("market/staging") == []  # published: unstaged
    bars = s3_bucket.keys("market/bars/1d")
    assert len(bars) == result.snapshot.coverage["1d"]["symbols"] > 0
    codes = sorted(k.split("/")[3] for k in bars)[:3]
    stored = service.get_bars(
        session, on_s3, symbols=codes, freq="1d", start=START, end=END, adjust="none", snapshot_id=result.snapshot.id
    )
    assert sorted(stored["symbol"].unique()) == codes
    assert stored["date"].min() >= START and stored["date"].max() <= END
    assert list(tmp_path.iterdir()) == []
