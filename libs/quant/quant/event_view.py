"""What an event-driven strategy sees (`quant.event`): its orders, positions, portfolio, bars, instruments
and `context`, all read from the run in progress (`RunView`, the read side of `event_book.EventRun`): the
account as of the latest bar seen and the bars up to it — never a later one."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from quant import event_sdk
from quant.market import _instruments
from quant.sdk import Columns
from quant.strategy import StrategyError

HISTORY_FIELDS = (
    "open", "high", "low", "close", "volume", "amount", "pre_close", "adj_factor",
    "raw_open", "raw_high", "raw_low", "raw_close", "up_limit", "down_limit",
)  # fmt: skip


class EventError(StrategyError):
    """An order or a read the engine refuses (unknown symbol, negative target, NaN price, a read of
    the future); the message names the bar."""


class HookError(StrategyError):
    """The strategy's own hook raised: `original` is its exception, `hook` the hook, `bar` the bar."""

    def __init__(self, original: BaseException, hook: str, bar: str):
        super().__init__(f"{type(original).__name__}: {original} (in {hook} at bar {bar})")
        self.original, self.hook, self.bar = original, hook, bar


# --- what the strategy sees --------------------------------------------------------------------------


@dataclass
class Order:
    """One order as the strategy sees it. `status`: open (placed, or blocked by a retriable reason),
    filled, partly_filled, rejected (nothing filled), cancelled or replaced; `reason` is the
    simulator's code when it could not fill as asked."""

    id: int
    security: str
    kind: str
    amount: float
    limit_price: float | None
    placed_dt: Any
    status: str = "open"
    filled: float = 0.0
    price: float = 0.0
    fees: float = 0.0
    side: str | None = None
    reason: str | None = None
    tag: str | None = None  # the strategy's own label (`order_*(..., reason="STOP_LOSS")`)

    @property
    def is_buy(self) -> bool:
        return self.side == "buy"

    @property
    def filled_amount(self) -> float:
        """JoinQuant's name for `filled`."""
        return self.filled


@dataclass
class Position:
    """A holding on the current bar: `quantity` (`total_amount`), `closeable_amount` (`sellable`: what
    T+1 lets it sell now), `avg_cost` (buy cost incl. fees per share), `price` (the mark), `market_value`
    (`value`) and `pnl` (unrealised, against the average cost)."""

    security: str
    quantity: float
    closeable_amount: float
    avg_cost: float
    price: float

    @property
    def market_value(self) -> float:
        return self.quantity * self.price

    @property
    def pnl(self) -> float:
        return (self.price - self.avg_cost) * self.quantity

    total_amount = property(lambda self: self.quantity)
    sellable = property(lambda self: self.closeable_amount)
    value = property(lambda self: self.market_value)
    avg_price = property(lambda self: self.avg_cost)


class Positions(Mapping):
    """Held positions by symbol (iteration, `len`, `in`); a symbol of the universe not held reads as an
    empty position (as JoinQuant's); positions are built on access, as of the current bar."""

    def __init__(self, run: RunView):
        self._run = run

    def __getitem__(self, security: str) -> Position:
        return self._run.position(security)

    def __iter__(self) -> Iterator[str]:
        return iter(self._run.held())

    def __len__(self) -> int:
        return len(self._run.held())

    def __contains__(self, security: object) -> bool:
        return security in self._run.held()


class Portfolio:
    """The account on the current bar (marked at its close; at a session's open, at the previous close)."""

    def __init__(self, run: RunView):
        self._run = run

    @property
    def cash(self) -> float:
        return self._run.cash

    available_cash = cash

    @property
    def positions_value(self) -> float:
        return self._run.positions_value()

    @property
    def total_value(self) -> float:
        return self._run.cash + self._run.positions_value()

    @property
    def starting_cash(self) -> float:
        return self._run.cfg.initial_cash

    @property
    def returns(self) -> float:
        return self.total_value / self._run.cfg.initial_cash - 1

    @property
    def positions(self) -> Positions:
        return self._run.positions()


