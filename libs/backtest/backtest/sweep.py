"""Pure rules of optimisations (parameter sweeps): expanding a spec into points, random draws, batch
sizes and estimates, the stop decision between batches, the best so far, the heatmap and result
filters. No database, HTTP, CLI or queue."""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from backtest.local import range_values
from platform_core.errors import InvalidInput

# The metrics every evaluation reports (the vectorised grid summary); any of them can rank a sweep.
METRICS = ("total_return", "annual_return", "volatility", "sharpe", "sortino", "max_drawdown", "calmar",
           "excess_return", "alpha", "beta", "information_ratio", "final_equity", "trade_count",
           "fill_count", "total_fees", "exposure")  # fmt: skip
TERMINAL = frozenset({"succeeded", "failed", "cancelled", "early_stopped"})
ACTIVE_TASKS = frozenset({"queued", "running"})
TEMPLATE_BATCH = 2000  # combinations per batch of a built-in template (vectorised: a few seconds of work)
USER_BATCH = 200  # of user code (targets of every set in one confined process)
MIN_DIAGNOSTIC_EVALS = 10


def check_metric(metric: str, field: str) -> str:
    if metric not in METRICS:
        raise InvalidInput(
            f"{metric!r} is not a metric; use one of {', '.join(METRICS)}", field=field, details={"known": METRICS}
        )
    return metric


def axis_values(name: str, axis: Any) -> list:
    """A grid axis as its values: a list as is, a `{start, stop, step}` range expanded inclusively."""
    if isinstance(axis, dict):
        values = range_values(axis["start"], axis["stop"], axis["step"])
    else:
        values = list(axis) if isinstance(axis, list) else range_values(axis.start, axis.stop, axis.step)
    if not values:
        raise InvalidInput(f"grid axis {name!r} has no values", field=f"gridSpec.{name}")
    return values


def grid_size(axes: dict[str, list]) -> int:
    return math.prod(len(v) for v in axes.values())


