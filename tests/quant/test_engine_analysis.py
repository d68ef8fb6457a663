"""quant.analysis: drawdown periods, period returns, rolling statistics, trade and day statistics, position
details, alignment on one calendar — against hand-computed values and independent reference loops."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from datetime import time as dtime

import numpy as np
import polars as pl
import pytest

from quant import EngineConfig, run_backtest
from quant import analysis as an
from quant.synthetic import gbm_bars

DAYS = [date(2024, 1, 29), date(2024, 1, 30), date(2024, 1, 31), date(2024, 2, 1), date(2024, 2, 2), date(2024, 2, 5)]
EQUITY = np.array([1_050_000, 1_020_000, 1_080_000, 990_000, 1_100_000, 1_045_000.0])


def test_drawdown_periods_of_a_hand_computed_curve() -> None:
    periods = an.drawdown_periods(DAYS, EQUITY, 1_000_000.0, top=None)
    assert [(p["peak"], p["trough"], p["recovery"], p["sessions"]) for p in periods] == [
        (DAYS[2], DAYS[3], DAYS[4], 2),
        (DAYS[4], DAYS[5], None, 1),
        (DAYS[0], DAYS[1], DAYS[2], 2),
    ]
    assert [p["depth"] for p in periods] == pytest.approx([0.99 / 1.08 - 1, 1.045 / 1.1 - 1, 1.02 / 1.05 - 1])
    assert an.drawdown_periods(DAYS, EQUITY, 1_000_000.0, top=1) == periods[:1]
    assert an.drawdown_periods(DAYS, np.array([]), 1.0) == []


def test_a_drawdown_from_the_initial_cash_starts_at_the_first_session() -> None:
    [period] = an.drawdown_periods(DAYS[:3], np.array([900.0, 950.0, 1000.0]), 1000.0)
    assert (period["peak"], period["trough"], period["recovery"], period["sessions"]) == (DAYS[0], DAYS[0], DAYS[2], 3)
    assert period["depth"] == pytest.approx(-0.1)


def _reference_periods(wealth: np.ndarray) -> list[tuple[int, int, int | None, float]]:
    """Drawdown periods by a plain loop over the wealth (index 0 = the initial cash)."""
    out, peak_i, i = [], 0, 1
    while i < wealth.size:
        if wealth[i] >= wealth[peak_i]:
            peak_i, i = i, i + 1
            continue
        trough = i
        while i < wealth.size and wealth[i] < wealth[peak_i]:
            if wealth[i] < wealth[trough]:
                trough = i
            i += 1
        out.append((peak_i, trough, i if i < wealth.size else None, wealth[trough] / wealth[peak_i] - 1))
        if i < wealth.size:
            peak_i = i
    return out


def test_drawdown_periods_match_a_reference_loop_and_the_max_drawdown_metric() -> None:
    result = run_backtest("ma_cross", gbm_bars(), {"fast": 5, "slow": 20}, EngineConfig(preset="plain"))
    curve = an.session_curve(result.equity)
    initial = result.metrics["initial_cash"]
    equity = curve["equity"].to_numpy()
    days = curve["date"].to_list()
    periods = an.drawdown_periods(days, equity, initial, top=None)
    want = _reference_periods(np.append(initial, equity))
    assert len(periods) == len(want)
    by_peak = {p["peak"]: p for p in periods}
    for peak, trough, recovery, depth in want:
        got = by_peak[days[max(peak - 1, 0)]]
        assert got["trough"] == days[trough - 1] and got["depth"] == pytest.approx(depth)
        assert got["recovery"] == (days[recovery - 1] if recovery is not None else None)
    assert periods[0]["depth"] == pytest.approx(result.metrics["max_drawdown"])
    assert periods[0]["trough"].isoformat() == result.metrics["max_drawdown_trough"]


def test_monthly_and_yearly_returns_with_the_benchmark_and_the_excess() -> None:
    bench = np.array([1_000_000, 1_010_000, 1_000_000, 1_020_000, 1_030_000, 1_040_000.0])
    monthly = an.period_returns(DAYS, EQUITY, 1_000_000.0, bench)
    assert monthly["period"].to_list() == ["2024-01", "2024-02"]
    assert monthly["strategy"].to_list() == pytest.approx([0.08, 1.045 / 1.08 - 1])
    assert monthly["benchmark"].to_list() == pytest.approx([0.0, 0.04])
    assert monthly["excess"].to_list() == pytest.approx([0.08, 1.045 / 1.08 - 1 - 0.04])
    yearly = an.period_returns(DAYS, EQUITY, 1_000_000.0, None, every="year")
    assert yearly.to_dicts() == [
        {"period": "2024", "strategy": pytest.approx(0.045), "benchmark": None, "excess": None}
    ]


@pytest.mark.parametrize("every", ["month", "year"])
@pytest.mark.parametrize("with_bench", [True, False])
def test_period_return_rows_equal_the_period_returns_table_to_the_bit(every: str, with_bench: bool) -> None:
    rng = np.random.default_rng(11)
    days = np.unique(np.datetime64("2019-12-20") + np.sort(rng.choice(900, 500, replace=False)))
    equity = 1e6 * np.cumprod(1 + rng.normal(0.0005, 0.01, days.size))
    bench = 1e6 * np.cumprod(1 + rng.normal(0.0003, 0.01, days.size)) if with_bench else None
    if bench is not None:
        bench[40:80] = np.nan  # NaN benchmark values become null in the table
    table = an.period_returns(days.astype("datetime64[D]").tolist(), equity, 1e6, bench, every=every)
    rows = an.period_return_rows(days, equity, 1e6, bench, every=every)
    assert list(rows) == table["period"].to_list()

    def same(a: float | None, b: float) -> bool:
        return (a is None and np.isnan(b)) or (a is not None and a == b) or (np.isnan(b) and np.isnan(a))

    for row, (strategy, benchmark, excess) in zip(table.iter_rows(named=True), rows.values(), strict=True):
        assert same(row["strategy"], strategy) and same(row["benchmark"], benchmark) and same(row["excess"], excess)
    assert an.period_return_rows(days[:0], equity[:0], 1e6, None) == {}


def test_rolling_statistics_match_numpy_windows() -> None:
    rng = np.random.default_rng(7)
    r, b = rng.normal(0.001, 0.01, 80), rng.normal(0.0005, 0.01, 80)
    days = [date(2020, 1, 1) + timedelta(days=i) for i in range(80)]
    table = an.rolling_stats(days, r, b, 20, 252, 0.02)
    assert table["sharpe"][:19].is_null().all() and table["beta"][:19].is_null().all()
    for end in (19, 45, 79):
        w, wb = r[end - 19 : end + 1], b[end - 19 : end + 1]
        assert table["volatility"][end] == pytest.approx(w.std(ddof=1) * np.sqrt(252))
        assert table["sharpe"][end] == pytest.approx((w.mean() - 0.02 / 252) / w.std(ddof=1) * np.sqrt(252))
        assert table["beta"][end] == pytest.approx(np.cov(w, wb, ddof=1)[0, 1] / wb.var(ddof=1))
    assert an.rolling_stats(days, r, None, 20)["beta"].is_null().all()
    with pytest.raises(ValueError):
        an.rolling_stats(days, r, None, 1)


def test_trade_summary_streaks_best_worst_and_expectancy() -> None:
    stats = an.trade_summary(np.array([500, 300, 250, -200, -100, 400.0]))
    assert stats == {
        "best_trade": 500.0,
        "worst_trade": -200.0,
        "average_trade": pytest.approx(1150 / 6),
        "expectancy": pytest.approx((1150 / 6) / 150),
        "max_consecutive_wins": 3,
        "max_consecutive_losses": 2,
    }
    assert an.trade_summary(np.array([10.0, 0.0, 10.0]))["max_consecutive_wins"] == 1  # a zero breaks the streak
    assert an.trade_summary(np.array([10.0]))["expectancy"] is None
    assert an.trade_summary(np.array([]))["max_consecutive_losses"] == 0


def test_day_summary_is_the_absolute_pnl_and_the_share_of_winning_sessions() -> None:
    assert an.day_summary(EQUITY, 1_000_000.0) == {"absolute_pnl": 45_000.0, "daily_win_rate": 0.5}


def test_position_details_average_cost_unrealised_pnl_and_weight() -> None:
    d1, d2, d3, d4 = (date(2024, 1, i) for i in (2, 3, 4, 5))
    fills = pl.DataFrame(
        {
            "ts": [d1, d2, d3, d4],
            "date": [d1, d2, d3, d4],
            "symbol": ["A"] * 4,
            "side": ["buy", "buy", "sell", "buy"],
            "qty": [100.0, 100.0, 200.0, 100.0],
            "value": [1000.0, 1200.0, 2400.0, 1300.0],
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("us")))
    positions = pl.DataFrame(
        {"date": [d1, d2, d4], "symbol": ["A"] * 3, "shares": [100.0, 200.0, 100.0], "close": [10.5, 12.0, 14.0]}
    ).with_columns((pl.col("shares") * pl.col("close")).alias("market_value"))
    equity = pl.DataFrame({"date": [d1, d2, d3, d4], "equity": [2000.0, 4000.0, 2500.0, 2800.0]})
    out = an.position_details(positions, fills, equity)
    assert out["avg_cost"].to_list() == pytest.approx([10.0, 11.0, 13.0])  # a new position after flat at d3
    assert out["unrealised_pnl"].to_list() == pytest.approx([50.0, 200.0, 100.0])
    assert out["weight"].to_list() == pytest.approx([1050 / 2000, 2400 / 4000, 1400 / 2800])


def test_align_curves_on_the_union_calendar_with_the_intersection_window() -> None:
    a = (DAYS[:5], EQUITY[:5], 1_000_000.0)
    b = (DAYS[2:], np.array([2_200_000, 2_100_000, 2_310_000, 2_200_000.0]), 2_000_000.0)
    aligned = an.align_curves([a, b])
    assert aligned.dates == DAYS and (aligned.start, aligned.end) == (DAYS[2], DAYS[4])
    assert aligned.wealth[0, :5] == pytest.approx([1.05, 1.02, 1.08, 0.99, 1.1]) and np.isnan(aligned.wealth[0, 5])
    assert np.isnan(aligned.wealth[1, :2]).all() and aligned.wealth[1, 2:] == pytest.approx([1.1, 1.05, 1.155, 1.1])
    ra = [1.08 / 1.02 - 1, 0.99 / 1.08 - 1, 1.1 / 0.99 - 1]
    rb = [0.1, 2.1 / 2.2 - 1, 2.31 / 2.1 - 1]
    assert aligned.correlation[0, 1] == pytest.approx(np.corrcoef(ra, rb)[0, 1])
    apart = an.align_curves([(DAYS[:2], EQUITY[:2], 1e6), (DAYS[4:], EQUITY[4:], 1e6)])
    assert (apart.start, apart.end) == (None, None) and np.isnan(apart.correlation).all()


def test_first_difference_of_two_curves() -> None:
    a = pl.DataFrame({"date": DAYS, "equity": EQUITY})
    assert an.first_difference(a, a) is None
    b = a.with_columns(pl.when(pl.col("date") >= DAYS[3]).then(pl.col("equity") + 1).otherwise(pl.col("equity")))
    assert an.first_difference(a, b) == DAYS[3]
    assert an.first_difference(a, a.head(5)) == DAYS[5]


def test_the_equity_artifact_carries_the_benchmark_rebased_to_the_initial_cash() -> None:
    bars = gbm_bars()
    bench = bars.select("date", pl.col("close") * 0 + 100 * (1 + pl.int_range(pl.len()) * 0.001))
    result = run_backtest("ma_cross", bars, {"fast": 5, "slow": 20}, benchmark=bench.rename({"close": "close"}))
    curve = result.equity["benchmark_equity"].to_numpy()
    closes = bench["close"].to_numpy()
    assert curve == pytest.approx(1_000_000 * closes / closes[0])
    assert result.metrics["benchmark_return"] == pytest.approx(curve[-1] / 1_000_000 - 1)
    plain = run_backtest("ma_cross", bars, {"fast": 5, "slow": 20})
    assert plain.equity["benchmark_equity"].is_nan().all()


def test_study_metrics_are_added_to_the_stats() -> None:
    result = run_backtest("ma_cross", gbm_bars(), {"fast": 5, "slow": 20})
    m = result.metrics
    assert m["absolute_pnl"] == pytest.approx(m["final_equity"] - m["initial_cash"])
    assert np.prod([1 + v["strategy"] for v in m["monthly_returns"].values()]) - 1 == pytest.approx(m["total_return"])
    assert np.prod([1 + v["strategy"] for v in m["yearly_returns"].values()]) - 1 == pytest.approx(m["total_return"])
    pnl = result.trades.sort("exit_date", "entry_date", maintain_order=True)["pnl"].to_numpy()
    assert m["max_consecutive_wins"] == an.trade_summary(pnl)["max_consecutive_wins"]
    assert (m["best_trade"], m["worst_trade"]) == (pnl.max(), pnl.min())
    assert m["daily_win_rate"] == pytest.approx((result.equity["returns"].to_numpy() > 0).mean())


def test_an_intraday_run_carries_the_previous_close_of_the_benchmark_until_the_sessions_last_bar() -> None:
    days = [date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4)]
    ts = [datetime.combine(d, t) for d in days for t in (dtime(10, 0), dtime(11, 0), dtime(15, 0))]
    close = np.linspace(10, 11, len(ts))
    bars = pl.DataFrame(
        {"symbol": "600000.SH", "ts": ts, "open": close, "high": close, "low": close, "close": close, "volume": 1e6}
    ).with_columns(pl.col("ts").cast(pl.Datetime("us")))
    bench = pl.DataFrame({"date": days, "close": [100.0, 102.0, 99.96]})
    result = run_backtest("ma_cross", bars, {"fast": 2, "slow": 3}, EngineConfig(preset="plain"), benchmark=bench)
    wealth = [1e6, 1e6 * 1.02, 1e6 * 0.9996]  # the first session's return is 0: the benchmark starts there
    assert result.equity["benchmark_equity"].to_list() == pytest.approx(
        [1e6, 1e6, wealth[0], wealth[0], wealth[0], wealth[1], wealth[1], wealth[1], wealth[2]]
    )
