"""Parameter grids and independent per-symbol runs: one kernel call over many lanes at once."""

from __future__ import annotations

import itertools
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

from quant import metrics as mx
from quant.config import EngineConfig
from quant.contract import normalize_bars, normalize_bars_dated
from quant.engine import (
    GridResult,
    align_targets,
    benchmark_returns,
    build_result,
    check_grid,
    execution_targets,
    manifest,
    market_and_rows,
    resolve_strategy,
    rows_to_decisions,
    split_benchmark,
)
from quant.fundamentals import strategy_frame
from quant.kernel_plain import run_kernel
from quant.market import Market, early_data_hash, prepare_market
from quant.results import LanePanels, session_ends, session_returns
from quant.stops import with_declared
from quant.strategy import (
    ParamError,
    StrategyError,
    StrategySpec,
    compute_targets,
    compute_targets_grid,
    validate_strategy_params,
)

SUMMARY_KEYS = ("total_return", "annual_return", "volatility", "sharpe", "sortino", "max_drawdown", "calmar")
BENCHMARK_KEYS = ("excess_return", "alpha", "beta", "information_ratio")
SUMMARY_METRICS = SUMMARY_KEYS + BENCHMARK_KEYS  # the optional summary columns (`run_grid(metrics=...)`)


def expand_grid(axes: dict[str, list]) -> list[dict]:
    """Cartesian product of parameter axes, in the order given."""
    names = list(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(axes[n] for n in names))]


def grid_sets(
    strategy: StrategySpec | str, axes: dict[str, list], fixed: dict | None = None
) -> tuple[list[dict], list[tuple[dict, ParamError]]]:
    """The combinations of `axes` (each on top of `fixed`) that the strategy accepts — its parameter
    schema and its own `check_params` (e.g. fast < slow) — and the rejected ones with their reason, in
    grid order. Raises the first `ParamError` when every combination is rejected."""
    spec = resolve_strategy(strategy)
    kept, skipped = [], []
    for combo in expand_grid(axes):
        params = {**(fixed or {}), **combo}
        try:
            validate_strategy_params(spec, params)
        except ParamError as exc:
            skipped.append((params, exc))
        else:
            kept.append(params)
    if not kept and skipped:
        raise skipped[0][1]
    return kept, skipped


def run_grid(
    strategy: StrategySpec | str,
    bars: pl.DataFrame,
    param_sets: list[dict],
    config: EngineConfig | None = None,
    instruments: pl.DataFrame | None = None,
    benchmark: pl.DataFrame | None = None,
    *,
    full: bool = False,
    returns: bool = False,
    metrics: list[str] | tuple[str, ...] | None = None,
) -> GridResult:
    """Evaluate many parameter sets of one strategy on one data set: shared indicators (via the
    strategy's `generate_grid`), one vectorised simulation over all combinations. Returns one summary
    row per set, full `BacktestResult`s when `full`, and the (sessions × sets) daily returns when
    `returns` (for the overfitting diagnostics of `quant.overfitting`). `metrics` (e.g. `["sharpe"]` for a
    sweep that ranks by it): only those of `SUMMARY_METRICS` in the summary, next to final equity, exposure,
    fill, trade counts and fees — the skipped ones cost nothing (drawdowns need a cumulative product per
    lane); None = all of them."""
    check_grid(param_sets)
    spec = resolve_strategy(strategy)
    config = with_declared(config or EngineConfig(), spec.source)
    sets = [validate_strategy_params(spec, p) for p in param_sets]
    if spec.event is not None:  # an event-driven strategy: one run per set
        from quant.event import run_event_grid

        return run_event_grid(
            spec, bars, sets, config, instruments, benchmark, full=full, returns=returns, keys=_metric_keys(metrics)
        )
    given = bars  # keeps the declared FIELDS, which the normalisation drops
    bars, benchmark = split_benchmark(normalize_bars(bars), benchmark, config)
    m, rows = market_and_rows(spec, bars, sets, config, instruments)
    if rows is not None:  # one symbol: lanes of one slot, which the lean kernel reads lane by lane
        decisions, mode = rows_to_decisions(m, rows, contiguous=len(m.symbols) > 1), "weight"
    else:
        aligned = [align_targets(m, f) for f in compute_targets_grid(spec, bars, sets, given=given)]
        decisions, mode = np.stack([a[0] for a in aligned], axis=1), aligned[0][1]
    sym_idx = np.tile(np.arange(len(m.symbols)), (len(sets), 1))
    executed = execution_targets(decisions, mode, config.fill)
    del rows, decisions  # see `_run_lanes`
    return _run_lanes(m, executed, mode, sym_idx, config, benchmark, spec, sets, full, returns, _metric_keys(metrics))


