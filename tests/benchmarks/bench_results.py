"""Studying-results benchmark (`make bench`): the server time of the results service after the run's lookup
(one primary-key query, not timed here) on artifacts in a local artifact store.

- curves?points=1000 of a 10-year 5-minute run of one symbol (48 bars × ~2,430 sessions ≈ 117k bars, the
  equity artifact written by the engine itself);
- a page of 50 round trips sorted by P&L out of 100,000;
- the comparison of 10 daily 10-year runs (engine-written equity artifacts).

Cold = the first call (Parquet read from the store); warm = median of 5 later calls (the frame cache hit).
Prints markdown table rows; targets: ≤ 100 ms, ≤ 50 ms, ≤ 200 ms."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import polars as pl

from backtest.artifacts import LocalArtifactStore
from backtest.domain import parquet_bytes
from backtest.service import results
from quant import EngineConfig, run_backtest
from quant.results import TRADE_SCHEMA
from quant.synthetic import gbm_bars

SESSIONS, BARS_PER_SESSION = 2430, 48


def intraday_bars(rng: np.random.Generator) -> pl.DataFrame:
    days, day = [], date(2015, 1, 5)
    while len(days) < SESSIONS:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    n = SESSIONS * BARS_PER_SESSION
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    minutes = [timedelta(hours=9, minutes=35 + 5 * i) for i in range(24)]
    minutes += [timedelta(hours=13, minutes=5 + 5 * i) for i in range(24)]
    ts = [datetime(d.year, d.month, d.day) + m for d in days for m in minutes]
    return pl.DataFrame(
        {
            "symbol": ["600000.SH"] * n,
            "ts": ts,
            "open": close,
            "high": close * 1.001,
            "low": close * 0.999,
            "close": close,
            "volume": np.full(n, 1e6),
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("us")))


def store_run(store: LocalArtifactStore, frames: dict[str, pl.DataFrame], metrics: dict) -> Any:
    run_id = uuid.uuid4()
    artifacts = {}
    for kind, frame in frames.items():
        stored = store.put(f"bench/{run_id}/{kind}.parquet", parquet_bytes(frame))
        artifacts[kind] = {"key": stored.key, "rows": frame.height, "bytes": stored.bytes, "sha256": stored.sha256}
    return SimpleNamespace(id=run_id, backtest_id=uuid.uuid4(), artifacts=artifacts, metrics=metrics, manifest={})


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    results._CACHE.clear()
    started = time.perf_counter()
    fn()
    cold = (time.perf_counter() - started) * 1000
    warm = []
    for _ in range(5):
        started = time.perf_counter()
        fn()
        warm.append((time.perf_counter() - started) * 1000)
    return cold, statistics.median(warm)


def main() -> None:
    rng = np.random.default_rng(11)
    with tempfile.TemporaryDirectory() as tmp:
        env = SimpleNamespace(store=LocalArtifactStore(Path(tmp)))
        config = EngineConfig(preset="plain", periods_per_year=252)
        bars = intraday_bars(rng)
        five = run_backtest("ma_cross", bars, {"fast": 10, "slow": 60}, config)
        n = 100_000
        trades = pl.DataFrame(
            {
                "symbol": [f"{600000 + i % 300:06d}.SH" for i in range(n)],
                "entry_date": [date(2015, 1, 5) + timedelta(days=i % 3000) for i in range(n)],
                "exit_date": [date(2015, 1, 10) + timedelta(days=i % 3000) for i in range(n)],
                "quantity": np.full(n, 1000.0),
                "entry_price": np.full(n, 10.0),
                "exit_price": 10 + rng.normal(0, 0.5, n),
                "pnl": rng.normal(0, 500, n),
                "return": rng.normal(0, 0.05, n),
                "holding_sessions": rng.integers(1, 60, n),
                "dividends": np.zeros(n),
            },
            schema=TRADE_SCHEMA,
        )
        intraday = store_run(env.store, {"equity": five.equity, "trades": trades}, five.metrics)
        daily = [
            run_backtest("ma_cross", gbm_bars(sessions=2430, seed=s), {"fast": 5 + s, "slow": 30 + s}, config)
            for s in range(10)
        ]
        rows = [store_run(env.store, {"equity": r.equity}, r.metrics) for r in daily]
        backtests = {
            r.backtest_id: SimpleNamespace(strategy_name="ma_cross", frequency="1d", initial_cash=1e6) for r in rows
        }
        query = results.PageQuery(sort="-pnl", limit=50)
        cases = [
            (f"curves points=1000 of {five.equity.height:,} 5-min bars", 100,
             lambda: results.curves_of(env, intraday, 1e6, start=None, end=None, points=1000)),
            (f"50 trades sorted by -pnl of {n:,}", 50, lambda: results.page_of(env, intraday, "trades", query)),
            (f"compare 10 daily runs of {daily[0].equity.height:,} sessions", 200,
             lambda: results.comparison_of(env, rows, backtests)),
        ]  # fmt: skip
        print("| scenario | cold ms | warm ms (median of 5) | target ms |")
        print("| --- | ---: | ---: | ---: |")
        for name, target, fn in cases:
            cold, warm = timed(fn)
            print(f"| {name} | {cold:.1f} | {warm:.1f} | ≤ {target} |")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.suite_settings import apply_to_environment

    apply_to_environment()  # the disclaimer gate off, rate limits far above this traffic
    main()