@dataclass(frozen=True)
class Bar:
    """One symbol's bar (prices as in the bar frame: adjusted; `raw_*` as traded)."""

    symbol: str
    dt: Any
    open: float
    high: float
    low: float
    close: float
    volume: float
    raw_close: float
    suspended: bool

    paused = property(lambda self: self.suspended)


class BarData:
    """`bar` of `handle_bar(context, bar)`: symbol → `Bar` for the symbols with a bar now."""

    def __init__(self, run: RunView, t: int):
        self._run, self._t = run, t

    def __getitem__(self, security: str) -> Bar:
        bar = self._run.bar_of(security, self._t)
        if bar is None:
            raise KeyError(f"{security} has no bar at {self._run.ts_text(self._t)}")
        return bar

    def __contains__(self, security: object) -> bool:
        k = self._run.index.get(security) if isinstance(security, str) else None
        return k is not None and self._run.now_rows(self._t)[k] >= 0

    def keys(self) -> list[str]:
        symbols = self._run.symbols
        return [symbols[k] for k, row in enumerate(self._run.now_rows(self._t)) if row >= 0]

    def __iter__(self):
        return iter(self.keys())

    def get(self, security: str, default: Any = None) -> Any:
        bar = self._run.bar_of(security, self._t) if isinstance(security, str) else None
        return default if bar is None else bar


@dataclass(frozen=True)
class Instrument:
    """The instrument today: board, exchange, ST flag, suspension and the day's limit prices (raw)."""

    symbol: str
    board: str
    exchange: str
    is_st: bool
    suspended: bool
    up_limit: float | None
    down_limit: float | None


class Context:
    """`context`: `portfolio`, `current_dt`, `params`, `universe`, `orders` (orders updated by the last
    execution: what happened since the previous decision), `g` (the strategy's state), `history(symbol,
    count, field, end_dt=None)`, `sma(symbol, window, field="close")` (the SMA up to the current bar),
    `instrument(symbol)`, `in_universe(symbol)` (membership on the current bar) and the order / scheduling
    functions as methods. Any other attribute may be set freely."""

    def __init__(self, run: RunView, params: dict):
        self._run = run
        self.params = dict(params)
        self.portfolio = Portfolio(run)
        self.g = event_sdk.g  # JoinQuant's global `g` (emptied for every run)
        self.sma, self.history, self.instrument = run.sma, run.history, run.instrument  # no extra call layer
        self.orders: list[Order] = []
        self.universe = list(run.symbols)

    @property
    def current_dt(self) -> Any:
        return self._run.current_dt()

    def get_open_orders(self) -> dict:
        return self._run.open_orders()

    def in_universe(self, security: str) -> bool:
        """Whether `security` belongs to the backtest's universe on the current bar: the point-in-time
        membership of an index / all selection, always true for an explicit list."""
        k = self._run.symbol_index(security, "in_universe")
        members = getattr(self._run, "members", None)
        return True if members is None else bool(members[self._run.t, k])

    def __getattr__(self, name: str) -> Any:
        if name in event_sdk.EVENT_API and not name.startswith("_"):
            return getattr(event_sdk, name)
        raise AttributeError(f"context has no attribute {name!r}")


@dataclass
class _Scheduled:
    every: str
    func: Any
    offset: int
    time: str


