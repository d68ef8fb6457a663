"""Market-data benchmark (`make bench`): read 300 symbols × 10 years of daily bars from the Parquet store
and build the qfq contract frame (what `get_bars` does after its one manifest query).

Synthetic stored partitions (seeded, ~2,430 sessions each) are written once into a temp store; the read is
timed cold (first call) and warm (median of 5). Prints a markdown table row."""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from market_data.domain import STORED_SCHEMA, adjust_bars
from market_data.store import BarStore

SYMBOLS = 300
START, END = date(2015, 1, 5), date(2024, 12, 31)


def weekdays(start: date, end: date) -> list[date]:
    return [
        start + timedelta(days=i) for i in range((end - start).days + 1) if (start + timedelta(days=i)).weekday() < 5
    ]


def partition(symbol: str, days: list[date], rng: np.random.Generator) -> pl.DataFrame:
    n = len(days)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    factor = np.cumprod(np.where(rng.random(n) < 0.002, 1.05, 1.0))
    return pl.DataFrame(
        {
            "symbol": [symbol] * n,
            "date": days,
            "ts": [datetime(d.year, d.month, d.day, 15) for d in days],
            "open": close * 0.99,
            "high": close * 1.02,
            "low": close * 0.97,
            "close": close,
            "pre_close": close,
            "volume": rng.uniform(1e5, 1e7, n).round(),
            "amount": close * 1e6,
            "up_limit": close * 1.1,
            "down_limit": close * 0.9,
            "adj_factor": factor,
            "suspended": [False] * n,
            "is_st": [False] * n,
        },
        schema=STORED_SCHEMA,
    )


def main() -> None:
    rng = np.random.default_rng(7)
    days = weekdays(START, END)
    with tempfile.TemporaryDirectory() as tmp:
        store = BarStore(Path(tmp))
        paths = [
            store.write("1d", f"{600000 + i:06d}.SH", partition(f"{600000 + i:06d}.SH", days, rng)).path
            for i in range(SYMBOLS)
        ]

        def read() -> pl.DataFrame:
            return adjust_bars(store.read(paths, START, END), "qfq", END)

        started = time.perf_counter()
        frame = read()
        cold = (time.perf_counter() - started) * 1000
        warm = []
        for _ in range(5):
            started = time.perf_counter()
            read()
            warm.append((time.perf_counter() - started) * 1000)
    print("| benchmark | symbols | rows | cold ms | warm ms (median of 5) |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| market_data get_bars 1d qfq, 10 years | {SYMBOLS} | {frame.height:,} | {cold:.0f} | "
        f"{statistics.median(warm):.0f} |"
    )


if __name__ == "__main__":
    main()
