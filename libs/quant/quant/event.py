"""Event-driven strategies (JoinQuant / RQAlpha style) on the vectorised engine's simulator and rulebook.

A strategy defines `initialize(context)` and `handle_bar(context, bar)` (JoinQuant's `handle_data`,
RQAlpha's `init` are aliases), optionally `before_trading(context)` / `after_trading(context)` and
`on_order(context, order)`, and places orders with `quant.sdk.order_*` (or `context.order_*`). The
run steps bar by bar: the strategy sees its portfolio (cash, positions with the sellable quantity under
T+1, average cost, market value, P&L), the bars up to the current one only, and every order's fate
(filled, partly filled, refused with the simulator's reason) before its next decision.

Execution is the vectorised kernel's, slot for slot (`kernel_scalar._Lane`'s rounding, fees and cash
fitting; `_step`'s sells-then-buys order, value prices, T+1, limits, suspensions, volume cap and retries):
an order placed at bar t executes at the next step (bar t + 1 for `next_open` / `next_close`, bar t for
`same_close`); an order that a retriable reason blocked (SUSPENDED, LIMIT_UP/DOWN_LOCKED, T1_LOCKED,
VOLUME_CAP) stays open and is retried on every later bar, as a vectorised target is. A limit order
fills only when the execution bar trades through its price (at the execution price if that is already
better, else at the limit) and is done after that bar (LIMIT_PRICE_NOT_REACHED otherwise). A new order
for a symbol replaces that symbol's open order. A weight order (`order_target_percent`) is resolved at
execution from the equity at the execution prices, exactly as a vectorised weight target, so an event
port of a vectorised strategy that orders when its weight changes gives bit-identical results.

The run's orders are recorded as an *order stream* (`ORDER_STREAM_COLUMNS`: the execution bar, symbol,
amount, kind, limit price); `replay` re-executes a stream without any strategy code and gives the same
result. The confined runner runs the strategy and returns its stream; the platform replays it outside, so
the fills, cash and metrics are always computed by the engine itself."""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from quant import event_sdk
from quant.contract import normalize_bars
from quant.event_book import EventRun, check_tag
from quant.event_view import BarData, Context, EventError, HookError, Order, Position
from quant.fundamentals import UNIVERSE_COLUMN
from quant.kernel import KernelOut
from quant.market import Market, prepare_market, split_benchmark
from quant.strategy import EventHooks, StrategyError, StrategySpec, user_error, validate_strategy_params

if TYPE_CHECKING:
    from quant.config import EngineConfig

__all__ = ["BarData", "Context", "EventError", "EventRun", "HookError", "Order", "Position", "replay", "run_strategy"]

ORDER_STREAM_COLUMNS = ("ts", "symbol", "amount", "order", "limit_price", "tag")
ORDER_KINDS = ("value", "target_shares", "target_value", "target_percent", "cancel")  # in a stream


# --- driving a strategy ------------------------------------------------------------------------------


