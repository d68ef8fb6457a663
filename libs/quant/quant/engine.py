"""Public entry points: `simulate` (targets in, result out), `run_backtest`, `run_grid`, `run_independent`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from math import isfinite

import numpy as np
import polars as pl

from quant import analysis as an
from quant import metrics as mx
from quant import rulebook as rb
from quant.config import EXIT_FIELDS, EngineConfig
from quant.contract import normalize_bars, symbol_run_starts
from quant.kernel import KernelOut
from quant.kernel_plain import run_kernel
from quant.market import Market, prepare_market, split_benchmark
from quant.results import (
    BacktestResult,
    LanePanels,
    json_metrics,
    lane_frames,
    position_panel,
    positions_frame,
    session_days,
    session_ends,
    session_returns,
)
from quant.stops import with_declared
from quant.strategy import (
    StrategyError,
    StrategySpec,
    compute_targets,
    compute_weight_rows,
    load_strategy,
    validate_strategy_params,
)

ENGINE_VERSION = "0.3.0"  # 0.3.0: exit rules (`quant.stops`); runs without them are unchanged


def resolve_strategy(strategy: StrategySpec | str) -> StrategySpec:
    """A `StrategySpec`, a template name, or strategy source text."""
    if isinstance(strategy, StrategySpec):
        return strategy
    from quant.templates import TEMPLATE_NAMES, load_template

    return load_template(strategy) if strategy in TEMPLATE_NAMES else load_strategy(strategy)


def align_targets(m: Market, targets: pl.DataFrame) -> tuple[np.ndarray, str]:
    """Target frame → decision panel (T, N) with NaN where nothing was stated, and the mode."""
    mode = "weight" if "weight" in targets.columns else "shares"
    values = targets[mode].to_numpy().astype(np.float64, copy=False)
    T, N = m.shape
    out = np.full((T, N), np.nan)
    if (
        targets.height == m.keys.height
        and targets["ts"].equals(m.keys["ts"])
        and targets["symbol"].equals(m.keys["symbol"])
    ):
        out[m.row_t, m.row_n] = values
        return out, mode
    n = _symbol_index(m.symbols, targets["symbol"])
    t = np.searchsorted(m.ts, targets["ts"].cast(pl.Datetime("us")).to_numpy(), side="right") - 1
    ok = (n >= 0) & (t >= 0)
    out[t[ok], n[ok]] = values[ok]
    return out, mode


def _symbol_index(symbols: list[str], column: pl.Series) -> np.ndarray:
    """Each row's position in `symbols`, -1 for a symbol (or null) not in them: one polars mapping for a
    string column (a market's rebalance rows are ~600k), a dictionary lookup per row otherwise."""
    if column.dtype == pl.String:
        index = column.replace_strict(symbols, np.arange(len(symbols), dtype=np.int64), default=-1)
        return index.fill_null(-1).cast(pl.Int64).to_numpy()
    lookup = {s: i for i, s in enumerate(symbols)}
    return np.array([lookup.get(s, -1) for s in column.to_list()], dtype=np.int64)


def rows_to_decisions(m: Market, weights: np.ndarray, contiguous: bool = True) -> np.ndarray:
    """Weights per combination and bar row (C, rows) → decision panel (T, C, N), NaN where a symbol
    has no bar. `contiguous=False`: on the dense layout, the transposed view of `weights` itself (the
    same values; no (T, C, N) copy — the lean lane kernel reads one lane's bars at a time, which is
    contiguous in that layout)."""
    T, N = m.shape
    if m.dense:
        view = weights.reshape(weights.shape[0], N, T).transpose(2, 0, 1)
        return np.ascontiguousarray(view) if contiguous else view
    out = np.empty((T, weights.shape[0], N))
    if m.row_t.size != T * N:
        out.fill(np.nan)
    out[m.row_t, :, m.row_n] = weights.T
    return out


ROW_FILL_CELLS = 1024  # cells per bar from which `execution_targets` forward-fills bar by bar


def execution_targets(
    decisions: np.ndarray, mode: str, fill: str, overwrite: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Forward-fill decisions (T, L, K), clip/scale weights, shift to the bar they execute on, and
    flag changes. next_open / next_close: decided at bar t, executed at bar t+1; same_close: bar t.
    The outputs keep the memory layout of `decisions` (a transposed view gives lane-major panels).
    A C-ordered panel with many cells per bar takes `_execution_targets_by_row` (the same values), which
    writes the targets over `decisions` when the caller passes `overwrite` (it owns them and drops them)."""
    if decisions.dtype == np.bool_:  # no gaps, nothing to clip
        if mode != "weight" or decisions.shape[-1] == 1:
            return _boolean_execution_targets(decisions, fill)
        decisions, overwrite = decisions.astype(np.float64), True  # a bar's weights may sum above 1
    if mode == "weight" and decisions.shape[-1] == 1 and decisions.dtype == np.float64:
        flags = _unit_flags(decisions)  # one-slot lanes all in or all out (`ma_cross` on one symbol)
        if flags is not None:
            return _boolean_execution_targets(flags, fill)
    T = decisions.shape[0]
    if T > 1 and decisions.flags.c_contiguous and decisions.size >= ROW_FILL_CELLS * T:
        return _execution_targets_by_row(decisions, mode, fill, overwrite and decisions.flags.writeable)
    filled = decisions
    low = decisions.min() if decisions.size else 0.0  # min propagates NaN: no boolean temporary to test for one
    if np.isnan(low):
        idx = np.where(np.isfinite(decisions), np.arange(T).reshape(-1, *([1] * (decisions.ndim - 1))), -1)
        np.maximum.accumulate(idx, axis=0, out=idx)
        filled = np.where(idx >= 0, np.take_along_axis(np.nan_to_num(decisions), np.maximum(idx, 0), axis=0), 0.0)
        low = filled.min() if filled.size else 0.0
    if filled.size and (low < 0 or (mode == "weight" and filled.max() > 1)):
        filled = np.clip(filled, 0.0, 1.0 if mode == "weight" else None)
    if mode == "weight" and filled.shape[-1] > 1:
        total = filled.sum(axis=-1, keepdims=True)
        if (total > 1.0).any():
            filled = np.where(total > 1.0, filled / np.maximum(total, 1e-300), filled)
    out = np.empty_like(filled)
    change = np.empty_like(filled, dtype=bool)
    if fill != "same_close":
        out[0] = 0.0
        out[1:] = filled[:-1]
    else:
        out[:] = filled
    np.not_equal(out[0], 0.0, out=change[0])
    np.not_equal(out[1:], out[:-1], out=change[1:])
    return out, change


def _unit_flags(decisions: np.ndarray) -> np.ndarray | None:
    """`decisions == 1` as booleans (in the same layout) when every value is exactly 1.0 or +0.0, else
    None: such weights are their booleans cast back to floats. Checked by reductions, no temporary: every
    nonzero value (NaN included) is 1.0, and no bit pattern is above 1.0's (−0.0's sign bit is)."""
    flags = np.equal(decisions, 1.0)
    ones = np.count_nonzero(flags)
    if not ones or np.count_nonzero(decisions) != ones or decisions.view(np.uint64).max() != _ONE_BITS:
        return None
    return flags


_ONE_BITS = np.float64(1.0).view(np.uint64)


def _boolean_execution_targets(decisions: np.ndarray, fill: str) -> tuple[np.ndarray, np.ndarray]:
    """`execution_targets` of boolean decisions with one slot per lane (or share targets): booleans have no
    gaps to fill and no value outside [0, 1] (nor a bar's sum above 1 with one slot), so the targets are
    the decisions moved to their execution bar, kept boolean (one byte a cell instead of eight: a grid's
    (bars × lanes) float panel fewer; the kernels read them as the floats 1 / 0), and the changes are the
    same comparisons on them."""
    out = np.empty_like(decisions)
    change = np.empty_like(decisions)
    if fill != "same_close":
        out[0] = False
        out[1:] = decisions[:-1]
    else:
        out[:] = decisions
    change[0] = out[0]
    np.not_equal(out[1:], out[:-1], out=change[1:])
    return out, change


def _execution_targets_by_row(
    decisions: np.ndarray, mode: str, fill: str, overwrite: bool
) -> tuple[np.ndarray, np.ndarray]:
    """`execution_targets` without full-size temporaries (a 5,000-symbol market's panel is 100 MB, and the
    vectorised forward fill allocates five such arrays: mostly first-touch page faults), in one buffer —
    `decisions` itself when `overwrite`, else a copy: each bar's non-finite decisions take the previous
    bar's filled values (0 before the first), then the same clip and weight scaling on the same values,
    then the rows move one bar down (row by row, from the last) for fills on the next bar."""
    T = decisions.shape[0]
    a = decisions if overwrite else decisions.copy()
    if np.isnan(a).any():  # as the vectorised path: non-finite values are gaps only when some are NaN
        np.copyto(a[0], 0.0, where=~np.isfinite(a[0]))
        for t in range(1, T):
            np.copyto(a[t], a[t - 1], where=~np.isfinite(a[t]))
    if a.min() < 0 or (mode == "weight" and a.max() > 1):
        np.clip(a, 0.0, 1.0 if mode == "weight" else None, out=a)
    if mode == "weight" and a.shape[-1] > 1:
        total = a.sum(axis=-1, keepdims=True)
        if (total > 1.0).any():
            a[...] = np.where(total > 1.0, a / np.maximum(total, 1e-300), a)
    if fill != "same_close":
        for t in range(T - 1, 0, -1):
            np.copyto(a[t], a[t - 1])
        a[0] = 0.0
    change = np.empty_like(a, dtype=bool)
    np.not_equal(a[0], 0.0, out=change[0])
    np.not_equal(a[1:], a[:-1], out=change[1:])
    return a, change


def benchmark_returns(m: Market, benchmark: pl.DataFrame | None) -> np.ndarray | None:
    """Benchmark per-session returns aligned to the run's sessions (0 where unknown)."""
    if benchmark is None or benchmark.is_empty():
        return None
    frame = benchmark.select(pl.col("date").cast(pl.Date), pl.col("close").cast(pl.Float64)).unique("date", keep="last")
    frame = frame.sort("date").with_columns((pl.col("close") / pl.col("close").shift(1) - 1).alias("r"))
    days = pl.DataFrame({"date": np.unique(m.dates)}).with_columns(pl.col("date").cast(pl.Date))
    return days.join(frame, on="date", how="left")["r"].fill_null(0.0).fill_nan(0.0).to_numpy()


def manifest(m: Market, config: EngineConfig, spec: StrategySpec | None, params: dict | None) -> dict:
    """The reproducibility manifest: same manifest and same engine → identical outputs."""
    return {
        "engine_version": ENGINE_VERSION,
        "rulebook_version": rb.RULEBOOK_VERSION if config.preset == "a-share" else None,
        "preset": config.preset,
        "strategy_name": spec.name if spec else None,
        "strategy_hash": spec.source_hash if spec else None,
        "params": params or {},
        "config": config.model_dump(mode="json", exclude={k for k in EXIT_FIELDS if getattr(config, k) is None}),
        "fill": config.fill,
        "optimistic": config.optimistic,
        "price_basis": config.rules().price_basis,
        "data_hash": m.data_hash,
        "symbols": len(m.symbols),
        "bars": len(m.ts),
        "period": [str(m.dates[0]), str(m.dates[-1])] if len(m.ts) else None,
        "checks": m.checks,
        **({"exits": config.exits} if config.exits else {}),
    }


def simulate(
    bars: pl.DataFrame,
    targets: pl.DataFrame,
    config: EngineConfig | None = None,
    instruments: pl.DataFrame | None = None,
    benchmark: pl.DataFrame | None = None,
    *,
    strategy: StrategySpec | None = None,
    params: dict | None = None,
) -> BacktestResult:
    """Simulate one portfolio (one cash account) trading `targets` (ts, symbol, weight|shares) on `bars`."""
    config = config or EngineConfig()
    from quant.event import is_order_stream, simulate_stream

    if is_order_stream(targets):  # an event-driven strategy's orders: replayed by the engine
        return simulate_stream(bars, targets, config, instruments, benchmark, strategy, params)
    bars, benchmark = split_benchmark(bars, benchmark, config)
    m = prepare_market(bars, config, instruments)
    decisions, mode = align_targets(m, targets)
    return simulate_decisions(m, decisions[:, None, :], mode, config, benchmark, strategy, params)


def simulate_decisions(m: Market, decisions, mode, config, benchmark, spec, params) -> BacktestResult:
    """Simulate one portfolio from a decision panel (T, 1, N) and build its full result (the panel is the
    caller's to drop: a wide one is overwritten by the execution targets)."""
    sym_idx = np.arange(len(m.symbols))[None, :]
    tgt, change = execution_targets(decisions, mode, config.fill, overwrite=True)  # both callers' panels are fresh
    out = run_kernel(m, config, sym_idx, mode, tgt, change)
    result = build_result(m, out, sym_idx, config, benchmark_returns(m, benchmark), {})
    result.manifest = manifest(m, config, spec, params)  # after the frames: it waits for the data hash
    return result


def build_result(m, out: KernelOut, sym_idx, config, bench, mani: dict, lane: int = 0, panels=None) -> BacktestResult:
    """Assemble the frames, metrics and manifest of one lane (`panels`: a shared `LanePanels`)."""
    panels = panels or LanePanels(out, m, sym_idx, config.initial_cash)
    cash, mv = panels.block(lane, lane + 1)
    cash, mv = cash[:, 0], mv[:, 0]
    equity = cash + mv
    prev = np.append(config.initial_cash, equity[:-1])
    peak = np.maximum.accumulate(np.maximum(equity, config.initial_cash))
    equity_frame = pl.DataFrame(
        {
            "ts": m.ts,
            "date": m.dates,
            "cash": cash,
            "market_value": mv,
            "equity": equity,
            "returns": equity / prev - 1,
            "drawdown": equity / peak - 1,
            "benchmark_equity": benchmark_equity(m, bench, config.initial_cash),
        }
    )
    orders, fills, trades = lane_frames(out, m, lane)
    ends = session_ends(m)
    pos_panel = panels.lane_positions(lane)  # the block above already built them (one lane, many symbols)
    if pos_panel is None:
        pos_panel = position_panel(out)[:, lane] if out.shape[1] == 1 else _lane_positions(out, lane)
    positions = positions_frame(m, pos_panel, ends, sym_idx[lane])
    values = run_metrics(m, equity, mv, ends, config, bench, fills, trades, orders)
    values["corporate_action_cash"] = float(out.ca_paid[lane])
    return BacktestResult(equity_frame, orders, fills, trades, positions, json_metrics(values), mani)


def benchmark_equity(m: Market, bench: np.ndarray | None, initial: float) -> np.ndarray:
    """The benchmark's equity per bar, rebased to the initial cash (NaN without a benchmark): its wealth
    at the close of each session on the session's last bar, the previous session's on earlier bars."""
    T = len(m.ts)
    if bench is None or T == 0:
        return np.full(T, np.nan)
    wealth = initial * np.cumprod(1 + bench)
    ends = session_ends(m)
    if ends.size == T:
        return wealth
    s = np.searchsorted(ends, np.arange(T))  # the session of every bar
    value = np.append(initial, wealth)[s]  # the previous session's close ...
    value[ends] = wealth  # ... and the session's own on its last bar
    return value


def _lane_positions(out: KernelOut, lane: int) -> np.ndarray:
    T, _, K = out.shape
    sel = out.pos_lane == lane
    return LanePanels.positions(T, K, out.pos_t[sel], out.pos_k[sel], out.pos_value[sel])


def run_metrics(m, equity, mv, ends, config, bench, fills, trades, orders) -> dict:
    """The full metrics dict of one run."""
    returns = session_returns(equity[:, None], ends, config.initial_cash)
    ppy, rf = config.periods_per_year, config.risk_free_rate
    base = {k: v[0] for k, v in mx.returns_metrics(returns, ppy, rf).items() if not k.startswith("_")}
    wealth = np.append(1.0, np.cumprod(1 + returns[:, 0]))
    dd = wealth / np.maximum.accumulate(wealth) - 1
    base.update(mx.drawdown_dates(wealth, dd, _DayNames(session_days(m, ends))))
    if bench is not None:
        base.update({k: v[0] for k, v in mx.benchmark_metrics(returns, bench, ppy, rf).items()})
    base.update(mx.trade_metrics(trades["pnl"].to_numpy(), trades["holding_sessions"].to_numpy()))
    base.update(added_metrics(m, equity, ends, config.initial_cash, bench, trades))
    mean_equity = float(equity[ends].mean()) if ends.size else np.nan
    base.update(
        {
            "initial_cash": config.initial_cash,
            "final_equity": float(equity[-1]) if equity.size else config.initial_cash,
            "sessions": int(ends.size),
            "fill_count": fills.height,
            "order_count": orders.height,
            "blocked_order_count": int((orders["status"] != "filled").sum()),
            "total_fees": float(fills["fees"].sum()),
            "turnover": float(fills["value"].sum() / 2 / mean_equity) if mean_equity else None,
            "exposure": float((mv[ends] > 0).mean()) if ends.size else None,
        }
    )
    return base


def added_metrics(m: Market, equity: np.ndarray, ends: np.ndarray, initial: float, bench, trades) -> dict:
    """The study metrics (`quant.analysis`): absolute P&L, daily win rate, trade statistics in closing
    order, and the monthly and yearly returns of the strategy, the benchmark and the excess."""
    values = an.day_summary(equity[ends], initial)
    exit_day, entry_day = trades["exit_date"].to_numpy(), trades["entry_date"].to_numpy()  # datetime64[D]
    closing = np.lexsort((entry_day, exit_day))  # `an.closing_order` (a stable sort; trip dates are never null)
    values.update(an.trade_summary(trades["pnl"].to_numpy()[closing]))
    days = session_days(m, ends)
    bench_eq = initial * np.cumprod(1 + bench) if bench is not None else None
    for every in ("month", "year"):  # rows of Python floats: `mx.clean` is NaN/inf to None, inline (~400 values)
        rows = an.period_return_rows(days, equity[ends], initial, bench_eq, every=every)
        values[f"{every}ly_returns"] = {
            period: {
                "strategy": s if isfinite(s) else None,
                "benchmark": b if isfinite(b) else None,
                "excess": x if isfinite(x) else None,
            }
            for period, (s, b, x) in rows.items()
        }
    return values


class _DayNames:
    """Session dates as strings on demand (`drawdown_dates` reads at most three)."""

    def __init__(self, days: np.ndarray):
        self.days = days

    def __len__(self) -> int:
        return len(self.days)

    def __getitem__(self, i: int) -> str:
        return str(self.days[i])


@dataclass
class GridResult:
    """One summary row per parameter set (`summary`), full results and the (sessions × sets) daily
    returns with their session dates when requested."""

    summary: pl.DataFrame
    results: list[BacktestResult] | None
    manifest: dict
    returns: np.ndarray | None = None
    dates: np.ndarray | None = None


def run_backtest(
    strategy: StrategySpec | str,
    bars: pl.DataFrame,
    params: dict | None = None,
    config: EngineConfig | None = None,
    instruments: pl.DataFrame | None = None,
    benchmark: pl.DataFrame | None = None,
) -> BacktestResult:
    """Compute targets with `strategy` (spec, template name or source) and simulate them."""
    spec = resolve_strategy(strategy)
    config = with_declared(config or EngineConfig(), spec.source)
    if spec.event is not None:
        from quant.event import run_event_backtest

        return run_event_backtest(spec, bars, params, config, instruments, benchmark)
    given = bars
    bars, benchmark = split_benchmark(normalize_bars(bars), benchmark, config)
    values = validate_strategy_params(spec, params)
    if spec.generate_arrays is None:
        targets = compute_targets(spec, bars, params, given=given)  # `given` keeps the declared FIELDS
        return simulate(bars, targets, config, instruments, benchmark, strategy=spec, params=values)
    m, rows = market_and_rows(spec, bars, [values], config, instruments)
    return simulate_decisions(m, rows_to_decisions(m, rows), "weight", config, benchmark, spec, values)


PARALLEL_ROWS = 200_000  # bar rows from which the strategy's arrays are computed while the market is prepared
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="huice-targets")


def market_and_rows(
    spec: StrategySpec,
    bars,
    sets: list[dict],
    config,
    instruments,
    universe: int | None = None,
    runs: np.ndarray | None = None,
    **market,
):
    """`prepare_market` and `compute_weight_rows` (None without array entry points) of normalised `bars`
    (`normalize_bars`' output, as every caller passes). For large inputs
    the strategy's arrays (polars, GIL-free) are computed on a second thread meanwhile; a strategy
    error still takes precedence over a market error, as when the strategy ran first. The symbol column
    is scanned once, here, for the market's layout, its data hash and the strategy's `Columns` (`runs`:
    its `symbol_run_starts` when the caller has them). `market`: more keywords of `prepare_market`
    (`hash_job`, `lane_major`)."""
    if runs is None:
        runs = symbol_run_starts(bars["symbol"])
    known = {"runs": runs, "normalized": True, **market}
    if spec.generate_arrays is None or bars.height < PARALLEL_ROWS:
        rows = compute_weight_rows(spec, bars, sets, universe, runs)
        return prepare_market(bars, config, instruments, **known), rows
    job = _POOL.submit(compute_weight_rows, spec, bars, sets, universe, runs)
    try:
        m = prepare_market(bars, config, instruments, **known)
    except Exception:
        job.result()
        raise
    return m, job.result()


def check_grid(param_sets: list[dict]) -> None:
    """Reject empty grids."""
    if not param_sets:
        raise StrategyError("the parameter grid is empty")