def run_grid_targets(
    bars: pl.DataFrame,
    targets: list[pl.DataFrame],
    param_sets: list[dict],
    config: EngineConfig | None = None,
    instruments: pl.DataFrame | None = None,
    benchmark: pl.DataFrame | None = None,
    *,
    returns: bool = False,
) -> GridResult:
    """`run_grid` for targets computed elsewhere (a user strategy's, from the confined runner): one
    target frame per parameter set, all simulated in one vectorised pass (one portfolio per set)."""
    config = config or EngineConfig()
    check_grid(param_sets)
    if len(targets) != len(param_sets):
        raise StrategyError("one target frame per parameter set is needed")
    from quant.event import is_order_stream, replay_grid

    if any(is_order_stream(f) for f in targets):
        if not all(is_order_stream(f) for f in targets):
            raise StrategyError("every parameter set must give an order stream (event-driven) or targets, not both")
        return replay_grid(bars, targets, param_sets, config, instruments, benchmark, returns=returns)
    bars, benchmark = split_benchmark(normalize_bars(bars), benchmark, config)
    m = prepare_market(bars, config, instruments)
    aligned = [align_targets(m, f) for f in targets]
    modes = {a[1] for a in aligned}
    if len(modes) != 1:
        raise StrategyError("every parameter set must state targets of the same kind (weight or shares)")
    mode = modes.pop()
    executed = execution_targets(np.stack([a[0] for a in aligned], axis=1), mode, config.fill)
    del aligned  # see `_run_lanes`
    sym_idx = np.tile(np.arange(len(m.symbols)), (len(param_sets), 1))
    return _run_lanes(m, executed, mode, sym_idx, config, benchmark, None, param_sets, False, returns)


def _metric_keys(metrics) -> tuple[str, ...] | None:
    if metrics is None:
        return None
    unknown = [k for k in metrics if k not in SUMMARY_METRICS]
    if unknown:
        raise ValueError(f"unknown summary metrics {unknown}; choose from {list(SUMMARY_METRICS)}")
    return tuple(metrics)


def run_independent(
    strategy: StrategySpec | str,
    bars: pl.DataFrame,
    params: dict | None = None,
    config: EngineConfig | None = None,
    instruments: pl.DataFrame | None = None,
    *,
    full: bool = False,
    metrics: list[str] | tuple[str, ...] | None = None,
) -> GridResult:
    """Run the strategy on each symbol alone (its own account), all symbols in one vectorised pass
    (`metrics` as in `run_grid`)."""
    spec = resolve_strategy(strategy)
    if spec.event is not None:
        raise StrategyError("an event-driven strategy runs one account over its universe; run it per symbol instead")
    config = with_declared(config or EngineConfig(), spec.source)
    early = early_data_hash(bars)  # a large dated frame's hash needs none of the normalisation's output
    try:
        given, (bars, dated) = bars, normalize_bars_dated(bars, runs=early.symbol_runs if early else None)
        values = validate_strategy_params(spec, params)
    except Exception:
        if early is not None:
            early.discard()
        raise
    job = early.confirm(dated) if early is not None else None
    runs = early.symbol_runs() if job is not None else None  # the hashing thread scanned the symbols already
    market = {"hash_job": job, "lane_major": True, "runs": runs}
    m, rows = market_and_rows(spec, bars, [values], config, instruments, universe=1, **market)
    if rows is not None:
        decisions, mode = rows_to_decisions(m, rows, contiguous=False)[:, 0, :], "weight"
    else:
        seen = strategy_frame(bars, spec.fields, given)
        parts = seen.partition_by("symbol", maintain_order=True)
        targets = pl.concat([compute_targets(spec, part, values) for part in parts])
        decisions, mode = align_targets(m, targets)
    sym_idx = np.arange(len(m.symbols))[:, None]
    sets = [values] * len(m.symbols)
    executed = execution_targets(decisions[:, :, None], mode, config.fill)
    del rows, decisions  # see `_run_lanes`
    result = _run_lanes(m, executed, mode, sym_idx, config, None, spec, sets, full, False, _metric_keys(metrics))
    result.summary = result.summary.insert_column(0, pl.Series("symbol", m.symbols))
    return result


