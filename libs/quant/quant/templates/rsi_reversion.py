"""RSI mean reversion.

Buys when Wilder's RSI falls below `lower` (oversold) and exits when it rises above `upper`
(overbought); holds in between. Equal weight across the universe. Sensible ranges: window 5..30,
lower 15..40, upper 60..85.
"""

import polars as pl

from backtest.engine.sdk import ParamError, param, rsi

PARAMS = [
    param("window", int, default=14, min=2, max=100, description="RSI window (bars)"),
    param("lower", float, default=30.0, min=1, max=99, description="enter below this RSI"),
    param("upper", float, default=70.0, min=1, max=99, description="exit above this RSI"),
]


def check_params(params: dict) -> None:
    """The entry level must lie below the exit level (grids skip other combinations)."""
    if params["lower"] >= params["upper"]:
        raise ParamError("lower", "must be smaller than upper")


def generate(bars: pl.DataFrame, params: dict) -> pl.DataFrame:
    """Weight 1/N from an RSI < lower entry until an RSI > upper exit."""
    check_params(params)
    share = 1.0 / bars["symbol"].n_unique()
    value = rsi(params["window"])
    state = pl.when(value < params["lower"]).then(1.0).when(value > params["upper"]).then(0.0).otherwise(None)
    held = state.forward_fill().over("symbol").fill_null(0.0)
    return bars.select("ts", "symbol", (held * share).alias("weight"))
