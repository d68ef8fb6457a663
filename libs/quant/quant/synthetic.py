"""Deterministic synthetic bars (seeded geometric Brownian motion) for samples, tests and the bench."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

SAMPLE_SYMBOLS = ("000001.SZ", "300750.SZ", "600519.SH", "688981.SH", "830799.BJ")


def business_days(start: dt.date, count: int) -> np.ndarray:
    """`count` weekdays from `start` (a stand-in calendar: no holidays)."""
    return np.busday_offset(np.datetime64(start, "D"), np.arange(count), roll="forward")


def gbm_bars(
    symbols: tuple[str, ...] | list[str] = ("000001.SZ",),
    sessions: int = 2500,
    seed: int = 42,
    start: dt.date = dt.date(2015, 1, 5),
    mu: float = 0.06,
    sigma: float = 0.30,
    price: float = 20.0,
) -> pl.DataFrame:
    """Daily contract bars for `symbols`: GBM closes, opens gapped from the previous close, highs/lows
    around them, prices rounded to the fen, volume ~1e6 shares. Same arguments → same frame."""
    rng = np.random.default_rng(seed)
    days = business_days(start, sessions)
    frames = []
    for symbol in symbols:
        shocks = rng.normal((mu - sigma**2 / 2) / 252, sigma / np.sqrt(252), sessions)
        close = np.round(price * np.exp(np.cumsum(shocks)), 2)
        prev = np.append(price, close[:-1])
        open_ = np.round(prev * np.exp(rng.normal(0, sigma / np.sqrt(252) / 3, sessions)), 2)
        spread = np.abs(rng.normal(0, sigma / np.sqrt(252) / 2, sessions))
        high = np.round(np.maximum(open_, close) * (1 + spread), 2)
        low = np.round(np.minimum(open_, close) * (1 - spread), 2)
        volume = np.round(rng.lognormal(13.8, 0.4, sessions), -2)
        frames.append(
            pl.DataFrame(
                {
                    "symbol": symbol,
                    "date": days,
                    "open": open_,
                    "high": high,
                    "low": low,
                    "close": close,
                    "volume": volume,
                    "pre_close": prev,
                }
            )
        )
    bars = pl.concat(frames).with_columns(pl.col("date").cast(pl.Date))
    return bars.with_columns(pl.col("date").cast(pl.Datetime("us")).dt.offset_by("15h").alias("ts"))


def sample_universe(sessions: int = 750, seed: int = 7) -> pl.DataFrame:
    """A small deterministic universe across boards (main, ChiNext, STAR, BSE) for `--sample` runs."""
    return gbm_bars(SAMPLE_SYMBOLS, sessions=sessions, seed=seed, start=dt.date(2021, 1, 4))


FUNDAMENTAL_LEVELS = {
    "pe": 15.0,
    "pb": 1.5,
    "ps": 2.0,
    "dv_ratio": 2.0,
    "total_mv": 5e6,
    "circ_mv": 4e6,
    "turnover_rate": 1.5,
}


def with_fundamentals(bars: pl.DataFrame, fields: tuple[str, ...] | list[str]) -> pl.DataFrame:
    """`bars` with made-up but plausible daily_basic columns for `fields` (`quant.fundamentals`): per symbol
    a level (its rank among the codes) moved with its close, and `in_universe` all true. Deterministic."""
    rank = pl.col("symbol").rank("dense").cast(pl.Float64)
    moved = pl.col("close") / pl.col("close").first().over("symbol")
    levels = [(FUNDAMENTAL_LEVELS[f] * (0.5 + 0.5 * rank) * moved).alias(f) for f in fields]
    return bars.with_columns(*levels, pl.lit(True).alias("in_universe"))