def random_points(space: dict[str, Any], n: int, seed: int) -> list[dict]:
    """`n` points drawn independently per parameter with a seeded generator (the same seed, the same points)."""
    rng = np.random.default_rng(seed)
    columns: dict[str, list] = {}
    for name, dist in space.items():
        if dist.type == "uniform":
            columns[name] = [float(v) for v in rng.uniform(dist.low, dist.high, n)]
        elif dist.type == "log_uniform":
            columns[name] = [float(v) for v in np.exp(rng.uniform(math.log(dist.low), math.log(dist.high), n))]
        elif dist.type == "int":
            step = dist.step or 1
            count = int((int(dist.high) - int(dist.low)) // step) + 1
            columns[name] = [int(dist.low) + step * int(k) for k in rng.integers(0, count, n)]
        else:
            picks = rng.integers(0, len(dist.values), n)
            columns[name] = [dist.values[int(k)] for k in picks]
    return [{name: columns[name][i] for name in space} for i in range(n)]


def batch_size(total: int, concurrency: int, template: bool, requested: int | None) -> int:
    """Combinations per batch: as requested, else enough to keep `concurrency` batches busy, at most the
    kind's cap (a template's vectorised batch of 1,000 or a confined batch of 200 takes about a second)."""
    if requested:
        return requested
    cap = TEMPLATE_BATCH if template else USER_BATCH
    return max(1, min(cap, math.ceil(total / max(1, concurrency))))


def estimate_ms(evaluations: int, batches: int, concurrency: int, bars: int, template: bool) -> int:
    """A rough wall-time estimate: per batch a fixed cost (job start, data load, writes; + ~0.6 s for a
    confined interpreter) and per combination the engine's measured ~0.1 µs per bar row."""
    per_batch = 250 + (600 if not template else 0)
    per_combo = bars * 1e-4 * (3 if not template else 1)
    waves = math.ceil(batches / max(1, concurrency))
    return int(waves * per_batch + evaluations * per_combo / max(1, min(concurrency, batches)))


def better(a: float, b: float | None, direction: str) -> bool:
    return b is None or (a > b if direction == "max" else a < b)


def best_of(scores: Iterable[tuple[int, float | None, str]], direction: str) -> tuple[int, float] | None:
    """(index, score) of the best succeeded evaluation; ties go to the earlier combination."""
    best: tuple[int, float] | None = None
    for index, score, status in scores:
        if status == "succeeded" and score is not None and better(score, best[1] if best else None, direction):
            best = (index, score)
    return best


@dataclass(frozen=True)
class Stop:
    status: str
    reason: str


def patience_stop(
    scores: list[tuple[int, float | None, str]], direction: str, patience: int, metric: str
) -> Stop | None:
    """Early stop when `patience` evaluations in a row (in combination order, over the contiguous prefix
    of stored evaluations) did not improve the best `metric`; failed evaluations count as no improvement."""
    best, since, expected = None, 0, 0
    for index, score, status in scores:
        if index != expected:
            break
        expected += 1
        if status == "succeeded" and score is not None and better(score, best, direction):
            best, since = score, 0
            continue
        since += 1
        if since >= patience:
            return Stop(
                "early_stopped",
                f"early stop: {metric} did not improve in {patience} evaluations (stopped at evaluation #{index + 1})",
            )
    return None


def decide(
    *,
    scores: list[tuple[int, float | None, str]],
    total: int,
    direction: str,
    early_stop: dict[str, Any] | None,
    budget_ms: int | None,
    wall_ms: int,
    metric: str,
) -> Stop | None:
    """What to do between batches, from the stored evaluations: stop early, stop on budget, finish, or
    go on (None)."""
    if early_stop:
        stop = patience_stop(scores, direction, int(early_stop["patience"]), metric)
        if stop is not None:
            return stop
    if len(scores) >= total:
        return Stop("succeeded", f"all {total} evaluations done")
    if budget_ms is not None and wall_ms >= budget_ms:
        return Stop("early_stopped", f"budget: {wall_ms} ms of wall time used of {budget_ms} ms")
    return None


def eta_ms(evaluated: int, total: int, wall_ms: int) -> int | None:
    if evaluated <= 0 or evaluated >= total:
        return None if evaluated <= 0 else 0
    return int(wall_ms / evaluated * (total - evaluated))


def heatmap(
    rows: list[tuple[dict, dict | None]],
    x: str,
    y: str,
    metric: str,
    direction: str,
    axes: dict[str, list] | None = None,
) -> tuple[list, list, list[list[float | None]]]:
    """The (y × x) matrix of `metric` over the evaluated params (and every value of the grid's `axes`);
    other parameters aggregated by the best (by `direction`); cells without an evaluation are None."""
    cells: dict[tuple[Any, Any], float] = {}
    xs, ys = set((axes or {}).get(x, [])), set((axes or {}).get(y, []))
    for params, metrics in rows:
        if x not in params or y not in params:
            continue
        xs.add(params[x])
        ys.add(params[y])
        value = (metrics or {}).get(metric)
        if value is None:
            continue
        key = (params[y], params[x])
        if better(float(value), cells.get(key), direction):
            cells[key] = float(value)
    x_values, y_values = sorted(xs, key=_order), sorted(ys, key=_order)
    return x_values, y_values, [[cells.get((yv, xv)) for xv in x_values] for yv in y_values]


def _order(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) and not isinstance(value, bool) else (1, str(value))


FILTER_OPS = {"gt": float.__gt__, "ge": float.__ge__, "lt": float.__lt__, "le": float.__le__, "eq": float.__eq__}


def parse_filter(text: str) -> tuple[str, str, float]:
    """`metric:op:value` (op gt | ge | lt | le | eq), e.g. `sharpe:gt:1`."""
    parts = text.split(":")
    if len(parts) != 3 or parts[1] not in FILTER_OPS:
        raise InvalidInput(f"filter {text!r} must be metric:gt|ge|lt|le|eq:value", field="filter")
    try:
        value = float(parts[2])
    except ValueError:
        raise InvalidInput(f"filter value {parts[2]!r} is not a number", field="filter") from None
    return parts[0], parts[1], value


def passes(values: dict[str, Any], filters: list[tuple[str, str, float]]) -> bool:
    for name, op, value in filters:
        got = values.get(name)
        if not isinstance(got, int | float) or isinstance(got, bool) or not FILTER_OPS[op](float(got), value):
            return False
    return True


# --- walk-forward / out-of-sample validation -------------------------------------------------------------

DURATION_UNITS = {"d": "days", "w": "weeks", "m": "months", "y": "years"}


def parse_duration(text: str, field: str) -> tuple[int, str]:
    """`6m`, `2y`, `3w`, `10d` as (count, unit letter); anything else is INVALID_INPUT naming `field`."""
    value = str(text).strip().lower()
    count, unit = value[:-1], value[-1:]
    if unit not in DURATION_UNITS or not count.isdigit() or int(count) < 1:
        raise InvalidInput(
            f"{text!r} is not a duration: use a count and d, w, m or y (e.g. 6m, 2y)",
            field=field,
            details={"units": DURATION_UNITS},
        )
    return int(count), unit


def shift(day: date, count: int, unit: str) -> date:
    """`day` moved forward by a duration; months and years keep the day of month, clamped to the month's end."""
    if unit == "d":
        return day + timedelta(days=count)
    if unit == "w":
        return day + timedelta(weeks=count)
    months = count * (12 if unit == "y" else 1)
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Fold:
    """One train window and the test window that follows it (both inclusive dates)."""

    train_start: date
    train_end: date
    test_start: date
    test_end: date

    def as_json(self) -> dict[str, str]:
        return {k: getattr(self, k).isoformat() for k in ("train_start", "train_end", "test_start", "test_end")}


def walk_forward_folds(start: date, end: date, train: str, test: str, step: str | None) -> list[Fold]:
    """Rolling folds over the backtest window [start, end]: fold k trains on [start + k·step, + train) and tests
    on the following `test`; only folds whose test window ends inside the window are kept. `step` defaults to
    `test` and must not be shorter (the test windows are stitched, so they may not overlap)."""
    field = "validation.walk_forward"
    tr = parse_duration(train, f"{field}.train")
    te = parse_duration(test, f"{field}.test")
    st = parse_duration(step or test, f"{field}.step")
    probe = date(2000, 1, 1)
    if shift(probe, *st) < shift(probe, *te):
        raise InvalidInput("step must be at least test, so the test windows do not overlap", field=f"{field}.step")
    folds: list[Fold] = []
    k = 0
    while True:
        train_start = shift(start, st[0] * k, st[1])
        test_start = shift(train_start, *tr)
        test_stop = shift(test_start, *te)  # exclusive
        if test_stop > end + timedelta(days=1):
            break
        folds.append(Fold(train_start, test_start - timedelta(days=1), test_start, test_stop - timedelta(days=1)))
        k += 1
    if not folds:
        raise InvalidInput(
            f"train {train} + test {test} do not fit in the backtest window {start} to {end}",
            field=f"{field}.train",
            details={"window": {"start": start.isoformat(), "end": end.isoformat()}},
        )
    return folds


def split_fold(start: date, end: date, split: date) -> Fold:
    """In-sample [start, split), out-of-sample [split, end]; both sides need at least one day."""
    if not start < split <= end:
        raise InvalidInput(
            f"split {split} must be after the window's start {start} and not after its end {end}",
            field="validation.split",
        )
    return Fold(start, split - timedelta(days=1), split, end)


def stitch(returns: list[np.ndarray], initial_cash: float) -> np.ndarray:
    """The out-of-sample equity curve: the test windows' daily returns one after another, compounded from
    `initial_cash` (each window's return re-invests the equity the previous one ended with)."""
    joined = np.concatenate([np.asarray(r, dtype=np.float64) for r in returns]) if returns else np.zeros(0)
    return initial_cash * np.cumprod(1.0 + joined)


# --- progress events -------------------------------------------------------------------------------------

EVENT_FIELDS = ("status", "evaluated", "total", "failed", "progress", "best", "eta_ms", "reason")


def sweep_events(previous: dict[str, Any] | None, now: dict[str, Any]) -> list[str]:
    """The SSE event types a new snapshot of a sweep calls for, after `previous` (None: the stream's start):
    `snapshot` first; then `progress` when evaluated, failed or the best changed, `status` when the status
    changed; a terminal status is its own event (`succeeded` …), the stream's last."""
    if previous is None:
        return [now["status"]] if now["status"] in TERMINAL else ["snapshot"]
    types = []
    if any(previous.get(k) != now.get(k) for k in ("evaluated", "failed", "best")):
        types.append("progress")
    if previous.get("status") != now["status"]:
        types.append(now["status"] if now["status"] in TERMINAL else "status")
    return types
