"""Metrics against independent computations of the empyrical definitions."""

from __future__ import annotations

import math
import statistics

import numpy as np
import polars as pl
import pytest

from quant import EngineConfig, simulate
from quant import metrics as mx


@pytest.fixture
def series() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    return rng.normal(0.0005, 0.02, 300), rng.normal(0.0003, 0.015, 300)


def test_return_metrics_match_reference_formulas(series) -> None:
    r, _ = series
    rf = 0.02
    got = {k: float(v[0]) for k, v in mx.returns_metrics(r[:, None], 252, rf).items() if not k.startswith("_")}
    total = math.prod(1 + x for x in r) - 1
    ex = [x - rf / 252 for x in r]
    assert got["total_return"] == pytest.approx(total, rel=1e-12)
    assert got["annual_return"] == pytest.approx((1 + total) ** (252 / len(r)) - 1, rel=1e-12)
    assert got["volatility"] == pytest.approx(statistics.stdev(r) * math.sqrt(252), rel=1e-12)
    assert got["sharpe"] == pytest.approx(statistics.mean(ex) / statistics.stdev(ex) * math.sqrt(252), rel=1e-10)
    downside = math.sqrt(sum(min(x, 0) ** 2 for x in ex) / len(ex)) * math.sqrt(252)
    assert got["sortino"] == pytest.approx(statistics.mean(ex) * 252 / downside, rel=1e-10)
    wealth, peak, mdd = 1.0, 1.0, 0.0
    for x in r:
        wealth *= 1 + x
        peak = max(peak, wealth)
        mdd = min(mdd, wealth / peak - 1)
    assert got["max_drawdown"] == pytest.approx(mdd, rel=1e-12)
    assert got["calmar"] == pytest.approx(got["annual_return"] / abs(mdd), rel=1e-12)


def _numpy_reference_metrics(returns: np.ndarray, ppy: int, rf: float) -> dict[str, np.ndarray]:
    """The return metrics written as separate numpy passes (`np.prod`, `std` with its own mean, a fresh
    cumulative product for the drawdown): what the shared passes of `returns_metrics` must equal."""
    n = returns.shape[0]
    growth = returns + 1.0
    total = np.prod(growth, axis=0) - 1
    excess = returns - rf / ppy if rf else returns
    with np.errstate(invalid="ignore", divide="ignore"):
        annual = np.power(1 + total, ppy / n) - 1
        sd = returns.std(axis=0, ddof=1) if n > 1 else np.full(returns.shape[1], np.nan)
        ex_sd = (excess.std(axis=0, ddof=1) if rf else sd) if n > 1 else sd
        ex_mean = excess.mean(axis=0)
        low = np.minimum(excess, 0.0)
        downside = np.sqrt(np.einsum("ij,ij->j", low, low) / n) * math.sqrt(ppy)
        wealth = np.cumprod(growth, axis=0)
        mdd = np.minimum((wealth / np.maximum(np.maximum.accumulate(wealth, axis=0), 1.0)).min(axis=0) - 1, 0.0)
        return {
            "total_return": total,
            "annual_return": annual,
            "volatility": sd * math.sqrt(ppy),
            "sharpe": mx._finite(ex_mean / ex_sd * math.sqrt(ppy)),
            "sortino": mx._finite(ex_mean * ppy / downside),
            "max_drawdown": mdd,
            "calmar": np.where(mdd < 0, annual / np.abs(mdd), np.nan),
        }


@pytest.mark.parametrize("rf", [0.0, 0.02])
def test_shared_metric_passes_equal_separate_ones_bit_for_bit(rf: float) -> None:
    """`returns_metrics` (all metrics and any subset) shares its passes — the total return from the
    drawdown's cumulative product, the standard deviations from the means — and gives exactly the values
    of separate passes, on one column and on many, with flat stretches (zero returns) and a single session."""
    rng = np.random.default_rng(17)
    for it in range(40):
        n, width = int(rng.choice([1, 2, 3, 250, 2500])), int(rng.choice([1, 2, 7, 48]))
        r = rng.normal(0.0005, 0.02, (n, width))
        r[rng.random((n, width)) < 0.4] = 0.0
        want = _numpy_reference_metrics(r, 252, rf)
        got = mx.returns_metrics(r, 252, rf)
        for k, v in want.items():
            assert np.array_equal(got[k], v, equal_nan=True), (it, k)
        keys = [k for k in mx.returns_metrics(r[:1], 252, rf) if rng.random() < 0.5] or ["max_drawdown"]
        some = mx.returns_metrics(r, 252, rf, keys)
        assert set(some) == set(keys)
        for k in keys:
            assert np.array_equal(some[k], want[k], equal_nan=True), (it, k)


