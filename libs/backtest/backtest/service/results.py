"""Studying results: paged trades, orders, fills and positions; chart-ready curves; drawdown periods,
return tables and rolling statistics; comparison of runs on one calendar; the diff of two runs.

Every function reads the caller's run (another owner's is NOT_FOUND, exactly like a missing one) and its
stored Parquet artifacts; the computations are `quant.analysis` (pure) and `backtest.views`. Frames read
from the store are kept in a small in-process cache keyed by the artifact's content hash (artifacts are
immutable: an attempt that rewrites one writes the same bytes).
"""

from __future__ import annotations

import difflib
import io
import math
import threading
import uuid
from collections import OrderedDict
from datetime import date
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy.orm import Session

from backtest import repository as repo
from backtest.config import BacktestEnv
from backtest.domain import SUMMARY_METRICS, clean_json
from backtest.schemas import (
    MAX_COMPARE,
    MAX_POINTS,
    MIN_POINTS,
    ComparedRun,
    Comparison,
    CurvesRead,
    DrawdownPeriod,
    FillRow,
    ManifestChange,
    MetricDelta,
    OrderRow,
    PeriodReturn,
    PositionRow,
    ReturnTables,
    RollingRead,
    RunDiff,
    RunStudy,
    TradeRow,
    Window,
)
from backtest.service._common import owned_backtest, owned_run
from backtest.views import PageQuery, check_range, downsample, filter_frame, page_rows
from platform_core.errors import AppError, InvalidInput, NotFound
from platform_core.pagination import Page
from quant import analysis as an
from strategy_management import service as strategies
from user_auth.principal import Principal

__all__ = [
    "COMPARE_METRICS",
    "PageQuery",
    "compare_csv",
    "compare_runs",
    "diff_runs",
    "drawdown_periods",
    "page_fills",
    "page_orders",
    "page_positions",
    "page_trades",
    "return_tables",
    "rolling",
    "run_curves",
    "run_study",
]

# The metrics a comparison and a diff put side by side (summary metrics, then the study metrics).
COMPARE_METRICS = (*SUMMARY_METRICS, "absolute_pnl", "daily_win_rate", "best_trade", "worst_trade", "average_trade",
                   "expectancy", "max_consecutive_wins", "max_consecutive_losses")  # fmt: skip
CURVE_COLUMNS = ("ts", "date", "equity", "cash", "market_value", "drawdown")
_CACHE: OrderedDict[tuple[str, str], pl.DataFrame] = OrderedDict()
_CACHE_SIZE = 32
_LOCK = threading.Lock()


# --- loading ---------------------------------------------------------------------------------------------


def _frame(env: BacktestEnv, row: repo.RunRow, kind: str) -> pl.DataFrame:
    """The run's `kind` artifact as a frame (NOT_FOUND until the run has it)."""
    ref = (row.artifacts or {}).get(kind)
    if ref is None:
        raise NotFound(
            f"run has no {kind} artifact yet (artifacts exist once it succeeds)",
            details={"run_id": str(row.id), "type": kind},
        )
    key = (ref["key"], ref["sha256"])
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
            return cached
    frame = pl.read_parquet(io.BytesIO(env.store.get(ref["key"])))
    with _LOCK:
        _CACHE[key] = frame
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return frame


def _initial_cash(session: Session, principal: Principal, row: repo.RunRow) -> float:
    if row.metrics and row.metrics.get("initial_cash") is not None:
        return float(row.metrics["initial_cash"])
    return float(owned_backtest(session, principal, row.backtest_id).initial_cash)


def _sessions(equity: pl.DataFrame) -> pl.DataFrame:
    """One row per session: date, equity and the benchmark's equity (None when the run has none)."""
    bench = "benchmark_equity" in equity.columns
    curve = an.session_curve(equity, ["equity", *(["benchmark_equity"] if bench else [])])
    if not bench:
        curve = curve.with_columns(pl.lit(None, pl.Float64).alias("benchmark_equity"))
    return curve.with_columns(pl.col("benchmark_equity").fill_nan(None))


def _bench(curve: pl.DataFrame) -> np.ndarray | None:
    column = curve["benchmark_equity"]
    return None if column.null_count() == column.len() else column.fill_null(np.nan).to_numpy()


# --- pages -----------------------------------------------------------------------------------------------


def _page(session: Session, env: BacktestEnv, principal: Principal, run_id: uuid.UUID, kind: str, q: PageQuery):
    return page_of(env, owned_run(session, principal, run_id), kind, q)


