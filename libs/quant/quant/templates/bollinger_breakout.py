"""Bollinger breakout.

Enters when the close breaks above the upper band (SMA + k standard deviations) and exits when it
falls back below the middle band. Equal weight across the universe. Sensible ranges: window 10..60,
k 1.5..3.
"""

import polars as pl

from backtest.engine.sdk import bollinger, param

PARAMS = [
    param("window", int, default=20, min=2, max=250, description="band window (bars)"),
    param("k", float, default=2.0, min=0.5, max=5.0, description="band width in standard deviations"),
]


def generate(bars: pl.DataFrame, params: dict) -> pl.DataFrame:
    """Weight 1/N from a close above the upper band until a close below the middle band."""
    _, middle, upper = bollinger(params["window"], params["k"])
    share = 1.0 / bars["symbol"].n_unique()
    close = pl.col("close")
    state = pl.when(close > upper).then(1.0).when(close < middle).then(0.0).otherwise(None)
    held = state.forward_fill().over("symbol").fill_null(0.0)
    return bars.select("ts", "symbol", (held * share).alias("weight"))