class RunView:
    """The strategy's reads of a run (history, moving averages, bars, positions, instruments) and its
    checks of what it passes in; mixed into `event_book.EventRun`, whose state it reads."""

    def _number(self, value: Any, what: str, name: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise EventError(f"bar {self.ts_text(self.t)}: {what}: the {name} must be a number")
        number = float(value)
        if not math.isfinite(number):
            raise EventError(f"bar {self.ts_text(self.t)}: {what}: the {name} is {number} (a finite number is needed)")
        return number

    def symbol_index(self, security: Any, what: str) -> int:
        k = self.index.get(security) if isinstance(security, str) else None
        if k is None:
            raise EventError(f"bar {self.ts_text(self.t)}: {what}: unknown symbol {security!r} (not in the universe)")
        return k

    def ts_text(self, t: int) -> str:
        if not self.T:
            return "-"
        text = np.datetime_as_string(self.m.ts[min(max(t, 0), self.T - 1)], unit="s").replace("T", " ")
        return text.removesuffix(" 00:00:00")

    def current_dt(self) -> Any:
        if self._dts is None:
            self._dts = self.m.ts.astype("datetime64[us]").tolist()
        return self._dts[self.t] if self.T else None

    def mark_of(self, security: str) -> float:
        if self.seen < 0:
            return 0.0
        mark = float(self.m.mark[self.seen, self.index[security]])
        return mark if math.isfinite(mark) else 0.0

    def positions_value(self) -> float:
        if self.seen < 0:
            return 0.0
        return float(np.nansum(self.pos_np * self.m.mark[self.seen]))

    def positions(self) -> Positions:
        return Positions(self)

    def held(self) -> list[str]:
        """The symbols held now."""
        return [self.symbols[k] for k, q in enumerate(self.pos) if q > 1e-9]

    def position(self, security: str) -> Position:
        """`security`'s position now (empty when not held); T+1 locks what this session bought."""
        k = self.index.get(security) if isinstance(security, str) else None
        if k is None:
            self.symbol_index(security, "positions")
        q = self.pos[k]
        if q <= 1e-9:
            return Position(security, 0.0, 0.0, 0.0, self.mark_of(security))
        locked = self.bought[k] if (self.r.t1 and self.bought_sess[k] == self.session[self.t]) else 0.0
        return Position(security, q, max(q - locked, 0.0), self.cost_basis[k] / q, self.mark_of(security))

    def _rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first row of each symbol, rows of each symbol up to each bar (T, N), has a bar (T, N))."""
        if self._row_panels is None:
            row_t, row_n = self.m.row_t, self.m.row_n
            has = np.zeros((self.T, self.N), bool)
            has[row_t, row_n] = True
            counts = np.cumsum(has, axis=0)
            starts = np.concatenate([[0], np.cumsum(np.bincount(row_n, minlength=self.N))[:-1]])
            self._row_panels = (starts, counts, has)
        return self._row_panels

    def _field(self, name: str) -> np.ndarray:
        if name not in HISTORY_FIELDS:
            raise EventError(
                f"bar {self.ts_text(self.t)}: history: unknown field {name!r}; one of {list(HISTORY_FIELDS)}"
            )
        if name not in self._fields:
            values = self.bars[name].cast(pl.Float64).to_numpy()
            values.setflags(write=False)
            self._fields[name] = values
        return self._fields[name]

    def _visible(self, security: str, what: str) -> tuple[int, int]:
        """(first row, number of rows) of `security`'s bars visible now."""
        k = self.symbol_index(security, what)
        starts, counts, _ = self._rows()
        return int(starts[k]), int(counts[self.seen, k]) if self.seen >= 0 else 0

    def history(self, security: str, count: Any, field: str = "close", end_dt: Any = None) -> np.ndarray:
        what = f"history({security!r}, {count!r}, {field!r})"
        if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 1:
            raise EventError(f"bar {self.ts_text(self.t)}: {what}: count must be a positive integer")
        if end_dt is not None:
            end = np.datetime64(end_dt, "us")
            if self.seen < 0 or end > self.m.ts[self.seen]:
                raise EventError(
                    f"bar {self.ts_text(self.t)}: {what}: end_dt {end_dt} is after the current bar "
                    "(reading the future is refused)"
                )
        a, c = self._visible(security, what)
        values = self._field(field)
        return values[a + max(c - int(count), 0) : a + c]

    def attribute_history(self, security: str, count: int, unit: str, fields: Any) -> dict:
        if unit not in ("1d", "1m", "bar"):
            raise EventError(f"bar {self.ts_text(self.t)}: attribute_history: unit {unit!r} is not supported")
        names = [fields] if isinstance(fields, str) else list(fields)
        return {f: self.history(security, count, f) for f in names}

    def sma(self, security: str, window: Any, field: str = "close") -> float:
        values = self._smas.get((field, window))
        if values is None:
            values = self._sma_values(security, window, field)
        k = self.index.get(security) if isinstance(security, str) else None
        if k is None:
            self.symbol_index(security, f"sma({security!r}, {window!r})")
        row = self.latest_rows()[k]
        return float(values[row]) if row >= 0 else math.nan

    def latest_rows(self) -> list[int]:
        """Per symbol, the bar row of its latest bar seen (-1: none yet); computed once per bar."""
        cached = self._latest
        if cached is not None and cached[0] == self.seen:
            return cached[1]
        if self.seen < 0:
            rows = [-1] * self.N
        elif self.m.dense:  # every symbol has every bar: rows are the symbol's first row + the bar
            rows = self._dense_rows(self.seen)
        else:
            starts, counts, _ = self._rows()
            c = counts[self.seen]
            rows = np.where(c > 0, starts + c - 1, -1).tolist()
        self._latest = (self.seen, rows)
        return rows

    def now_rows(self, t: int) -> list[int]:
        """Per symbol, the bar row of its bar at `t` (-1: no bar then, or `t` not seen yet)."""
        if t > self.seen:
            return [-1] * self.N
        cached = self._now
        if cached is not None and cached[0] == t:
            return cached[1]
        if self.m.dense:
            rows = self._dense_rows(t)
        else:
            starts, counts, has = self._rows()
            rows = np.where(has[t], starts + counts[t] - 1, -1).tolist()
        self._now = (t, rows)
        return rows

    def _dense_rows(self, t: int) -> list[int]:
        if self._starts is None:
            self._starts = (np.arange(self.N) * self.T).tolist()
        return [a + t for a in self._starts]

    def _sma_values(self, security: str, window: Any, field: str) -> np.ndarray:
        """The per-symbol SMA of every bar row (`sdk.Columns`, as vectorised strategies get it); a row's
        value depends on that row and the rows before it only."""
        if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
            what = f"sma({security!r}, {window!r})"
            raise EventError(f"bar {self.ts_text(self.t)}: {what}: the window must be a positive integer")
        if self._columns is None:
            self._columns = Columns(self.bars)
        self._field(field)
        values = self._columns.rolling_mean(int(window), field)
        self._smas[(field, window)] = values
        return values

    def bar_of(self, security: str, t: int) -> Bar | None:
        k = self.index.get(security)
        if k is None:
            return None
        row = self.now_rows(t)[k]
        if row < 0:
            return None
        f = self._field
        susp = bool(self.m.suspended[t, k])
        return Bar(
            security, self.m.ts[t].astype("datetime64[us]").item(), float(f("open")[row]), float(f("high")[row]),
            float(f("low")[row]), float(f("close")[row]), float(f("volume")[row]), float(f("raw_close")[row]), susp,
        )  # fmt: skip

    def instrument(self, security: str) -> Instrument:
        k = self.symbol_index(security, f"instrument({security!r})")
        if self._instrument_rows is None:
            self._instrument_rows = _instruments(self.symbols, self._instruments).to_dicts()
        row = self._instrument_rows[k]
        t = max(self.seen, 0)
        up = self.m.up_limit[t, k] if self.m.up_limit is not None else math.nan
        down = self.m.down_limit[t, k] if self.m.down_limit is not None else math.nan
        return Instrument(
            security, row["board"], row["exchange"], self._is_st(k, t), bool(self.m.suspended[t, k]),
            float(up) if math.isfinite(up) else None, float(down) if math.isfinite(down) else None,
        )  # fmt: skip

    def _is_st(self, k: int, t: int) -> bool:
        if "is_st" not in self._fields:
            self._fields["is_st"] = self.m.layout.panel("is_st", False, dtype=bool)
        return bool(self._fields["is_st"][t, k])

    def schedule(self, every: str, func: Any, offset: Any, time: str) -> None:
        if not callable(func):
            raise EventError(f"run_{every}: the first argument must be a function")
        if time not in ("open", "close"):
            raise EventError(f"run_{every}: time must be 'open' or 'close', got {time!r}")
        if every != "daily" and (isinstance(offset, bool) or not isinstance(offset, int) or offset == 0):
            raise EventError(f"run_{every}: the session offset must be a non-zero integer (1 = first, -1 = last)")
        self._scheduled.append(_Scheduled(every, func, int(offset), time))