def _session_offsets(m: Market) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per session: its 1-based rank within its week and month, and the negative rank from their end."""
    days = np.unique(m.dates).astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    weeks = (days.astype(np.int64) + 3) // 7  # Monday-based week numbers (1970-01-01 was a Thursday)

    def ranks(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        starts = np.flatnonzero(np.append(True, keys[1:] != keys[:-1]))
        lengths = np.diff(np.append(starts, keys.size))
        group = np.repeat(np.arange(starts.size), lengths)
        first = np.arange(keys.size) - starts[group] + 1
        return first, first - lengths[group] - 1

    w, wn = ranks(weeks)
    mo, mon = ranks(months.astype(np.int64))
    return w, wn, mo, mon


@dataclass
class _Driver:
    run: EventRun
    spec: StrategySpec
    hooks: EventHooks
    offsets: tuple = field(default_factory=tuple)

    def call(self, hook: str, func: Any, *args: Any) -> None:
        try:
            func(*args)
        except (EventError, HookError):
            raise
        except Exception as exc:
            raise HookError(exc, hook, self.run.ts_text(self.run.t)) from exc

    def deliver(self) -> None:
        run, ctx = self.run, self.run.context
        ctx.orders = run.updated
        run.updated = []
        if self.hooks.on_order is not None:
            for order in ctx.orders:
                self.call("on_order", self.hooks.on_order, ctx, order)

    def scheduled(self, s: int, when: str) -> None:
        if not self.run._scheduled:
            return
        w, wn, mo, mon = self.offsets
        for job in self.run._scheduled:
            if job.time != when:
                continue
            due = (
                job.every == "daily"
                or (job.every == "weekly" and job.offset in (w[s], wn[s]))
                or (job.every == "monthly" and job.offset in (mo[s], mon[s]))
            )
            if due:
                self.call(getattr(job.func, "__name__", "scheduled function"), job.func, self.run.context)

    def drive(self) -> None:
        run, hooks = self.run, self.hooks
        ctx = run.context
        if hooks.initialize is not None:
            self.call("initialize", hooks.initialize, ctx)
        session, T = run.session, run.T
        same_close = run.cfg.fill == "same_close"
        for t in range(T):
            run.t = t
            s = int(session[t])
            if t == 0 or session[t - 1] != s:  # a session's open: the previous bar is the latest seen
                run.seen = t - 1
                self.deliver()
                if hooks.before_trading is not None:
                    self.call("before_trading", hooks.before_trading, ctx)
                self.scheduled(s, "open")
            if not same_close:
                run.step(t)
            run.seen = t
            self.deliver()
            self.call("handle_bar", hooks.handle_bar, ctx, BarData(run, t))
            if same_close:
                run.step(t)
            if t == T - 1 or session[t + 1] != s:
                self.scheduled(s, "close")
                if hooks.after_trading is not None:
                    self.call("after_trading", hooks.after_trading, ctx)
        run.close_unexecuted()


def _checked(config: EngineConfig | None) -> EngineConfig:
    """The config of an event-driven run. Engine-level exit rules (`quant.stops`: the rules' stop_loss /
    take_profit / trailing_stop, or the source's `EXITS`) apply as in the kernels: `EventRun.step` judges the
    same `StopBook` on every bar, so an event port and its vectorised twin exit on the same bars."""
    if config is None:
        from quant.config import EngineConfig

        config = EngineConfig()
    return config


def _prepare(bars: pl.DataFrame, config: EngineConfig | None, instruments) -> tuple[pl.DataFrame, EngineConfig, Market]:
    """The bars the strategy trades (the benchmark symbol taken out, as `simulate` does) and their market
    (the confined child's path: nothing of `quant.engine` or pydantic is imported)."""
    config = _checked(config)
    bars, _ = split_benchmark(normalize_bars(bars), None, config)
    return bars, config, prepare_market(bars, config, instruments)


def run_strategy(
    spec: StrategySpec,
    bars: pl.DataFrame,
    m: Market,
    config: EngineConfig,
    params: dict,
    instruments=None,
    given: pl.DataFrame | None = None,
) -> EventRun:
    """Drive an event-driven strategy over every bar; the cyclic collector is paused meanwhile (the run
    allocates many short-lived acyclic objects, as the scalar kernel does). `given` (the caller's frame
    before normalising) gives `context.in_universe` its membership when it carries `in_universe`."""
    if spec.event is None:
        raise StrategyError("not an event-driven strategy (it defines no handle_bar)")
    values = validate_strategy_params(spec, params)
    event_sdk.reset_globals()
    run = EventRun(m, config, bars, instruments)
    run.members = member_panel(m, given)
    run.context = Context(run, values)
    driver = _Driver(run, spec, spec.event, _session_offsets(m))
    enabled = gc.isenabled()
    gc.disable()
    event_sdk._ACTIVE.append(run)
    try:
        driver.drive()
    finally:
        event_sdk._ACTIVE.remove(run)
        if enabled:
            gc.enable()
    return run


def member_panel(m: Market, given: pl.DataFrame | None) -> np.ndarray | None:
    """(sessions × symbols) booleans of `given`'s `in_universe` (False where it has no row or a null) on
    the market's grid; None when it carries none (every symbol in the universe on every bar)."""
    if given is None or UNIVERSE_COLUMN not in given.columns:
        return None
    rows = given.select("symbol", pl.col("ts").cast(pl.Datetime("us")), pl.col(UNIVERSE_COLUMN).fill_null(False))
    ts = rows["ts"].to_numpy().astype(m.ts.dtype)
    t = np.minimum(np.searchsorted(m.ts, ts), max(len(m.ts) - 1, 0))
    index = {s: k for k, s in enumerate(m.symbols)}
    k = np.array([index.get(s, -1) for s in rows["symbol"].to_list()], dtype=np.int64)
    keep = (k >= 0) & (m.ts[t] == ts) if len(m.ts) else np.zeros(len(k), bool)
    panel = np.zeros(m.shape, dtype=bool)
    panel[t[keep], k[keep]] = rows[UNIVERSE_COLUMN].to_numpy()[keep]
    return panel


def stream_frame(run: EventRun) -> pl.DataFrame:
    """The run's orders as a frame of `ORDER_STREAM_COLUMNS` (orders placed on the last bar, which never
    execute, are left out)."""
    rows = [r for r in run.stream if r[0] < run.T]
    ts = run.m.ts[[r[0] for r in rows]] if rows else np.zeros(0, "datetime64[us]")
    return pl.DataFrame(
        {
            "ts": pl.Series(ts.astype("datetime64[us]"), dtype=pl.Datetime("us")),
            "symbol": pl.Series([run.symbols[r[1]] for r in rows], dtype=pl.Utf8),
            "amount": pl.Series([r[2] for r in rows], dtype=pl.Float64),
            "order": pl.Series([r[3] for r in rows], dtype=pl.Utf8),
            "limit_price": pl.Series([r[4] for r in rows], dtype=pl.Float64),
            "tag": pl.Series([r[5] for r in rows], dtype=pl.Utf8),
        }
    )


def is_order_stream(frame: Any) -> bool:
    """Whether `frame` is an event-driven strategy's order stream (not a vectorised target frame); a stream
    without the `tag` column (as recorded before order labels) is one too."""
    return isinstance(frame, pl.DataFrame) and tuple(frame.columns) in (ORDER_STREAM_COLUMNS, ORDER_STREAM_COLUMNS[:5])


def order_streams(
    spec: StrategySpec,
    bars: pl.DataFrame,
    param_sets: list[dict],
    config: EngineConfig | None = None,
    instruments=None,
    *,
    given: pl.DataFrame | None = None,
) -> list[pl.DataFrame]:
    """The order stream of an event-driven strategy for each parameter set (what the confined runner
    returns in place of targets). The strategy's own failures are `HookError`s. `context.in_universe` reads
    the `in_universe` of `given` (default: `bars`, before normalising)."""
    given = bars if given is None else given
    bars, config, m = _prepare(bars, config, instruments)
    return [stream_frame(run_strategy(spec, bars, m, config, p, instruments, given)) for p in param_sets]


def replay(m: Market, config: EngineConfig, bars: pl.DataFrame, stream: pl.DataFrame) -> EventRun:
    """Execute an order stream without any strategy code: the same fills as the run that recorded it."""
    if not is_order_stream(stream):
        raise StrategyError(f"an order stream needs columns {list(ORDER_STREAM_COLUMNS)}")
    run = EventRun(m, config, bars)
    t_of = np.searchsorted(m.ts, stream["ts"].cast(pl.Datetime("us")).to_numpy())
    if t_of.size and (t_of.max() >= run.T or (m.ts[t_of] != stream["ts"].cast(pl.Datetime("us")).to_numpy()).any()):
        raise StrategyError("the order stream names a bar that is not in the data")
    symbols, amounts = stream["symbol"].to_list(), stream["amount"].to_list()
    kinds, limits = stream["order"].to_list(), stream["limit_price"].to_list()
    tags = stream["tag"].to_list() if "tag" in stream.columns else [None] * stream.height
    by_bar: dict[int, list[int]] = {}
    for i, t in enumerate(t_of.tolist()):
        by_bar.setdefault(t, []).append(i)
    for t in range(run.T):
        run.t = t
        for i in by_bar.get(t, ()):
            k = run.index.get(symbols[i])
            if k is None or kinds[i] not in ORDER_KINDS:
                raise StrategyError(f"the order stream has an unknown symbol or order kind at row {i}")
            if kinds[i] == "cancel":
                run.cancel_slot(k)
            else:
                amount = _stream_amount(kinds[i], amounts[i], limits[i], i)
                run.place(kinds[i], k, amount, limits[i], tag=_stream_tag(tags[i], i))
        run.step(t)
    return run


def _stream_amount(kind: str, amount: Any, limit: Any, i: int) -> float:
    """A stream row's amount, checked as `EventRun.order` checks a strategy's (the stream comes from the
    confined child: it is not trusted to be well formed)."""
    value = math.nan if amount is None else float(amount)
    bad = not math.isfinite(value) or (kind != "value" and value < 0) or (kind == "target_percent" and value > 1 + 1e-9)
    if bad or (limit is not None and not (math.isfinite(limit) and limit > 0)):
        raise StrategyError(f"the order stream has an invalid amount or limit price at row {i}")
    return value


def _stream_tag(tag: Any, i: int) -> str | None:
    try:
        return check_tag(tag)
    except ValueError:
        raise StrategyError(f"the order stream has an invalid tag at row {i}") from None


def spec_user_error(exc: HookError, spec: StrategySpec) -> StrategyError:
    """A `HookError` as the strategy model reports a user's error (message, line, hook and bar)."""
    described = user_error(exc.original, spec)
    text = str(described) if described is not None else f"{type(exc.original).__name__}: {exc.original}"
    return StrategyError(f"{text} (in {exc.hook} at bar {exc.bar})")


# --- results -----------------------------------------------------------------------------------------


def _user_run(
    spec: StrategySpec, bars, m: Market, config: EngineConfig, params: dict, instruments, given=None
) -> EventRun:
    """`run_strategy` with the strategy's failures reported as the strategy model reports them."""
    try:
        return run_strategy(spec, bars, m, config, params, instruments, given)
    except HookError as exc:
        raise spec_user_error(exc, spec) from None
    except EventError as exc:
        described = user_error(exc, spec)
        raise EventError(str(described) if described is not None else str(exc)) from None


def result_of(run: EventRun, config: EngineConfig, benchmark, spec: StrategySpec | None, params: dict | None):
    """The `BacktestResult` of a run (the vectorised path's frames, metrics and manifest)."""
    from quant.engine import benchmark_returns, build_result, manifest

    m = run.m
    result = build_result(m, run.kernel_out(), np.arange(run.N)[None, :], config, benchmark_returns(m, benchmark), {})
    result.manifest = {**manifest(m, config, spec, params), "model": "event"}
    return with_tags(result, run)


def with_tags(result, run: EventRun):
    """`result` with the strategy's order labels as the orders' `tag` column (when it labelled any: a run
    without labels keeps the vectorised model's columns, so twins stay comparable)."""
    tags = run.order_tags()
    if tags is not None:
        result.orders = result.orders.with_columns(tags)
    return result


def run_event_backtest(spec: StrategySpec, bars: pl.DataFrame, params, config, instruments, benchmark):
    """`engine.run_backtest` for an event-driven strategy: run it in this process over the bars."""
    from quant.engine import split_benchmark

    config = _checked(config)
    given, (bars, benchmark) = bars, split_benchmark(normalize_bars(bars), benchmark, config)
    values = validate_strategy_params(spec, params)
    m = prepare_market(bars, config, instruments)
    run = _user_run(spec, bars, m, config, values, instruments, given)
    return result_of(run, config, benchmark, spec, values)


def simulate_stream(bars: pl.DataFrame, stream: pl.DataFrame, config, instruments, benchmark, spec, params):
    """`engine.simulate` for an order stream (what the confined runner returns for an event strategy)."""
    from quant.engine import split_benchmark

    config = _checked(config)
    bars, benchmark = split_benchmark(normalize_bars(bars), benchmark, config)
    m = prepare_market(bars, config, instruments)
    return result_of(replay(m, config, bars, stream), config, benchmark, spec, params)


def _lanes(outs: list[KernelOut], T: int, N: int) -> KernelOut:
    """Independent runs as the lanes of one kernel output (what the grid summary reads)."""
    from quant.kernel import ORDER_FIELDS

    def lane_ids(sizes: list[int]) -> np.ndarray:
        return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)

    orders = {f: np.concatenate([o.orders[f] for o in outs]) for f in ORDER_FIELDS}
    orders["lane"] = lane_ids([o.orders["t"].size for o in outs])
    cat = np.concatenate
    return KernelOut(
        orders, lane_ids([o.state_t.size for o in outs]), cat([o.state_t for o in outs]),
        cat([o.state_cash for o in outs]), lane_ids([o.pos_t.size for o in outs]), cat([o.pos_k for o in outs]),
        cat([o.pos_t for o in outs]), cat([o.pos_value for o in outs]), cat([o.ca_paid for o in outs]),
        (T, len(outs), N),
    )  # fmt: skip


def grid_of(runs: list[EventRun], config, benchmark, spec, sets, full: bool, returns: bool, keys):
    """A `GridResult` of one event run per parameter set (each its own account)."""
    from quant.engine import GridResult, benchmark_returns, build_result, manifest
    from quant.grid import grid_summary
    from quant.results import LanePanels

    m = runs[0].m
    out = _lanes([r.kernel_out() for r in runs], m.shape[0], m.shape[1])
    sym_idx = np.tile(np.arange(m.shape[1]), (len(runs), 1))
    bench = benchmark_returns(m, benchmark)
    kept: list[np.ndarray] | None = [] if returns else None
    summary = grid_summary(m, out, sym_idx, config, bench, sets, kept, keys)
    base = {**manifest(m, config, spec, None), "model": "event"}
    results = None
    if full:
        panels = LanePanels(out, m, sym_idx, config.initial_cash)
        results = [
            with_tags(
                build_result(m, out, sym_idx, config, bench, {**base, "params": sets[i]}, lane=i, panels=panels),
                runs[i],
            )
            for i in range(len(sets))
        ]
    daily = np.concatenate(kept, axis=1) if kept else None
    return GridResult(summary, results, base, daily, np.unique(m.dates) if returns else None)


def run_event_grid(spec, bars, sets, config, instruments, benchmark, *, full=False, returns=False, keys=None):
    """`grid.run_grid` for an event-driven strategy: one run per (validated) parameter set."""
    from quant.engine import split_benchmark

    config = _checked(config)
    given, (bars, benchmark) = bars, split_benchmark(normalize_bars(bars), benchmark, config)
    m = prepare_market(bars, config, instruments)
    runs = [_user_run(spec, bars, m, config, p, instruments, given) for p in sets]
    return grid_of(runs, config, benchmark, spec, sets, full, returns, keys)


def replay_grid(bars, streams: list[pl.DataFrame], sets, config, instruments, benchmark, *, returns=False):
    """`grid.run_grid_targets` for order streams (one per parameter set, from the confined runner)."""
    from quant.engine import split_benchmark

    config = _checked(config)
    bars, benchmark = split_benchmark(normalize_bars(bars), benchmark, config)
    m = prepare_market(bars, config, instruments)
    runs = [replay(m, config, bars, s) for s in streams]
    return grid_of(runs, config, benchmark, None, sets, False, returns, None)
