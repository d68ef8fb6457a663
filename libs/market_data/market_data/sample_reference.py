"""The sample dataset's fundamentals and index constituents, deterministic like its bars (source `sample`).

- `daily_basic(daily)`: Tushare's `daily_basic` for the sample's daily bars — per stock a constant share count
  (float 80 %) and yearly EPS, book value, sales and dividend per share drawn from the symbol's seed; PE, PB,
  PS and dividend yield from the raw close, total/float market value in 10,000 CNY, turnover in % of the
  float. No row on a suspended day (as Tushare).
- `index_weights(start, end)`: `index_weight` rows for the five indices of `INDEX_CODES` on the first session
  of every month, equal weights, from the membership periods of `INDEX_MEMBERS` — with changes to test point
  in time: 688010.SH joins CSI 300 in 2020-12 (first weight date 2021-01-04), 000010.SZ in 2023-12 (first
  weight date 2024-01-02), 000030.SZ moves from CSI 300 to
  CSI 500 in 2022-06, 600110.SH leaves CSI 300 and SSE 50 before it is delisted (2021-07-01). CSI 800 is
  CSI 300 ∪ CSI 500.
"""

from __future__ import annotations

import functools
from datetime import date

import numpy as np
import polars as pl

from market_data.sample import SAMPLE_START, _seed, sample_sessions, universe

INDEX_CODES = ("000300.SH", "000905.SH", "000906.SH", "000852.SH", "000016.SH")
INDEX_NAMES = {
    "000300.SH": "沪深300",
    "000905.SH": "中证500",
    "000906.SH": "中证800",
    "000852.SH": "中证1000",
    "000016.SH": "上证50",
}
_S = SAMPLE_START
_SSE50 = [
    ("600010.SH", _S, None),
    ("600020.SH", _S, None),
    ("600030.SH", _S, date(2020, 6, 15)),
    ("600040.SH", date(2020, 6, 15), None),
    ("600110.SH", _S, date(2019, 12, 16)),
]
INDEX_MEMBERS: dict[str, list[tuple[str, date, date | None]]] = {
    "000016.SH": _SSE50,
    "000300.SH": [
        *_SSE50,
        ("600050.SH", _S, None),
        ("000010.SZ", date(2023, 12, 11), None),
        ("000020.SZ", _S, None),
        ("000030.SZ", _S, date(2022, 6, 13)),
        ("300010.SZ", _S, None),
        ("688010.SH", date(2020, 12, 14), None),
    ],
    "000905.SH": [
        ("600060.SH", _S, None),
        ("600070.SH", _S, None),
        ("000040.SZ", _S, None),
        ("000050.SZ", _S, None),
        ("300020.SZ", _S, None),
        ("000030.SZ", date(2022, 6, 13), None),
        ("688020.SH", date(2021, 6, 15), None),
    ],
    "000852.SH": [
        ("600080.SH", _S, None),
        ("600090.SH", _S, None),
        ("000060.SZ", _S, None),
        ("000070.SZ", _S, None),
        ("300030.SZ", _S, None),
        ("300040.SZ", _S, date(2021, 12, 13)),
        ("688030.SH", date(2021, 1, 4), None),
    ],
}
INDEX_MEMBERS["000906.SH"] = INDEX_MEMBERS["000300.SH"] + INDEX_MEMBERS["000905.SH"]


def weight_dates(start: date, end: date) -> list[date]:
    """The first session of every month within [start, end] (the sample's index_weight dates)."""
    firsts: dict[tuple[int, int], date] = {}
    for day in sample_sessions():
        firsts.setdefault((day.year, day.month), day)
    return [d for d in firsts.values() if start <= d <= end]


def members_on(index_code: str, day: date) -> list[str]:
    """The sample constituents of `index_code` on weight date `day` (listed, not yet delisted)."""
    listed = {i.symbol: i for i in universe() if i.kind == "stock"}
    found = []
    for symbol, joined, left in INDEX_MEMBERS[index_code]:
        inst = listed[symbol]
        live = inst.list_date <= day and (inst.delist_date is None or day < inst.delist_date)
        if live and joined <= day and (left is None or day < left):
            found.append(symbol)
    return sorted(found)


@functools.lru_cache(maxsize=4)
def index_weights(start: date, end: date) -> pl.DataFrame:
    """`index_weight` rows (index_code, con_code, trade_date, weight) of every sample index in [start, end]."""
    rows: dict[str, list] = {"index_code": [], "con_code": [], "trade_date": [], "weight": []}
    for day in weight_dates(start, end):
        for code in INDEX_CODES:
            members = members_on(code, day)
            for symbol in members:
                rows["index_code"].append(code)
                rows["con_code"].append(symbol)
                rows["trade_date"].append(day)
                rows["weight"].append(round(100.0 / len(members), 4))
    return pl.DataFrame(
        rows, schema={"index_code": pl.Utf8, "con_code": pl.Utf8, "trade_date": pl.Date, "weight": pl.Float64}
    )


def _per_share(symbol: str) -> tuple[float, float, float, float, float]:
    """(total shares in 10,000, EPS 2015, BPS, sales per share / EPS, dividend payout) of a stock."""
    rng = np.random.default_rng(_seed(symbol) + 7)
    shares = float(rng.integers(5, 500)) * 1000.0
    return shares, float(rng.uniform(0.1, 1.5)), float(rng.uniform(2.0, 12.0)), float(rng.uniform(4, 12)), 0.3


def daily_basic(daily: pl.DataFrame) -> pl.DataFrame:
    """`daily_basic` rows (symbol, date, close, pe, pb, ps, dv_ratio, total_mv, circ_mv, turnover_rate) of the
    traded sample stock bars in `daily` (stored schema, raw prices)."""
    stocks = {i.symbol for i in universe() if i.kind == "stock"}
    traded = daily.filter(pl.col("symbol").is_in(list(stocks)) & ~pl.col("suspended"))
    symbols = traded["symbol"].unique().sort().to_list()
    facts = pl.DataFrame(
        [(s, *_per_share(s)) for s in symbols],
        schema={"symbol": pl.Utf8, "shares": pl.Float64, "eps0": pl.Float64, "bps": pl.Float64,
                "sales": pl.Float64, "payout": pl.Float64},
        orient="row",
    )  # fmt: skip
    growth = 1.0 + 0.06 * (pl.col("date").dt.year() - 2015)
    eps = pl.col("eps0") * growth
    return (
        traded.join(facts, on="symbol")
        .select(
            "symbol",
            "date",
            "close",
            (pl.col("close") / eps).round(4).alias("pe"),
            (pl.col("close") / (pl.col("bps") * growth)).round(4).alias("pb"),
            (pl.col("close") / (eps * pl.col("sales"))).round(4).alias("ps"),
            (eps * pl.col("payout") / pl.col("close") * 100).round(4).alias("dv_ratio"),
            (pl.col("close") * pl.col("shares")).round(4).alias("total_mv"),
            (pl.col("close") * pl.col("shares") * 0.8).round(4).alias("circ_mv"),
            (pl.col("volume") / (pl.col("shares") * 0.8 * 10_000) * 100).round(4).alias("turnover_rate"),
        )
        .sort("symbol", "date")
    )