def page_of(env: BacktestEnv, row: repo.RunRow, kind: str, q: PageQuery) -> tuple[list[dict[str, Any]], int]:
    """The items and total of a page of a run already read as its owner (what the `page_*` functions
    answer after the run's lookup; `tests/benchmarks/bench_results.py` times it)."""
    from quant.kernel import REASONS

    frame = _frame(env, row, kind)
    if kind == "positions":
        frame = an.position_details(frame, _frame(env, row, "fills"), _frame(env, row, "equity"))
    items, total = page_rows(filter_frame(kind, frame, q, [r for r in REASONS if r]), q)
    return items, total


def page_trades(
    session: Session, env: BacktestEnv, principal: Principal, run_id: uuid.UUID, query: PageQuery
) -> Page[TradeRow]:
    """A page of the run's round trips: filter by symbol and the exit date's range, sort on any column."""
    items, total = _page(session, env, principal, run_id, "trades", query)
    return Page[TradeRow](items=items, total=total, limit=query.limit, offset=query.offset)


def page_orders(
    session: Session, env: BacktestEnv, principal: Principal, run_id: uuid.UUID, query: PageQuery
) -> Page[OrderRow]:
    """A page of the run's orders, blocked ones with their reasons: filter by symbol, dates, side, status
    (filled, partial, rejected) and reason; sort on any column."""
    items, total = _page(session, env, principal, run_id, "orders", query)
    return Page[OrderRow](items=items, total=total, limit=query.limit, offset=query.offset)


def page_fills(
    session: Session, env: BacktestEnv, principal: Principal, run_id: uuid.UUID, query: PageQuery
) -> Page[FillRow]:
    """A page of the run's fills with their fee breakdown: filter by symbol, dates and side."""
    items, total = _page(session, env, principal, run_id, "fills", query)
    return Page[FillRow](items=items, total=total, limit=query.limit, offset=query.offset)


def page_positions(
    session: Session, env: BacktestEnv, principal: Principal, run_id: uuid.UUID, query: PageQuery
) -> Page[PositionRow]:
    """A page of the run's end-of-day positions with average cost, unrealised P&L and weight."""
    items, total = _page(session, env, principal, run_id, "positions", query)
    return Page[PositionRow](items=items, total=total, limit=query.limit, offset=query.offset)


# --- curves ----------------------------------------------------------------------------------------------


def run_curves(
    session: Session,
    env: BacktestEnv,
    principal: Principal,
    run_id: uuid.UUID,
    *,
    start: date | None = None,
    end: date | None = None,
    points: int = 1000,
) -> CurvesRead:
    """Equity, cash, market value, drawdown and the benchmark's equity (rebased to the initial cash) within
    [start, end], downsampled to about `points` points by MinMaxLTTB on the equity, always keeping the
    deepest drawdown, the highest and lowest equity of the range and its first and last bars."""
    if not MIN_POINTS <= points <= MAX_POINTS:
        raise InvalidInput(
            f"points must be between {MIN_POINTS} and {MAX_POINTS}",
            field="points",
            details={"min": MIN_POINTS, "max": MAX_POINTS, "got": points},
        )
    check_range(start, end)
    row = owned_run(session, principal, run_id)
    return curves_of(env, row, _initial_cash(session, principal, row), start=start, end=end, points=points)


def curves_of(
    env: BacktestEnv, row: repo.RunRow, initial: float, *, start: date | None, end: date | None, points: int
) -> CurvesRead:
    """The curves of a run already read as its owner (`run_curves` after the lookup)."""
    equity = _frame(env, row, "equity")
    if start is not None or end is not None:
        where = [pl.col("date") >= start] if start is not None else []
        where += [pl.col("date") <= end] if end is not None else []
        equity = equity.filter(*where)
    if equity.is_empty():
        raise InvalidInput(
            "no sessions of the run in this range",
            field="from",
            details={"from": start and start.isoformat(), "to": end and end.isoformat()},
        )
    values = equity["equity"].to_numpy()
    dd = equity["drawdown"].to_numpy()
    idx = downsample(values, points, [0, values.size - 1, int(np.argmin(dd))])
    picked = equity[idx] if idx.size < equity.height else equity
    bench = None
    if "benchmark_equity" in picked.columns and picked["benchmark_equity"].is_not_nan().any():
        bench = clean_json(picked["benchmark_equity"].to_list())
    dates = equity["date"]
    return CurvesRead(
        run_id=row.id,
        start=dates[0],
        end=dates[-1],
        rows=equity.height,
        points=picked.height,
        method="MinMaxLTTB" if picked.height < equity.height else "none",
        initial_cash=initial,
        ts=picked["ts"].to_list(),
        equity=picked["equity"].to_list(),
        cash=picked["cash"].to_list(),
        market_value=picked["market_value"].to_list(),
        drawdown=picked["drawdown"].to_list(),
        benchmark=bench,
    )


# --- drawdowns, returns, rolling ---------------------------------------------------------------------------


