"""MACD trend following.

Long while the MACD line (EMA fast − EMA slow of the close) is above its signal line. Equal weight
across the universe. Sensible ranges: fast 6..20, slow 20..40, signal 5..15.
"""

import polars as pl

from backtest.engine.sdk import ParamError, macd, param

PARAMS = [
    param("fast", int, default=12, min=2, max=100, description="fast EMA span"),
    param("slow", int, default=26, min=3, max=200, description="slow EMA span"),
    param("signal", int, default=9, min=2, max=50, description="signal EMA span"),
]


def check_params(params: dict) -> None:
    """The fast EMA must be shorter than the slow one (grids skip other combinations)."""
    if params["fast"] >= params["slow"]:
        raise ParamError("fast", "must be smaller than slow")


def generate(bars: pl.DataFrame, params: dict) -> pl.DataFrame:
    """Weight 1/N while MACD > signal (after `slow` bars of warm-up)."""
    check_params(params)
    line, signal = macd(params["fast"], params["slow"], params["signal"])
    warm = pl.int_range(pl.len()).over("symbol") >= params["slow"]
    share = 1.0 / bars["symbol"].n_unique()
    on = ((line > signal) & warm).fill_null(False).cast(pl.Float64)
    return bars.select("ts", "symbol", (on * share).alias("weight"))
