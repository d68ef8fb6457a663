"""Round trips carry quantity, average prices and return, consistent with the fills they are made of."""

from __future__ import annotations

import polars as pl
import pytest

from quant import EngineConfig, run_backtest
from quant.synthetic import sample_universe


@pytest.mark.parametrize("preset", ["a-share", "plain"])
def test_each_round_trip_matches_its_fills(preset: str) -> None:
    result = run_backtest("ma_cross", sample_universe(), {"fast": 5, "slow": 20}, EngineConfig(preset=preset))
    trades, fills = result.trades, result.fills
    assert trades.columns == [
        "symbol", "entry_date", "exit_date", "quantity", "entry_price", "exit_price", "pnl", "return",
        "holding_sessions", "dividends",
    ]  # fmt: skip
    assert trades.height > 20
    for trip in trades.head(40).iter_rows(named=True):
        legs = fills.filter(
            (pl.col("symbol") == trip["symbol"]) & pl.col("date").is_between(trip["entry_date"], trip["exit_date"])
        )
        buys, sells = legs.filter(pl.col("side") == "buy"), legs.filter(pl.col("side") == "sell")
        assert trip["quantity"] == pytest.approx(buys["qty"].sum()) == pytest.approx(sells["qty"].sum())
        assert trip["entry_price"] == pytest.approx(buys["value"].sum() / buys["qty"].sum())
        assert trip["exit_price"] == pytest.approx(sells["value"].sum() / sells["qty"].sum())
        expected_pnl = (trip["exit_price"] - trip["entry_price"]) * trip["quantity"] - legs["fees"].sum()
        expected_pnl += trip["dividends"]
        assert trip["pnl"] == pytest.approx(expected_pnl, abs=1e-6)
        assert trip["return"] == pytest.approx(trip["pnl"] / buys["value"].sum())