def _curve(session: Session, env: BacktestEnv, principal: Principal, run_id: uuid.UUID):
    row = owned_run(session, principal, run_id)
    return row, _sessions(_frame(env, row, "equity")), _initial_cash(session, principal, row)


def drawdown_periods(
    session: Session, env: BacktestEnv, principal: Principal, run_id: uuid.UUID, *, top: int = 5
) -> list[DrawdownPeriod]:
    """The `top` deepest drawdown periods of the run (deepest first), for highlighting on the chart."""
    if not 1 <= top <= 100:
        raise InvalidInput("top must be between 1 and 100", field="top", details={"min": 1, "max": 100})
    _, curve, initial = _curve(session, env, principal, run_id)
    periods = an.drawdown_periods(curve["date"].to_list(), curve["equity"].to_numpy(), initial, top)
    return [DrawdownPeriod(**p) for p in periods]


def _tables(curve: pl.DataFrame, initial: float) -> tuple[list[PeriodReturn], list[PeriodReturn]]:
    dates, equity, bench = curve["date"].to_list(), curve["equity"].to_numpy(), _bench(curve)
    return tuple(
        [PeriodReturn(**clean_json(r)) for r in an.period_returns(dates, equity, initial, bench, every=e).to_dicts()]
        for e in ("month", "year")
    )


def return_tables(session: Session, env: BacktestEnv, principal: Principal, run_id: uuid.UUID) -> ReturnTables:
    """Monthly and yearly returns of the strategy, the benchmark and the excess."""
    row, curve, initial = _curve(session, env, principal, run_id)
    monthly, yearly = _tables(curve, initial)
    return ReturnTables(run_id=row.id, monthly=monthly, yearly=yearly)


def rolling(
    session: Session, env: BacktestEnv, principal: Principal, run_id: uuid.UUID, *, window: int = 60
) -> RollingRead:
    """Rolling Sharpe, volatility and beta (against the benchmark) over `window` sessions."""
    row, curve, initial = _curve(session, env, principal, run_id)
    if not 2 <= window <= max(curve.height, 2):
        raise InvalidInput(
            f"window must be between 2 and the run's {curve.height} sessions",
            field="window",
            details={"min": 2, "max": curve.height, "got": window},
        )
    bench = _bench(curve)
    config = (row.manifest or {}).get("config") or {}
    table = an.rolling_stats(
        curve["date"].to_list(),
        an.wealth_returns(curve["equity"].to_numpy(), initial),
        an.wealth_returns(bench, initial) if bench is not None else None,
        window,
        int(config.get("periods_per_year") or 252),
        float(config.get("risk_free_rate") or 0.0),
    )
    return RollingRead(
        run_id=row.id,
        window=window,
        date=table["date"].to_list(),
        **{c: clean_json(table[c].to_list()) for c in ("sharpe", "volatility", "beta")},
    )


def run_study(session: Session, env: BacktestEnv, principal: Principal, run_id: uuid.UUID, *, top: int = 5) -> RunStudy:
    """Drawdown periods, return tables, and the trade and day statistics of a run, from its artifacts."""
    row, curve, initial = _curve(session, env, principal, run_id)
    equity = curve["equity"].to_numpy()
    periods = an.drawdown_periods(curve["date"].to_list(), equity, initial, top)
    monthly, yearly = _tables(curve, initial)
    trades = an.closing_order(_frame(env, row, "trades"))
    stats = {**an.day_summary(equity, initial), **an.trade_summary(trades["pnl"].to_numpy())}
    return RunStudy(
        run_id=row.id,
        drawdown_periods=[DrawdownPeriod(**p) for p in periods],
        monthly=monthly,
        yearly=yearly,
        statistics=clean_json(stats),
    )


# --- across runs ----------------------------------------------------------------------------------------------


def _owned_runs(session: Session, principal: Principal, run_ids: list[uuid.UUID]) -> list[repo.RunRow]:
    if len(set(run_ids)) != len(run_ids):
        raise InvalidInput("run_ids repeats a run", field="run_ids")
    if not 2 <= len(run_ids) <= MAX_COMPARE:
        raise InvalidInput(f"compare 2 to {MAX_COMPARE} runs", field="run_ids", details={"min": 2, "max": MAX_COMPARE})
    return [owned_run(session, principal, rid) for rid in run_ids]


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def compare_runs(session: Session, env: BacktestEnv, principal: Principal, run_ids: list[uuid.UUID]) -> Comparison:
    """2–10 of the caller's runs (any backtests, windows and frequencies) on the union of their sessions:
    curves rebased to 1 at each run's start, the intersection window, metrics side by side and the
    correlation matrix of daily returns over the intersection window."""
    rows = _owned_runs(session, principal, run_ids)
    return comparison_of(env, rows, repo.backtests_by_id(session, principal.user_id, {r.backtest_id for r in rows}))