def test_benchmark_metrics_match_reference_formulas(series) -> None:
    r, b = series
    got = {k: float(v[0]) for k, v in mx.benchmark_metrics(r[:, None], b, 252, 0.0).items()}
    beta = statistics.covariance(r, b) / statistics.variance(b)
    alpha = (1 + statistics.mean(x - beta * y for x, y in zip(r, b, strict=True))) ** 252 - 1
    active = [x - y for x, y in zip(r, b, strict=True)]
    assert got["beta"] == pytest.approx(beta, rel=1e-10)
    assert got["alpha"] == pytest.approx(alpha, rel=1e-10)
    assert got["tracking_error"] == pytest.approx(statistics.stdev(active) * math.sqrt(252), rel=1e-12)
    assert got["information_ratio"] == pytest.approx(
        statistics.mean(active) / statistics.stdev(active) * math.sqrt(252), rel=1e-10
    )
    assert got["excess_return"] == pytest.approx(math.prod(1 + x for x in r) - math.prod(1 + y for y in b), rel=1e-10)


def test_drawdown_dates_and_trade_metrics() -> None:
    wealth = np.array([1.0, 1.1, 0.99, 0.88, 1.0, 1.12, 1.05])
    dd = wealth / np.maximum.accumulate(wealth) - 1
    dates = ["d1", "d2", "d3", "d4", "d5", "d6"]
    got = mx.drawdown_dates(wealth, dd, dates)
    assert got == {"max_drawdown_start": "d1", "max_drawdown_trough": "d3", "max_drawdown_recovery": "d5",
                   "max_drawdown_duration": 4}  # fmt: skip
    trades = mx.trade_metrics(np.array([100.0, -50.0, 30.0, -10.0]), np.array([3, 1, 2, 2]))
    assert trades == {"trade_count": 4, "win_rate": 0.5, "profit_factor": 130 / 60, "average_win": 65.0,
                      "average_loss": -30.0, "average_holding_sessions": 2.0}  # fmt: skip


def test_plain_preset_matches_a_generic_all_in_reference(sample_bars) -> None:
    """A generic fractional-share engine: all-in at the next open when the signal turns on, all-out when off."""
    bars = sample_bars.filter(pl.col("symbol") == "000001.SZ")
    close, open_ = bars["close"].to_numpy(), bars["open"].to_numpy()
    fast = pl.Series(close).rolling_mean(5).to_numpy()
    slow = pl.Series(close).rolling_mean(20).to_numpy()
    with np.errstate(invalid="ignore"):
        signal = (fast > slow).astype(float)
    cash, shares, curve = 100_000.0, 0.0, []
    for t in range(len(close)):
        want = signal[t - 1] if t else 0.0
        if want and not shares:
            shares, cash = cash / open_[t], 0.0
        elif not want and shares:
            cash, shares = shares * open_[t], 0.0
        curve.append(cash + shares * close[t])
    targets = bars.select("ts", "symbol", pl.Series("weight", signal))
    result = simulate(bars, targets, EngineConfig(preset="plain", shares="fractional", initial_cash=100_000))
    assert np.allclose(result.equity["equity"].to_numpy(), curve, rtol=1e-10)


def test_a_grid_summary_of_chosen_metrics_equals_those_columns_of_the_full_one(sample_bars) -> None:
    """`run_grid(metrics=...)` (a sweep ranking by a few numbers) skips the other metrics' passes; the
    columns it returns are bit for bit those of the full summary, with and without a benchmark."""
    from quant import run_grid, run_independent
    from quant.grid import SUMMARY_METRICS

    sets = [{"fast": f, "slow": s} for f in (3, 8, 13) for s in (20, 40)]
    bench = sample_bars.filter(pl.col("symbol") == "300750.SZ")
    for benchmark in (None, bench):
        full = run_grid("ma_cross", sample_bars, sets, EngineConfig(), benchmark=benchmark).summary
        for keys in (
            ["sharpe"],
            ["max_drawdown"],
            ["calmar", "volatility"],
            ["sortino", "beta"],
            list(SUMMARY_METRICS),
        ):
            part = run_grid("ma_cross", sample_bars, sets, EngineConfig(), benchmark=benchmark, metrics=keys).summary
            rest = {"final_equity", "exposure", "trade_count", "fill_count", "total_fees", "fast", "slow"}
            expected = [c for c in full.columns if c in rest or c in keys]
            assert part.columns == expected
            assert part.equals(full.select(expected))
    one = run_independent("ma_cross", sample_bars, {"fast": 5, "slow": 20}, metrics=["total_return"]).summary
    assert "sharpe" not in one.columns and one["total_return"].equals(
        run_independent("ma_cross", sample_bars, {"fast": 5, "slow": 20}).summary["total_return"]
    )
    with pytest.raises(ValueError, match="unknown summary metrics"):
        run_grid("ma_cross", sample_bars, sets, metrics=["profit"])


