"""Helpers a strategy module may import: `param(...)` for its parameter schema and indicator
expressions over polars bar frames. Every indicator is computed per symbol (`.over("symbol")`) on the
adjusted price columns, so one expression works for one symbol or a whole universe. The cross-sectional
helpers `cross_rank` and `top_n` rank at each bar time among the stocks in the universe on that session
(`in_universe`, which every strategy frame carries: the point-in-time membership of a selection).

Constraints across parameters go in an optional `check_params(params)` that raises
`ParamError(field, message)` (e.g. `fast` must be smaller than `slow`): the engine calls it after the
schema's own checks, before `generate`, and parameter grids skip the combinations it rejects.

Fast path (optional): a strategy may also define `generate_arrays(cols, params)` returning one weight
per bar row (numpy, rows in the frame's (symbol, ts) order) and `generate_grid_arrays(cols, param_sets)`
returning (combinations × rows). `cols` is a `Columns` view of the bars; its numpy indicators
(`rolling_mean`) work per symbol like the expressions. Such a strategy must treat symbols independently
apart from `cols.share` (1 / the number of symbols sharing one account), so the engine can run every
symbol as its own account in one call. `generate` can then simply be `frame_targets(bars, weights)`.

Event-driven strategies (`initialize(context)` / `handle_bar(context, bar)`, see `quant.event`) import
their order, history and scheduling functions from here too (`quant.event_sdk`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from quant.contract import symbol_run_starts
from quant.event_sdk import (  # noqa: F401 - the event-driven API, importable from the one SDK module
    attribute_history,
    cancel_order,
    g,
    get_open_orders,
    history,
    order,
    order_shares,
    order_target,
    order_target_percent,
    order_target_shares,
    order_target_value,
    order_value,
    run_daily,
    run_monthly,
    run_weekly,
)
from quant.fundamentals import UNIVERSE_COLUMN

PARAM_TYPES = {int: "int", float: "float", bool: "bool", str: "str"}


class ParamError(ValueError):
    """A parameter value is invalid; `field` names the parameter."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Param:
    """One declared strategy parameter."""

    name: str
    type: type
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    description: str = ""
    step: float | None = None
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """JSON-serialisable description (used by `schema_to_json`)."""
        return {
            "name": self.name,
            "type": PARAM_TYPES[self.type],
            "default": self.default,
            "min": self.min,
            "max": self.max,
            "choices": list(self.choices) if self.choices is not None else None,
            "step": self.step,
            "description": self.description,
        }


def log(*values: Any, sep: str = " ") -> None:
    """Write a line to the run's log: it is shown in the run's `logs` artifact and in the validate answer
    (bounded, with secrets masked). `print` is captured the same way."""
    import sys

    sys.stdout.write(sep.join(str(v) for v in values) + "\n")


for _level in ("debug", "info", "warn", "warning", "error"):  # JoinQuant's `log.info(...)` etc. port as they are
    setattr(log, _level, log)
del _level


def exits(
    *, stop_loss: float | None = None, take_profit: float | None = None, trailing_stop: float | None = None
) -> dict[str, float]:
    """Engine-level exit rules of the strategy, as fractions of the entry price: declare them at module
    level, `EXITS = exits(stop_loss=0.08, trailing_stop=0.05)`, with literal numbers (the platform reads
    them from the source without running it). A backtest's own rules override them. See `quant.stops`."""
    from quant.stops import check_exits

    return check_exits({"stop_loss": stop_loss, "take_profit": take_profit, "trailing_stop": trailing_stop})


def param(
    name: str,
    type: type,
    default: Any,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: list | tuple | None = None,
    description: str = "",
    step: float | None = None,
) -> Param:
    """Declare a parameter: `param("fast", int, default=10, min=2, max=200, description="...")`."""
    if type not in PARAM_TYPES:
        raise TypeError(f"parameter {name!r}: type must be int, float, bool or str")
    if type is str and not choices:
        raise TypeError(f"parameter {name!r}: str parameters need choices")
    return Param(name, type, default, min, max, tuple(choices) if choices else None, description, step)


