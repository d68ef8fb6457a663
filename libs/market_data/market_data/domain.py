"""Pure market rules: codes and boards, limit prices, bar labelling, adjustment and integrity checks.

The bar contract (`BAR_SCHEMA`, `INSTRUMENT_SCHEMA`), the board rule and the dated price-limit rules are
the quant core's (`quant.contract`, `quant.rulebook`); this module adds only what data needs on top.

No database, HTTP or CLI here — only values, polars computations and the rules of the A-share market
(see `a-share-rules.md` §3–§10). Prices are CNY, rounded half-up to the 0.01 tick.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

import numpy as np
import polars as pl

from quant.contract import BAR_SCHEMA, PRICE_COLUMNS, infer_board


class Freq(StrEnum):
    DAILY = "1d"
    MIN5 = "5min"
    MIN15 = "15min"


class Adjust(StrEnum):
    NONE = "none"
    QFQ = "qfq"
    HFQ = "hfq"
    QFQ_PIT = "qfq_pit"  # forward-adjusted to the window's first session: no later factor reaches a bar


class Board(StrEnum):
    MAIN = "main"
    CHINEXT = "chinext"
    STAR = "star"
    BSE = "bse"
    INDEX = "index"


class Source(StrEnum):
    SAMPLE = "sample"
    TUSHARE = "tushare"


EXCHANGES = {"SH": "SSE", "SZ": "SZSE", "BJ": "BSE"}
SYMBOL_RE = re.compile(r"^(\d{6})\.(SH|SZ|BJ)$")

# What a stored partition holds: raw prices only; adjusted views are computed on read.
STORED_SCHEMA: dict[str, pl.DataType] = {k: v for k, v in BAR_SCHEMA.items() if not k.startswith("raw_")}

STAR_OPEN = date(2019, 7, 22)
BSE_OPEN = date(2021, 11, 15)
DAILY_CLOSE = time(15, 0)


def round_price(value: float) -> float:
    """Round half-up to the 0.01 tick (the exchange's 四舍五入), robust to binary floats (1.155 → 1.16)."""
    return math.floor(value * 100 + 0.5 + 1e-9) / 100


def parse_symbol(symbol: str) -> tuple[str, str] | None:
    """`600000.SH` → ("600000", "SH"); None when the code is malformed."""
    match = SYMBOL_RE.match(symbol)
    return (match.group(1), match.group(2)) if match else None


def board_of(symbol: str) -> Board:
    """Board from the code (the quant core's rule: 688/689 STAR, 300/301 ChiNext, .BJ or 4/8/92 BSE, else main)."""
    return Board(infer_board(symbol))


def exchange_of(symbol: str) -> str:
    return EXCHANGES[symbol.partition(".")[2]]


def limit_prices(pre_close: float, pct: float) -> tuple[float, float]:
    return round_price(pre_close * (1 + pct)), round_price(pre_close * (1 - pct))


def bar_ends(freq: Freq | str) -> list[time]:
    """Right-labelled bar end times of one session: 5min → 09:35…11:30, 13:05…15:00 (48)."""
    freq = Freq(freq)
    if freq is Freq.DAILY:
        return [DAILY_CLOSE]
    step = 5 if freq is Freq.MIN5 else 15
    ends: list[time] = []
    for start, count in ((datetime(2000, 1, 1, 9, 30), 120 // step), (datetime(2000, 1, 1, 13, 0), 120 // step)):
        ends.extend((start + timedelta(minutes=step * (i + 1))).time() for i in range(count))
    return ends


def daily_ts(day: date) -> datetime:
    return datetime.combine(day, DAILY_CLOSE)


@dataclass(frozen=True)
class StPeriod:
    symbol: str
    start_date: date
    end_date: date | None
    name: str


def is_st_name(name: str) -> bool:
    """ST / *ST / SST names mark a risk-warning period (Tushare `namechange`)."""
    return bool(re.match(r"^(\*|S)?ST", name.strip().upper()))


def st_flags(dates: pl.Series, periods: list[StPeriod]) -> pl.Series:
    """Per date, whether it falls inside one of the (symbol's) ST periods."""
    flag = pl.Series("is_st", [False] * len(dates), dtype=pl.Boolean)
    for period in periods:
        end = period.end_date or date(9999, 12, 31)
        flag = flag | ((dates >= period.start_date) & (dates <= end))
    return flag


def adjust_bars(stored: pl.DataFrame, adjust: Adjust | str, end: date) -> pl.DataFrame:
    """A contract frame from stored raw rows: `none` raw, `hfq` P×F, `qfq` P×F/F(anchor) where the anchor is
    each symbol's factor on its last session on or before `end` (as Tushare's `pro_bar` anchors), `qfq_pit`
    P×F/F(first) anchored at each symbol's first row of the frame (the window's start): a bar's price uses
    only the factors up to its own date, so an adjustment after a decision date never changes the prices it
    saw; returns and ratios equal qfq's, levels are those of the window's first session.

    `stored` must be ordered by symbol then ts (the store reads partitions in symbol order, each sorted by ts),
    so no sort is needed here — the hot path of `get_bars`. Each symbol's anchor is then the factor at the
    first or last row of its run: one gather and one repeat (`_anchored_scale`) instead of a window over a
    string key, and no multiplication at all when every factor equals its anchor (scale exactly 1)."""
    adjust = Adjust(adjust)
    frame = stored
    last = frame["date"].max() if frame.height else None
    if frame.height and (last is None or last > end or frame["date"].null_count()):  # a filter copies every column
        frame = frame.filter(pl.col("date") <= end)
    frame = frame.with_columns(
        pl.col("open").alias("raw_open"),
        pl.col("high").alias("raw_high"),
        pl.col("low").alias("raw_low"),
        pl.col("close").alias("raw_close"),
    )
    if adjust is not Adjust.NONE and not frame.is_empty():
        if adjust is Adjust.HFQ:
            scale: pl.Expr | pl.Series | None = pl.col("adj_factor")
        else:
            scale = _anchored_scale(frame, first=adjust is Adjust.QFQ_PIT)
        if scale is not None:
            frame = frame.with_columns((pl.col(c) * scale).alias(c) for c in (*PRICE_COLUMNS, "pre_close"))
    return frame.select(pl.col(name).cast(dtype) for name, dtype in BAR_SCHEMA.items())


def _anchored_scale(frame: pl.DataFrame, *, first: bool) -> pl.Expr | pl.Series | None:
    """adj_factor / the factor at each symbol's first (`first`) or last row, the same division as
    `pl.col("adj_factor") / pl.col("adj_factor").first()/.last().over("symbol")`; None when it is exactly 1
    on every row (nothing to multiply). Falls back to the window when the factor has nulls or a symbol's rows
    are not one contiguous run."""
    factor = frame["adj_factor"]
    runs = frame["symbol"].rle()
    lens = runs.struct.field("len").to_numpy()
    names = runs.struct.field("value")
    if factor.null_count() or names.n_unique() != len(names):
        window = pl.col("adj_factor").first() if first else pl.col("adj_factor").last()
        return pl.col("adj_factor") / window.over("symbol")
    f = factor.to_numpy()
    ends = np.cumsum(lens)
    anchor = np.repeat(f[ends - lens if first else ends - 1], lens)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = f / anchor
    if (scale == 1.0).all():  # P × 1.0 is P for every float (and a null price stays null)
        return None
    return pl.Series("adj_factor", scale)


@dataclass(frozen=True)
class Issue:
    check: str
    symbol: str
    date: date | None
    detail: str


CHECKS = ("ohlc", "volume", "limits", "duplicate_sessions", "missing_sessions", "non_sessions")


def check_bars(stored: pl.DataFrame, sessions: list[date], *, daily: bool = True) -> list[Issue]:
    """Integrity problems of stored rows: OHLC consistency, non-negative volume, prices inside the day's
    limits, duplicated sessions, and sessions missing or extra against the calendar (daily bars, between
    each symbol's first and last stored session)."""
    issues: list[Issue] = []
    live = stored.filter(~pl.col("suspended"))
    rules = {
        "ohlc": (
            (pl.col("high") < pl.max_horizontal("open", "close", "low"))
            | (pl.col("low") > pl.min_horizontal("open", "close", "high"))
            | (pl.min_horizontal(*PRICE_COLUMNS) <= 0),
            "OHLC inconsistent",
        ),
        "volume": ((pl.col("volume") < 0) | (pl.col("amount") < 0), "negative volume or amount"),
        "limits": (
            (pl.col("high") > pl.col("up_limit") + 1e-6) | (pl.col("low") < pl.col("down_limit") - 1e-6),
            "price outside the day's limits",
        ),
    }
    for check, (predicate, text) in rules.items():
        for row in live.filter(predicate.fill_null(False)).select("symbol", "date", *PRICE_COLUMNS).iter_rows():
            issues.append(Issue(check, row[0], row[1], f"{text}: open/high/low/close = {list(row[2:])}"))
    keys = ["symbol", "ts"]
    for symbol, day in stored.filter(stored.select(keys).is_duplicated()).select("symbol", "date").unique().iter_rows():
        issues.append(Issue("duplicate_sessions", symbol, day, "more than one row for this bar"))
    if daily:
        issues.extend(_calendar_issues(stored, sessions))
    return sorted(issues, key=lambda i: (i.symbol, i.date or date.min, i.check))


def _calendar_issues(stored: pl.DataFrame, sessions: list[date]) -> list[Issue]:
    issues: list[Issue] = []
    calendar = pl.Series("date", sessions, dtype=pl.Date)
    for (symbol,), rows in stored.group_by(["symbol"], maintain_order=True):
        days = rows["date"].unique()
        first, last = days.min(), days.max()
        expected = calendar.filter((calendar >= first) & (calendar <= last))
        for day in expected.filter(~expected.is_in(days.implode())).to_list():
            issues.append(Issue("missing_sessions", symbol, day, "no bar and no suspension on a trading day"))
        for day in days.filter(~days.is_in(calendar.implode())).to_list():
            issues.append(Issue("non_sessions", symbol, day, "bar on a day the exchange was closed"))
    return issues