def test_chunked_running_peak_gives_the_accumulated_drawdown() -> None:
    """`_wealth_drawdown` (chunked running peak on wide blocks) equals the drawdown from
    `np.maximum.accumulate`, bit for bit: remainders after the last chunk, new highs at chunk edges,
    wealth below 1 throughout, and NaN (which both propagate)."""
    rng = np.random.default_rng(23)
    for it in range(60):
        n, width = int(rng.integers(1, 400)), int(rng.choice([1, 8, 9, 48]))
        growth = 1 + rng.normal(0.0 if it % 3 else -0.01, 0.02, (n, width))
        growth[rng.random((n, width)) < 0.3] = 1.0
        if it % 5 == 0:
            growth[rng.integers(0, n), rng.integers(0, width)] = np.nan
        wealth = np.cumprod(growth, axis=0)
        want = (wealth / np.maximum(np.maximum.accumulate(wealth, axis=0), 1.0)).min(axis=0) - 1
        assert np.array_equal(mx._wealth_drawdown(wealth.copy()), want, equal_nan=True), it


@pytest.mark.parametrize("rf", [0.0, 0.02])
def test_metrics_in_given_buffers_equal_fresh_ones_and_keep_nothing_of_them(rf: float) -> None:
    """`returns_metrics(..., scratch=)` (a grid's summary blocks pass buffers they reuse) gives the values
    of fresh temporaries bit for bit, for all metrics and any subset, and no returned value is a view of
    the buffers (they are overwritten by the next block)."""
    rng = np.random.default_rng(23)
    for it in range(30):
        n, width = int(rng.choice([1, 2, 3, 63, 64, 250, 2500])), int(rng.choice([1, 2, 7, 24, 25]))
        r = rng.normal(0.0005, 0.02, (n, width))
        r[rng.random((n, width)) < 0.4] = 0.0
        keys = None if it % 2 else [k for k in mx.returns_metrics(r[:1], 252, rf) if rng.random() < 0.5] or ["calmar"]
        want = mx.returns_metrics(r, 252, rf, keys)
        scratch = (np.full((n, width), np.nan), np.full((n, width), np.nan))
        got = mx.returns_metrics(r, 252, rf, keys, scratch)
        for buffer in scratch:
            buffer.fill(-1.0)
        assert set(got) == set(want)
        for k, v in want.items():
            assert np.array_equal(got[k], v, equal_nan=True), (it, k)


def test_summary_blocks_release_their_equity_before_the_next_block(sample_bars, monkeypatch) -> None:
    """Each summary block's (sessions × lanes) equity is freed before the next block is computed, or is the
    one buffer every block reuses: what a block keeps (final equity, metrics) holds no view of it. A view kept
    every block's equity alive until the summary's end, so each block faulted in fresh pages (~1,300 on 300
    lanes × 2,500 bars)."""
    import weakref

    from quant import grid, run_independent

    earlier: list[weakref.ref] = []
    session_returns = grid.session_returns

    def spy(equity, ends, initial, *args):
        owner = equity if equity.base is None else equity.base  # the memory's owner
        assert all(ref() is None or ref() is owner for ref in earlier), "an earlier block's equity is still alive"
        earlier.append(weakref.ref(owner))
        return session_returns(equity, ends, initial, *args)

    monkeypatch.setattr(grid, "session_returns", spy)
    monkeypatch.setattr(grid, "LANE_BLOCK", 2)
    monkeypatch.setattr(grid, "SUB_BLOCK", 2)
    summary = run_independent("ma_cross", sample_bars, {"fast": 5, "slow": 20}).summary
    assert len(earlier) == len(grid._blocks(summary.height)) - 1 >= 2