def _over(expr: pl.Expr) -> pl.Expr:
    return expr.over("symbol")


def sma(window: int, column: str = "close") -> pl.Expr:
    """Simple moving average (null until `window` bars are available)."""
    return _over(pl.col(column).rolling_mean(window))


def ema(span: int, column: str = "close") -> pl.Expr:
    """Exponential moving average with alpha = 2 / (span + 1), not adjusted, seeded by the first value."""
    return _over(pl.col(column).ewm_mean(span=span, adjust=False))


def pct_change(periods: int = 1, column: str = "close") -> pl.Expr:
    """Return over `periods` bars."""
    return _over(pl.col(column).pct_change(periods))


def rsi(window: int = 14, column: str = "close") -> pl.Expr:
    """Wilder's RSI (0..100) with smoothing alpha = 1 / window."""
    diff = pl.col(column).diff()
    gain = diff.clip(lower_bound=0).ewm_mean(alpha=1 / window, adjust=False, min_samples=window)
    loss = (-diff).clip(lower_bound=0).ewm_mean(alpha=1 / window, adjust=False, min_samples=window)
    return _over(100 - 100 / (1 + gain / loss))


def bollinger(window: int = 20, k: float = 2.0, column: str = "close") -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(lower, middle, upper) bands: SMA ± k sample standard deviations."""
    mid = pl.col(column).rolling_mean(window)
    sd = pl.col(column).rolling_std(window)
    return _over(mid - k * sd), _over(mid), _over(mid + k * sd)


def macd(fast: int = 12, slow: int = 26, signal: int = 9, column: str = "close") -> tuple[pl.Expr, pl.Expr]:
    """(macd line, signal line): EMA(fast) − EMA(slow) and its EMA(signal)."""
    line = pl.col(column).ewm_mean(span=fast, adjust=False) - pl.col(column).ewm_mean(span=slow, adjust=False)
    return _over(line), _over(line.ewm_mean(span=signal, adjust=False))


def cross_rank(column: str, *, descending: bool = False, universe: str | None = UNIVERSE_COLUMN) -> pl.Expr:
    """Cross-sectional rank of `column` among the symbols of each bar time (`ts`): 1 = the smallest (the
    largest with `descending`); ties take the order of the rows (`ordinal`), null and NaN values get no
    rank (null). Only the rows where the boolean column `universe` is true are ranked — by default
    `in_universe`, the stock's membership of the backtest's universe on that session, which every strategy
    frame carries (all true for an explicit list; a frame without it, e.g. one the strategy built itself,
    ranks every row); the others get no rank. `universe=None` ranks every row."""
    value = pl.col(column).fill_nan(None)
    if universe is not None:
        value = pl.when(_member(universe)).then(value)
    return pl.when(value.is_not_null()).then(value.rank("ordinal", descending=descending).over("ts"))


def _member(universe: str) -> pl.Expr:
    """The membership condition: the column `universe`; for `in_universe`, true on a frame without it (the
    pattern selects no column there, and `all_horizontal` of only `True` is true)."""
    if universe != UNIVERSE_COLUMN:
        return pl.col(universe)
    return pl.all_horizontal(pl.col(f"^{UNIVERSE_COLUMN}$"), pl.lit(True))


def top_n(column: str, n: int, *, descending: bool = False, universe: str | None = UNIVERSE_COLUMN) -> pl.Expr:
    """Equal weights (1 / n) on the `n` symbols first by `cross_rank(column)` at each bar time, 0 for the
    rest (and for symbols without a value or outside the universe on that session, so a point-in-time
    selection holds n of its members whenever n of them have a value): "the 10 cheapest by PB" is
    `top_n("pb", 10)`, "the top 50 by 60-bar return" `top_n("mom", 50, descending=True)`."""
    if n < 1:
        raise ParamError("n", "must be at least 1")
    rank = cross_rank(column, descending=descending, universe=universe)
    return pl.when(rank <= n).then(pl.lit(1.0 / n)).otherwise(pl.lit(0.0))


def targets(bars: pl.DataFrame, weight: pl.Expr) -> pl.DataFrame:
    """Build a target frame (ts, symbol, weight) from a boolean/float expression over `bars`."""
    return bars.select("ts", "symbol", weight.cast(pl.Float64).fill_null(0.0).fill_nan(0.0).alias("weight"))


class Columns:
    """A contract bar frame (sorted by symbol, ts) as numpy arrays, for vectorised strategies.

    `cols["close"]` is a float array (NaN where null); `cols.share` is 1 / `universe` (the number
    of symbols sharing one account). Indicators are cached per instance (`rolling_mean` returns the
    cached array, read-only)."""

    def __init__(self, bars: pl.DataFrame, universe: int | None = None, runs: np.ndarray | None = None):
        """`runs`: `contract.symbol_run_starts` of the frame's symbol column when the caller has it (the
        engine scans the column once for the market, the data hash and this)."""
        self.bars = bars
        self._n_symbols: int | None = None
        self._given_runs = runs
        self._runs: np.ndarray | bool | None = False  # False: not computed yet
        self.universe = universe or max(self.n_symbols, 1)
        self.share = 1.0 / self.universe
        self._cache: dict[str, np.ndarray] = {}
        self._inexact: set[str] = set()  # columns without exact (decimal) SMAs
        self._wides: dict[str, pl.DataFrame | None] = {}  # `_wide` per column

    @property
    def n_symbols(self) -> int:
        """Number of distinct symbols in the frame (counted once)."""
        if self._n_symbols is None:
            starts = self._run_starts()
            self._n_symbols = starts.size - 1 if starts is not None else self.bars["symbol"].n_unique()
        return self._n_symbols

    def _run_starts(self) -> np.ndarray | None:
        """Row offsets where each symbol's rows begin, plus the row count, when the symbol column is
        sorted (every symbol is one run of rows); None otherwise."""
        if self._runs is False:
            sym, n = self.bars["symbol"], self.bars.height
            self._runs = None
            if n and not sym.null_count() and (n == 1 or sym.is_sorted()):
                given = self._given_runs
                self._runs = given if given is not None else symbol_run_starts(sym)
        return self._runs

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = self.bars[name].cast(pl.Float64).to_numpy()
        return self._cache[name]

    def rolling_mean(self, window: int, column: str = "close") -> np.ndarray:
        """Per-symbol simple moving average: `sma(window, column)` (NaN while null), exact on decimal prices.
        Read-only: the cached array itself (a copy per call was a fresh 6 MB array — page faults — per
        window on a 300-symbol universe); copy it to modify it."""
        key = f"sma_{column}_{window}"
        if key not in self._cache:
            self._compute_means([window], column)
        return self._cache[key]

    def rolling_means(self, windows: list[int], column: str = "close") -> np.ndarray:
        """(len(windows), rows): several per-symbol SMAs in one polars pass, each computed once."""
        self._compute_means(windows, column)
        return np.stack([self._cache[f"sma_{column}_{w}"] for w in windows])

    def _compute_means(self, windows: list[int], column: str) -> None:
        """Cache the SMAs of `windows` not computed yet (read-only arrays)."""
        todo = sorted({w for w in windows if f"sma_{column}_{w}" not in self._cache})
        if todo and column not in self._inexact:  # checked once per column (a strategy asks window by window)
            if self._decimal_rolling_means(todo, column):
                todo = []
            else:
                self._inexact.add(column)
        if todo:
            if column not in self._wides:
                self._wides[column] = self._wide(column)
            wide = self._wides[column]
            if wide is not None:
                self._wide_rolling_means(wide, todo, column)
            else:
                single = self.bars.height == 0 or self.n_symbols == 1
                exprs = [pl.col(column).rolling_mean(w) if single else sma(w, column) for w in todo]
                frame = self.bars.select(e.alias(str(w)) for e, w in zip(exprs, todo, strict=True))
                for w in todo:
                    self._cache[f"sma_{column}_{w}"] = frame[str(w)].to_numpy()
        for w in windows:
            self._cache[f"sma_{column}_{w}"].flags.writeable = False

    def _decimal_rolling_means(self, windows: list[int], column: str) -> bool:
        """Exact SMAs for prices quoted in decimals (cents, as real quotes are): when every value is
        finite and is `k / 10**d` for an integer k (d ≤ 4), each window's sum is an exact integer
        (int64 cumulative sums) and the mean is that sum divided once by `10**d × window` — the
        correctly rounded mean of the decimal prices, so two SMAs that are equal in exact arithmetic
        are equal floats (a rolling sum that adds and subtracts floats drifts by an ulp and breaks
        such ties). False (nothing cached) for other data: then polars' rolling mean is used."""
        runs, values = self._run_starts(), self[column]
        if runs is None or values.size == 0 or not np.isfinite(values).all():
            return False
        head = values[:1000]  # the decimals are found on a prefix, then checked on every value once
        digits = next((d for d in range(5) if (np.rint(head * 10.0**d) / 10.0**d == head).all()), None)
        if digits is None:
            return False
        scale = 10.0**digits
        ints = np.rint(values * scale)
        if not (ints / scale == values).all() or float(np.abs(ints).max()) * max(windows) >= 2.0**53:
            return False
        n = values.size
        cum = np.zeros(n + 1, np.int64)
        np.cumsum(ints.astype(np.int64), out=cum[1:])
        starts = runs[:-1].tolist()
        for w in windows:
            out = np.empty(n)
            if w <= n:
                np.divide((cum[w:] - cum[: n - w + 1]).astype(np.float64), scale * w, out=out[w - 1 :])
            for a in starts:  # a symbol's first w − 1 rows (and windows reaching into the previous symbol)
                out[a : a + w - 1] = np.nan
            self._cache[f"sma_{column}_{w}"] = out
        return True

    def _wide(self, column: str) -> pl.DataFrame | None:
        """`column` as one frame column per symbol (zero-copy slices) when every symbol has the same
        number of rows and the column has no nulls: a window function then runs once per column, on
        both cores, instead of through `.over("symbol")`'s grouping — the same rolling kernel on the
        same values, so the same numbers."""
        runs, series = self._run_starts(), self.bars[column]
        if runs is None or runs.size < 3 or series.dtype != pl.Float64 or series.null_count():
            return None
        lengths = np.diff(runs)
        if (lengths != lengths[0]).any():
            return None
        values = series.to_numpy()
        T = int(lengths[0])
        return pl.DataFrame([pl.Series(f"s{i}", values[a : a + T]) for i, a in enumerate(runs[:-1].tolist())])

    def _wide_rolling_means(self, wide: pl.DataFrame, windows: list[int], column: str) -> None:
        """Each window's (T, N) block of means to numpy in one polars call (column-major, nulls as NaN), so
        its transpose is the rows' (symbol, ts) order as a view: one copy instead of one per symbol."""
        N = wide.width
        means = wide.select(pl.all().rolling_mean(w).name.suffix(f"_{w}") for w in windows)
        for j, w in enumerate(windows):
            block = means[:, j * N : (j + 1) * N].to_numpy(order="fortran")
            self._cache[f"sma_{column}_{w}"] = block.T.reshape(-1)  # a view of a Fortran-ordered block


def frame_targets(bars: pl.DataFrame, weights: np.ndarray) -> pl.DataFrame:
    """A target frame (ts, symbol, weight) from one weight per bar row."""
    return bars.select("ts", "symbol").with_columns(pl.Series("weight", np.asarray(weights, dtype=np.float64)))
