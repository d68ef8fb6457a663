"""Property tests: cash and positions never negative, equity = cash + market value, fee minimums."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant import EngineConfig, simulate
from quant.synthetic import gbm_bars

SYMBOLS = ("600000.SH", "300750.SZ", "688981.SH", "830799.BJ")


def _scenario(seed: int, sessions: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    bars = gbm_bars(SYMBOLS, sessions=sessions, seed=seed, sigma=0.6)
    suspended = rng.random(bars.height) < 0.05
    bars = bars.with_columns(
        pl.Series("suspended", suspended),
        *(
            pl.when(pl.Series(suspended)).then(None).otherwise(pl.col(c)).alias(c)
            for c in ("open", "high", "low", "close")
        ),
    )
    weights = np.where(rng.random(bars.height) < 0.3, rng.random(bars.height), np.nan)
    targets = bars.select("ts", "symbol").with_columns(pl.Series("weight", weights))
    return bars, targets


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    sessions=st.integers(5, 120),
    preset=st.sampled_from(["a-share", "plain"]),
    fill=st.sampled_from(["next_open", "next_close", "same_close"]),
    cash=st.floats(2_000, 5_000_000),
    cap=st.one_of(st.none(), st.floats(0.001, 1.0)),
)
def test_accounting_invariants(seed, sessions, preset, fill, cash, cap) -> None:
    bars, targets = _scenario(seed, sessions)
    config = EngineConfig(preset=preset, fill=fill, initial_cash=cash, volume_cap=cap, slippage_bps=5)
    result = simulate(bars, targets, config)
    eq = result.equity
    assert (eq["cash"] >= -1e-9).all()
    assert np.allclose(eq["equity"], eq["cash"] + eq["market_value"], rtol=0, atol=1e-6)
    if result.positions.height:
        assert (result.positions["shares"] > 0).all()
    fills = result.fills
    if preset == "a-share" and fills.height:
        assert (fills["commission"] >= 5.0).all()
        assert (fills.filter(pl.col("side") == "buy")["stamp_duty"] == 0).all()
        assert (fills["qty"] == fills["qty"].round(0)).all()
    held = fills.with_columns(
        pl.when(pl.col("side") == "buy")
        .then(pl.col("qty"))
        .otherwise(-pl.col("qty"))
        .cum_sum()
        .over("symbol")
        .alias("h")
    )
    assert (held["h"] >= -1e-6).all()


def _intraday_scenario(seed: int, days: int = 5) -> tuple[pl.DataFrame, pl.DataFrame]:
    """5-minute bars (48 a session) with targets that flip between full and flat every few bars, so a
    position is bought and then asked to be sold within the same session many times."""
    rng = np.random.default_rng(seed)
    start = dt.date(2024, 3, 4)
    morning = [dt.datetime.combine(dt.date.min, dt.time(9, 30)) + dt.timedelta(minutes=5 * (i + 1)) for i in range(24)]
    afternoon = [
        dt.datetime.combine(dt.date.min, dt.time(13, 0)) + dt.timedelta(minutes=5 * (i + 1)) for i in range(24)
    ]
    times = [t.time() for t in morning + afternoon]
    frames = []
    for k, symbol in enumerate(("600000.SH", "000001.SZ")):
        days_list = [start + dt.timedelta(days=d) for d in range(days)]
        ts = [dt.datetime.combine(day, t) for day in days_list for t in times]
        close = 10.0 * np.exp(np.cumsum(rng.normal(0, 0.002, len(ts)))) * (1 + k)
        open_ = np.append(close[0], close[:-1])
        frames.append(
            pl.DataFrame(
                {
                    "symbol": symbol,
                    "date": [t.date() for t in ts],
                    "ts": ts,
                    "open": np.round(open_, 2),
                    "high": np.round(np.maximum(open_, close) * 1.001, 2),
                    "low": np.round(np.minimum(open_, close) * 0.999, 2),
                    "close": np.round(close, 2),
                    "volume": 1e6,
                }
            )
        )
    bars = pl.concat(frames).sort("symbol", "ts")
    flips = (np.arange(bars.height) // 4) % 2 == 0
    targets = bars.select("ts", "symbol").with_columns(pl.Series("weight", np.where(flips, 0.5, 0.0)))
    return bars, targets


def _sold_beyond_opening_holdings(fills: pl.DataFrame) -> pl.DataFrame:
    """(date, symbol) pairs whose sells in the session exceed the shares held when it opened — shares bought
    that session were sold, which T+1 forbids."""
    signed = fills.with_columns(
        pl.when(pl.col("side") == "buy").then(pl.col("qty")).otherwise(-pl.col("qty")).alias("d")
    )
    per_day = (
        signed.group_by("symbol", "date")
        .agg(pl.col("d").sum().alias("net"), pl.col("qty").filter(pl.col("side") == "sell").sum().alias("sold"))
        .sort("symbol", "date")
        .with_columns((pl.col("net").cum_sum().over("symbol") - pl.col("net")).alias("opening"))
    )
    return per_day.filter(pl.col("sold") > pl.col("opening") + 1e-9)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_t1_never_sells_shares_bought_the_same_session(seed: int) -> None:
    bars, targets = _intraday_scenario(seed)
    result = simulate(bars, targets, EngineConfig(preset="a-share", fill="next_open"))
    assert result.fills.filter(pl.col("side") == "buy").height > 5  # the scenario does buy every session
    assert _sold_beyond_opening_holdings(result.fills).is_empty()
    blocked = result.orders.filter(pl.col("status") != "filled")
    assert (blocked["reason"] == "T1_LOCKED").any()  # and it was T+1 that held the sells back


def test_the_t1_check_fails_when_t1_is_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """The property above is not vacuous: with every a-share rule but T+1, same-session round trips happen."""
    real = EngineConfig.rules
    monkeypatch.setattr(EngineConfig, "rules", lambda self: dataclasses.replace(real(self), t1=False))
    bars, targets = _intraday_scenario(1)
    result = simulate(bars, targets, EngineConfig(preset="a-share", fill="next_open"))
    assert not _sold_beyond_opening_holdings(result.fills).is_empty()
