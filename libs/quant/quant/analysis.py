"""Studying results: pure computations over a run's curves and trades (no platform, no I/O).

Conventions (the same as `quant.metrics`): a run's *wealth* is its per-session (end-of-day) equity with the
initial cash prepended as the point before the first session; that point maps to the first session's date.
Per-session returns are simple returns of that wealth (the first against the initial cash).

- Drawdown period: a maximal stretch where wealth is below its running peak. `peak` is the last session at
  the peak before it, `trough` the first session at its lowest wealth, `recovery` the first session whose
  wealth is back at (≥) the peak, or None; `depth` = trough / peak − 1 (≤ 0); `sessions` counts sessions from
  the peak to the recovery (to the last session when not recovered).
- Period (month/year) returns: the period's last wealth over the previous period's last wealth (the initial
  cash for the first period) − 1, for the strategy and the benchmark (its equity rebased to the initial cash);
  excess = strategy − benchmark.
- Rolling statistics over `window` sessions (the first `window − 1` sessions have none): Sharpe =
  mean(r − rf/ppy) / std(r, ddof 1) × √ppy, volatility = std(r, ddof 1) × √ppy, beta = cov(r, b) / var(b).
- Trade statistics on closed round trips in the order they closed (exit date): best, worst and average net
  P&L; expectancy = average P&L / |average losing P&L| (P&L per unit of the typical loss, None without
  losses); max consecutive wins (P&L > 0) and losses (P&L < 0), a zero P&L breaking both streaks.
- Daily win rate: the share of sessions with a positive return. Absolute P&L: final equity − initial cash.
- Positions: average cost = value-weighted average buy price of the shares held since the position was last
  flat (sells do not change it; fees excluded, like a round trip's entry price); unrealised P&L =
  (close − average cost) × shares; weight = market value / the session's equity.
- Comparison: runs aligned on the union of their sessions, each as wealth / its initial cash (1 = its own
  start, None where it is not live); the intersection window is the sessions where every run is live; the
  correlation matrix is of daily returns over the intersection window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

# --- drawdown periods ----------------------------------------------------------------------------------


def drawdown_periods(dates: Sequence[date], equity: np.ndarray, initial: float, top: int | None = 5) -> list[dict]:
    """The `top` deepest drawdown periods (deepest first) of a per-session equity curve."""
    equity = np.asarray(equity, dtype=np.float64)
    if equity.size == 0:
        return []
    wealth = np.append(float(initial), equity)
    peak = np.maximum.accumulate(wealth)
    under = wealth < peak
    edges = np.diff(np.concatenate(([0], under.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    last = wealth.size - 1

    def day(i: int) -> date:
        return dates[max(i - 1, 0)]

    periods = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        p = a - 1
        trough = a + int(np.argmin(wealth[a : b + 1]))
        recovery = b + 1 if b + 1 <= last else None
        periods.append(
            {
                "peak": day(p),
                "trough": day(trough),
                "recovery": day(recovery) if recovery is not None else None,
                "depth": float(wealth[trough] / wealth[p] - 1),
                "sessions": int((recovery if recovery is not None else last) - p),
                "peak_equity": float(wealth[p]),
                "trough_equity": float(wealth[trough]),
            }
        )
    periods.sort(key=lambda d: (d["depth"], d["peak"]))
    return periods if top is None else periods[:top]


# --- period returns --------------------------------------------------------------------------------------


def session_curve(frame: pl.DataFrame, columns: Sequence[str] = ("equity",)) -> pl.DataFrame:
    """One row per session (the last bar of each date) of an equity frame (`date` + `columns`)."""
    return frame.select("date", *columns).group_by("date", maintain_order=True).last().sort("date")


def period_returns(
    dates: Sequence[date],
    equity: np.ndarray,
    initial: float,
    benchmark: np.ndarray | None = None,
    *,
    every: str = "month",
) -> pl.DataFrame:
    """Returns per calendar month (`period` "YYYY-MM") or year ("YYYY"): strategy, benchmark, excess."""
    if every not in ("month", "year"):
        raise ValueError("every must be 'month' or 'year'")
    n = len(dates)
    frame = pl.DataFrame(
        {
            "date": pl.Series(list(dates), dtype=pl.Date),
            "equity": np.asarray(equity, dtype=np.float64),
            "benchmark": np.asarray(benchmark, dtype=np.float64) if benchmark is not None else np.full(n, np.nan),
        }
    )
    fmt = "%Y-%m" if every == "month" else "%Y"
    ends = frame.with_columns(pl.col("date").dt.strftime(fmt).alias("period")).group_by("period", maintain_order=True)
    ends = ends.agg(pl.col("equity").last(), pl.col("benchmark").last()).sort("period")
    base = pl.lit(float(initial))
    out = ends.select(
        "period",
        (pl.col("equity") / pl.col("equity").shift(1).fill_null(base) - 1).alias("strategy"),
        (pl.col("benchmark") / pl.col("benchmark").shift(1).fill_null(base) - 1).fill_nan(None).alias("benchmark"),
    )
    return out.with_columns((pl.col("strategy") - pl.col("benchmark")).alias("excess"))


def period_return_rows(
    days: np.ndarray, equity: np.ndarray, initial: float, benchmark: np.ndarray | None = None, *, every: str = "month"
) -> dict[str, tuple[float, float, float]]:
    """`period_returns` as {period: (strategy, benchmark, excess)} in numpy, for sorted session dates
    (`datetime64[D]`, as a run's are): the same divisions in the same order, NaN where the frame has null.
    The engine's run metrics use it (one polars group-by per table costs a first call milliseconds)."""
    if every not in ("month", "year"):
        raise ValueError("every must be 'month' or 'year'")
    days = np.asarray(days, dtype="datetime64[D]")
    if days.size == 0:
        return {}
    keys = days.astype("datetime64[M]" if every == "month" else "datetime64[Y]")
    last = np.append(np.flatnonzero(keys[1:] != keys[:-1]), keys.size - 1)  # last session of each period
    equity = np.asarray(equity, dtype=np.float64)[last]
    bench = np.asarray(benchmark, dtype=np.float64)[last] if benchmark is not None else np.full(last.size, np.nan)
    base = float(initial)
    strategy = equity / np.append(base, equity[:-1]) - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        bench_r = bench / np.append(base, bench[:-1]) - 1
    excess = strategy - bench_r
    names = keys[last].astype(str).tolist()
    return dict(zip(names, zip(strategy.tolist(), bench_r.tolist(), excess.tolist(), strict=True), strict=True))


# --- rolling statistics ------------------------------------------------------------------------------------


def wealth_returns(equity: np.ndarray, initial: float) -> np.ndarray:
    """Per-session simple returns, the first against the initial cash."""
    equity = np.asarray(equity, dtype=np.float64)
    return equity / np.append(float(initial), equity[:-1]) - 1 if equity.size else equity


def rolling_stats(
    dates: Sequence[date],
    returns: np.ndarray,
    bench_returns: np.ndarray | None,
    window: int,
    ppy: int = 252,
    rf: float = 0.0,
) -> pl.DataFrame:
    """Rolling Sharpe, volatility and beta (None before a full window, and beta without a benchmark)."""
    if window < 2:
        raise ValueError("window must be at least 2 sessions")
    r = pl.Series("r", np.asarray(returns, dtype=np.float64))
    sd = r.rolling_std(window, ddof=1)
    mean = r.rolling_mean(window)
    frame = pl.DataFrame({"date": pl.Series(list(dates), dtype=pl.Date)})
    sharpe = ((mean - rf / ppy) / sd * math.sqrt(ppy)).fill_nan(None)
    columns = {"sharpe": sharpe, "volatility": sd * math.sqrt(ppy)}
    if bench_returns is not None:
        b = pl.Series("b", np.asarray(bench_returns, dtype=np.float64))
        scale = window / (window - 1)
        cov = ((r * b).rolling_mean(window) - mean * b.rolling_mean(window)) * scale
        var = b.rolling_var(window, ddof=1)
        columns["beta"] = (cov / var).fill_nan(None)
    else:
        columns["beta"] = pl.Series([None] * len(r), dtype=pl.Float64)
    out = frame.with_columns(**{k: v.alias(k) for k, v in columns.items()})
    return out.with_columns(pl.when(pl.col(c).is_infinite()).then(None).otherwise(pl.col(c)).alias(c) for c in columns)


# --- trade and day statistics --------------------------------------------------------------------------------


def _longest_run(flags: np.ndarray) -> int:
    if not flags.any():
        return 0
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def trade_summary(pnl: np.ndarray) -> dict:
    """Best, worst and average trade, expectancy and the longest streaks of closed round trips' net P&L
    (in the order they closed)."""
    pnl = np.asarray(pnl, dtype=np.float64)
    if pnl.size == 0:
        return {"best_trade": None, "worst_trade": None, "average_trade": None, "expectancy": None,
                "max_consecutive_wins": 0, "max_consecutive_losses": 0}  # fmt: skip
    losses = pnl[pnl < 0]
    average = float(pnl.mean())
    return {
        "best_trade": float(pnl.max()),
        "worst_trade": float(pnl.min()),
        "average_trade": average,
        "expectancy": average / abs(float(losses.mean())) if losses.size else None,
        "max_consecutive_wins": _longest_run(pnl > 0),
        "max_consecutive_losses": _longest_run(pnl < 0),
    }


def closing_order(trades: pl.DataFrame) -> pl.DataFrame:
    """Round trips in the order they closed (exit date, then entry date; stable)."""
    return trades.sort("exit_date", "entry_date", maintain_order=True)


def day_summary(equity: np.ndarray, initial: float) -> dict:
    """Absolute P&L and the daily win rate of a per-session equity curve."""
    equity = np.asarray(equity, dtype=np.float64)
    returns = wealth_returns(equity, initial)
    return {
        "absolute_pnl": float(equity[-1] - initial) if equity.size else 0.0,
        "daily_win_rate": float((returns > 0).mean()) if returns.size else None,
    }


# --- positions ---------------------------------------------------------------------------------------------------


def position_details(positions: pl.DataFrame, fills: pl.DataFrame, equity: pl.DataFrame) -> pl.DataFrame:
    """End-of-day positions with their average cost, unrealised P&L and weight in the session's equity."""
    if positions.is_empty():
        return positions.with_columns(
            pl.lit(None, pl.Float64).alias("avg_cost"),
            pl.lit(None, pl.Float64).alias("unrealised_pnl"),
            pl.lit(None, pl.Float64).alias("weight"),
        )
    signed = pl.when(pl.col("side") == "buy").then(pl.col("qty")).otherwise(-pl.col("qty"))
    buy = pl.col("side") == "buy"
    costs = (
        fills.with_row_index("_seq")
        .sort("symbol", "ts", "_seq")
        .with_columns(signed.cum_sum().over("symbol").alias("_after"), signed.alias("_signed"))
        .with_columns((((pl.col("_after") - pl.col("_signed")) <= 1e-9).cum_sum().over("symbol")).alias("_trip"))
        .with_columns(
            pl.when(buy).then(pl.col("value")).otherwise(0.0).cum_sum().over("symbol", "_trip").alias("_paid"),
            pl.when(buy).then(pl.col("qty")).otherwise(0.0).cum_sum().over("symbol", "_trip").alias("_bought"),
        )
        .select("symbol", "date", (pl.col("_paid") / pl.col("_bought")).alias("avg_cost"))
        .group_by("symbol", "date", maintain_order=True)
        .last()
        .sort("date")
    )
    days = session_curve(equity).rename({"equity": "_equity"})
    out = (
        positions.with_row_index("_row")
        .sort("date")
        .join_asof(costs, on="date", by="symbol", strategy="backward", check_sortedness=False)
        .join(days, on="date", how="left")
        .sort("_row")
    )
    return out.with_columns(
        ((pl.col("close") - pl.col("avg_cost")) * pl.col("shares")).alias("unrealised_pnl"),
        (pl.col("market_value") / pl.col("_equity")).alias("weight"),
    ).drop("_row", "_equity")


# --- comparison --------------------------------------------------------------------------------------------------


@dataclass
class Aligned:
    """Runs on one calendar: `wealth` (R, D) with NaN where a run is not live, the intersection window
    (None when the runs share no session) and the correlation matrix of daily returns over it."""

    dates: list[date]
    wealth: np.ndarray
    start: date | None
    end: date | None
    correlation: np.ndarray


def align_curves(curves: Sequence[tuple[Sequence[date], np.ndarray, float]]) -> Aligned:
    """Align per-session curves (dates, equity, initial cash) on the union of their sessions."""
    days = sorted({d for dates, _, _ in curves for d in dates})
    index = {d: i for i, d in enumerate(days)}
    R, D = len(curves), len(days)
    wealth = np.full((R, D), np.nan)
    returns = np.full((R, D), np.nan)
    for i, (dates, equity, initial) in enumerate(curves):
        cols = np.fromiter((index[d] for d in dates), dtype=np.int64, count=len(dates))
        eq = np.asarray(equity, dtype=np.float64)
        wealth[i, cols] = eq / initial
        returns[i, cols] = wealth_returns(eq, initial)
    live = ~np.isnan(wealth)
    common = np.flatnonzero(live.all(axis=0)) if R else np.array([], dtype=np.int64)
    # the window is contiguous on the union calendar: from the latest start to the earliest end
    starts = [min(c[0]) if len(c[0]) else None for c in curves]
    ends = [max(c[0]) if len(c[0]) else None for c in curves]
    start = max(starts) if R and None not in starts else None
    end = min(ends) if R and None not in ends else None
    if start is None or end is None or start > end or common.size == 0:
        start = end = None
        corr = np.full((R, R), np.nan)
    else:
        window = returns[:, index[start] : index[end] + 1]
        window = window[:, ~np.isnan(window).any(axis=0)]
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.corrcoef(window) if window.shape[1] > 1 else np.full((R, R), np.nan)
        corr = np.atleast_2d(corr)
    return Aligned(dates=days, wealth=wealth, start=start, end=end, correlation=corr)


def first_difference(a: pl.DataFrame, b: pl.DataFrame, *, tolerance: float = 1e-6) -> date | None:
    """The first session where two per-session equity curves (`date`, `equity`) differ by more than
    `tolerance` CNY, or where only one of them has a session; None when they are the same."""
    joined = a.select("date", pl.col("equity").alias("a")).join(
        b.select("date", pl.col("equity").alias("b")), on="date", how="full", coalesce=True
    )
    diff = joined.sort("date").filter(
        pl.col("a").is_null() | pl.col("b").is_null() | ((pl.col("a") - pl.col("b")).abs() > tolerance)
    )
    return diff["date"][0] if diff.height else None