def _run_lanes(
    m: Market, executed: tuple, mode, sym_idx, config, benchmark, spec, sets, full, returns=False, keys=None
) -> GridResult:
    """Kernel, summary and (`full`) results of `execution_targets`' (targets, changes). The callers drop
    their decisions first: the strategy's weights are dead once the targets exist (boolean ones are new
    arrays), and their memory, already faulted in, then serves the kernel's and the summary's arrays
    instead of fresh pages (~440 fewer page faults on a first S2 call)."""
    out = run_kernel(m, config, sym_idx, mode, *executed)
    bench = benchmark_returns(m, benchmark)
    kept: list[np.ndarray] | None = [] if returns else None
    summary = grid_summary(m, out, sym_idx, config, bench, sets, kept, keys)
    base = manifest(m, config, spec, None)
    results = None
    if full:
        panels = LanePanels(out, m, sym_idx, config.initial_cash)
        results = [
            build_result(m, out, sym_idx, config, bench, {**base, "params": sets[i]}, lane=i, panels=panels)
            for i in range(len(sets))
        ]
    daily = np.concatenate(kept, axis=1) if kept else None
    return GridResult(summary, results, base, daily, np.unique(m.dates) if returns else None)


LANE_BLOCK = 48
SUB_BLOCK = 24  # lanes a summary block computes at once (`_blocks`)
PARALLEL_CELLS = 200_000  # (lane blocks × sessions) from which the summary blocks run on two threads
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="huice-grid")


def _blocks(L: int) -> list[int]:
    """Bounds of the summary's lane blocks: each `LANE_BLOCK` of lanes in sub-blocks of `SUB_BLOCK` (a
    (sessions × 24) float temporary of ten years of sessions is ~0.5 MB: ~40% fewer fresh pages to fault
    in than at 48, and cache-resident), a remainder of one lane kept with the sub-block before it. The
    per-lane results do not depend on a block's width — numpy reduces a (T, w ≥ 2) block down the rows
    — except for a block of one lane (a contiguous column: pairwise sums), which therefore occurs exactly
    where blocks of `LANE_BLOCK` have it."""
    bounds = []
    for lo in range(0, L, LANE_BLOCK):
        hi = min(lo + LANE_BLOCK, L)
        bounds.extend(s for s in range(lo, hi, SUB_BLOCK) if s == lo or hi - s > 1)
    return [*bounds, L]


def _shaped(buffer: np.ndarray, shape: tuple) -> np.ndarray:
    """A C-ordered view of `shape` on the front of a flat buffer."""
    return buffer[: math.prod(shape)].reshape(shape)


