"""Exact SMA ties on cent-rounded prices (as real A-share quotes are): the moving averages of `Columns`
are the correctly rounded means of the decimal prices, so `ma_cross` on many symbols at once decides
exactly like an exact-arithmetic reference (a float rolling sum that adds and subtracts drifts by an
ulp and turns some exact ties fast == slow into fast > slow)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import polars as pl

from quant import EngineConfig, run_independent
from quant.contract import normalize_bars
from quant.sdk import Columns
from quant.synthetic import gbm_bars

FAST, SLOW, CASH = 10, 30, 1_000_000


def _bars() -> pl.DataFrame:
    return normalize_bars(gbm_bars([f"{600000 + i:06d}.SH" for i in range(50)], sessions=1000, seed=2))


def _exact_signal(cents: np.ndarray) -> np.ndarray:
    """fast > slow in integer arithmetic: 30 × sum(10 closes) > 10 × sum(30 closes); False while undefined."""
    cum = np.concatenate([[0], np.cumsum(cents)])
    out = np.zeros(cents.size, bool)
    s1, s2 = cum[SLOW:] - cum[SLOW - FAST : -FAST], cum[SLOW:] - cum[:-SLOW]
    out[SLOW - 1 :] = s1 * SLOW > s2 * FAST
    return out


def _exact_backtest(open_: list[float], signal: np.ndarray, last_close: float) -> tuple[Fraction, int]:
    """All-in floor(cash / open) at the next open when the signal is on, all out when it is off."""
    cash, shares, entries = Fraction(CASH), 0, 0
    for t in range(1, len(open_)):
        px = Fraction(repr(open_[t]))
        if signal[t - 1] and shares == 0:
            shares = int(cash // px)
            cash -= shares * px
            entries += 1
        elif not signal[t - 1] and shares:
            cash += shares * px
            shares = 0
    return cash + shares * Fraction(repr(last_close)), entries


def test_sma_is_the_correctly_rounded_mean_of_decimal_prices() -> None:
    bars = _bars().filter(pl.col("symbol") == "600003.SH")
    close = bars["close"].to_list()
    got = Columns(bars).rolling_means([FAST, SLOW])
    for i, w in enumerate((FAST, SLOW)):
        assert np.isnan(got[i][: w - 1]).all()
        for t in range(w - 1, len(close), 7):
            assert got[i][t] == float(sum(Fraction(repr(v)) for v in close[t - w + 1 : t + 1]) / w)


def test_many_symbols_on_cent_prices_equal_the_exact_reference() -> None:
    bars = _bars()
    result = run_independent("ma_cross", bars, {"fast": FAST, "slow": SLOW}, EngineConfig(preset="plain"))
    summary = {row["symbol"]: row for row in result.summary.to_dicts()}
    float_sma_misses = 0
    for (symbol,), part in bars.partition_by("symbol", as_dict=True, maintain_order=True).items():
        close = part["close"].to_numpy()
        signal = _exact_signal(np.rint(close * 100).astype(np.int64))
        with np.errstate(invalid="ignore"):
            floats = pl.Series(close).rolling_mean(FAST).to_numpy() > pl.Series(close).rolling_mean(SLOW).to_numpy()
        float_sma_misses += bool((floats != signal).any())
        equity, entries = _exact_backtest(part["open"].to_list(), signal, float(close[-1]))
        row = summary[symbol]
        assert row["fill_count"] - row["trade_count"] == entries, symbol
        assert abs(row["final_equity"] - float(equity)) <= 1e-9 * float(equity), symbol
    assert float_sma_misses > 0  # the data has ties that a float rolling sum gets wrong