def comparison_of(env: BacktestEnv, rows: list[repo.RunRow], backtests: dict[uuid.UUID, Any]) -> Comparison:
    """The comparison of runs (and their backtests) already read as their owner (`compare_runs` after
    the lookups)."""
    curves, runs = [], []
    for row in rows:
        curve = _sessions(_frame(env, row, "equity"))
        bt = backtests[row.backtest_id]
        initial = float((row.metrics or {}).get("initial_cash") or bt.initial_cash)
        days = curve["date"].to_list()
        curves.append((days, curve["equity"].to_numpy(), initial))
        runs.append(
            ComparedRun(
                run_id=row.id,
                backtest_id=row.backtest_id,
                strategy_name=bt.strategy_name,
                frequency=bt.frequency,
                start=days[0],
                end=days[-1],
                initial_cash=initial,
            )
        )
    aligned = an.align_curves(curves)
    ids = [str(r.id) for r in rows]
    metrics = {
        name: {rid: (row.metrics or {}).get(name) for rid, row in zip(ids, rows, strict=True)}
        for name in COMPARE_METRICS
        if any(name in (row.metrics or {}) for row in rows)
    }
    return Comparison(
        runs=runs,
        dates=aligned.dates,
        curves={rid: clean_json(aligned.wealth[i].tolist()) for i, rid in enumerate(ids)},
        window=Window(start=aligned.start, end=aligned.end) if aligned.start is not None else None,
        metrics=clean_json(metrics),
        correlation=clean_json(aligned.correlation.tolist()),
    )


def compare_csv(comparison: Comparison) -> bytes:
    """The aligned curves as CSV (UTF-8 with BOM): date, then one column per run (wealth, 1 = its start)."""
    frame = pl.DataFrame(
        {"date": comparison.dates, **{rid: values for rid, values in comparison.curves.items()}},
        schema={"date": pl.Date, **dict.fromkeys(comparison.curves, pl.Float64)},
    )
    return b"\xef\xbb\xbf" + frame.write_csv().encode("utf-8")


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key in sorted(value):
            out.update(_flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


IGNORED_PATHS = ("backtest_id",)  # where a run lives, not what it computed


def _source(session: Session, principal: Principal, version_id: str | None) -> str | None:
    if not version_id:
        return None
    try:
        return strategies.get_version(session, principal, uuid.UUID(version_id)).source
    except AppError:
        return None


def diff_runs(session: Session, env: BacktestEnv, principal: Principal, a: uuid.UUID, b: uuid.UUID) -> RunDiff:
    """Why two of the caller's succeeded runs differ: manifest differences (strategy version, parameters,
    data snapshot and hash, engine and rulebook versions, configuration), the unified diff of the strategy
    sources, the first session where their equity differs, and the metric deltas (b − a)."""
    ra, rb = owned_run(session, principal, a), owned_run(session, principal, b)
    for row in (ra, rb):
        if row.manifest is None:
            raise NotFound("run has no results yet (a diff needs two succeeded runs)", details={"run_id": str(row.id)})
    fa, fb = _flatten(ra.manifest), _flatten(rb.manifest)
    changes = [
        ManifestChange(path=path, a=fa.get(path), b=fb.get(path))
        for path in sorted(set(fa) | set(fb))
        if fa.get(path) != fb.get(path) and path not in IGNORED_PATHS
    ]
    va = ((ra.manifest or {}).get("strategy") or {}).get("version_id")
    vb = ((rb.manifest or {}).get("strategy") or {}).get("version_id")
    source_diff = None
    if va != vb:
        sa, sb = _source(session, principal, va), _source(session, principal, vb)
        if sa is not None and sb is not None:
            source_diff = "".join(
                difflib.unified_diff(
                    sa.splitlines(keepends=True), sb.splitlines(keepends=True), f"a/{va}.py", f"b/{vb}.py"
                )
            )
    first = an.first_difference(_sessions(_frame(env, ra, "equity")), _sessions(_frame(env, rb, "equity")))
    ma, mb = ra.metrics or {}, rb.metrics or {}
    deltas = {}
    for name in COMPARE_METRICS:
        if name in ma or name in mb:
            x, y = _num(ma.get(name)), _num(mb.get(name))
            deltas[name] = MetricDelta(
                a=ma.get(name), b=mb.get(name), delta=y - x if x is not None and y is not None else None
            )
    same_metrics = all(d.a == d.b for d in deltas.values())
    identical = not changes and first is None and same_metrics
    return RunDiff(
        a=ra.id,
        b=rb.id,
        status="identical" if identical else "different",
        manifest=changes,
        source_diff=source_diff,
        first_difference=first,
        metrics=deltas,
    )