def grid_summary(
    m: Market, out, sym_idx, config: EngineConfig, bench, sets: list[dict], keep: list | None = None, keys=None
) -> pl.DataFrame:
    """Vectorised per-lane summary metrics, computed in blocks of lanes (`_blocks`) so the (time × lanes)
    temporaries stay cache-sized and are reused instead of freshly page-faulted. With `keep` (a list),
    each block's (sessions × lanes) returns are appended to it, in lane order. `keys`: only those of
    `SUMMARY_METRICS` (None: all)."""
    L = sym_idx.shape[0]
    wanted = SUMMARY_METRICS if keys is None else keys
    ret_keys = [k for k in SUMMARY_KEYS if k in wanted]
    rel_keys = [k for k in BENCHMARK_KEYS if k in wanted]
    ends = session_ends(m)
    panels = LanePanels(out, m, sym_idx, config.initial_cash)

    def block(lo: int, hi: int, bufs: list | None = None) -> dict:
        """One block's summary columns; `bufs`: three free (lanes × T) float buffers for its (T × lanes)
        panels — the equity, then the downside and running peaks; the returns; the wealth curve — instead
        of six fresh arrays a block (the same operations on the same values; the lane-major cash and
        market value are `np.repeat`'s own arrays, a plain copy per run)."""
        lanes = panels.lane_major(lo, hi)
        if lanes is not None:  # (lanes, T): one transposing copy of the equity; exposure along the lanes' rows
            cash, mv = lanes
            exposure = ((mv if ends.size == mv.shape[1] else mv[:, ends]) > 0).mean(axis=1)
            if bufs is None:
                equity = np.ascontiguousarray(np.add(cash, mv, out=cash).T)
            else:
                equity = np.add(cash.T, mv.T, out=_shaped(bufs[0], (mv.shape[1], hi - lo)))
        else:
            cash, mv = panels.block(lo, hi)
            equity = cash + mv
            exposure = ((mv if ends.size == mv.shape[0] else mv[ends]) > 0).mean(axis=0)
        final = equity[-1].copy()
        returns = session_returns(equity, ends, config.initial_cash, None if bufs is None else bufs[1])
        scratch = None if bufs is None else (_shaped(bufs[2], returns.shape), _shaped(bufs[0], returns.shape))
        values = mx.returns_metrics(
            returns, config.periods_per_year, config.risk_free_rate, None if keys is None else ret_keys, scratch
        )
        part = {k: values[k] for k in ret_keys}
        if keep is not None:
            part["_returns"] = returns.astype(np.float32)
        if bench is not None and rel_keys:
            rel = mx.benchmark_metrics(returns, bench, config.periods_per_year, config.risk_free_rate)
            part.update({k: rel[k] for k in rel_keys})
        part["final_equity"] = final
        part["exposure"] = exposure
        return part

    bounds = _blocks(L)
    if len(range(0, L, LANE_BLOCK)) * len(ends) >= PARALLEL_CELLS:  # numpy releases the GIL in its loops
        parts = list(_POOL.map(block, bounds[:-1], bounds[1:]))
    else:  # one set of block buffers for every block: touched once, not once a block
        cells = max(np.diff(bounds), default=0) * panels.T
        bufs = [np.empty(cells) for _ in range(3)] if panels.joint else None
        parts = [block(lo, hi, bufs) for lo, hi in itertools.pairwise(bounds)]
    if keep is not None:
        keep.extend(p.pop("_returns") for p in parts)
    columns = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
    o = out.orders
    filled = o["filled"] > 0 if o["filled"].size else np.zeros(0, bool)
    lanes = o["lane"].astype(np.int64) if o["lane"].size else np.zeros(0, np.int64)
    fees = (o["comm"] + o["stamp"] + o["transfer"]) if o["comm"].size else np.zeros(0)
    exposure = columns.pop("exposure")
    columns.update(
        {
            "trade_count": np.bincount(lanes[o["closes"].astype(bool)], minlength=L)
            if lanes.size
            else np.zeros(L, int),
            "fill_count": np.bincount(lanes[filled], minlength=L) if lanes.size else np.zeros(L, int),
            "total_fees": np.bincount(lanes, weights=fees, minlength=L) if lanes.size else np.zeros(L),
            "exposure": exposure,
        }
    )
    params = pl.DataFrame(sets) if sets and sets[0] else pl.DataFrame({"run": np.arange(L)})
    ints = ("trade_count", "fill_count")
    metrics = pl.DataFrame(  # NaN → null as the Series are built (a `fill_nan` expression costs a first call ~1 ms)
        {
            k: pl.Series(k, np.asarray(v, dtype=np.int64))
            if k in ints
            else pl.Series(k, np.asarray(v, dtype=np.float64), nan_to_null=True)
            for k, v in columns.items()
        }
    )
    return pl.concat([params, metrics], how="horizontal")
