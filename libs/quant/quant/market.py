"""Turn a contract bar frame into aligned numpy panels (bars × symbols) for the simulator: execution
and marking prices on the chosen price basis, tradability, price-limit blocks, lot sizes, fee rates
and corporate-action cash, plus the input data hash."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from quant import rulebook as rb
from quant.config_light import Rules
from quant.contract import (
    _CLOSE_US,
    _DAY_US,
    BAR_SCHEMA,
    EAGER_DEFAULT_ROWS,
    PRICE_COLUMNS,
    dated_inputs,
    default_instruments,
    floor_days,
    normalize_bars,
    symbol_changes,
    symbol_run_starts,
)

if TYPE_CHECKING:
    from quant.config import EngineConfig

EPS = 1e-6
_HASHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="huice-data-hash")


@dataclass
class Market:
    """Panels of shape (T bars, N symbols); NaN prices where a symbol has no tradable bar."""

    symbols: list[str]
    ts: np.ndarray
    dates: np.ndarray
    session: np.ndarray
    exec_px: np.ndarray
    close: np.ndarray
    mark: np.ndarray
    suspended: np.ndarray
    buy_block: np.ndarray
    sell_block: np.ndarray
    ca_cash: np.ndarray | None
    lot_min: np.ndarray
    lot_step: np.ndarray
    stamp_buy: np.ndarray
    stamp_sell: np.ndarray
    transfer_value: np.ndarray
    transfer_share: np.ndarray
    keys: pl.DataFrame
    layout: _Layout
    hash_job: Future
    checks: dict = field(default_factory=dict)
    dense: bool = False  # rows are (symbol, ts)-ordered with the same timestamps for every symbol
    stop_low: np.ndarray | None = None  # exit rules only (`quant.stops`): bar lows/highs on the exit basis
    stop_high: np.ndarray | None = None
    stop_scale: np.ndarray | None = None  # fill price × scale = the exit basis (None: the fill basis itself)
    _prev_mark: np.ndarray | None = None
    _volume: np.ndarray | None = None
    up_limit: np.ndarray | None = None  # the day's limit prices (raw), when the rules apply limits
    down_limit: np.ndarray | None = None

    @property
    def prev_mark(self) -> np.ndarray:
        """The previous bar's mark (NaN on the first bar); built on first use."""
        if self._prev_mark is None:
            mark = self.mark
            self._prev_mark = np.vstack([np.full((1, mark.shape[1]), np.nan), mark[:-1]])
        return self._prev_mark

    @property
    def volume(self) -> np.ndarray:
        """Bar volume (0 where a symbol has no bar); built on first use (only a volume cap reads it)."""
        if self._volume is None:
            self._volume = self.layout.panel("volume", 0.0)
        return self._volume

    @property
    def data_hash(self) -> str:
        """sha256 of the input bars (computed on a background thread while the run proceeds)."""
        return self.hash_job.result()

    @property
    def row_t(self) -> np.ndarray:
        """Bar index of every input row."""
        return self.layout.rows()[0]

    @property
    def row_n(self) -> np.ndarray:
        """Symbol index of every input row."""
        return self.layout.rows()[1]

    @property
    def shape(self) -> tuple[int, int]:
        """(T, N)."""
        return self.exec_px.shape


def split_benchmark(bars: pl.DataFrame, benchmark: pl.DataFrame | None, config: EngineConfig):
    """Take the benchmark out of `bars` when `config.benchmark_symbol` names a symbol in them."""
    symbol = config.benchmark_symbol
    if benchmark is None and symbol and "symbol" in bars.columns and (bars["symbol"] == symbol).any():
        return bars.filter(pl.col("symbol") != symbol), bars.filter(pl.col("symbol") == symbol)
    return bars, benchmark


def prepare_market(
    bars: pl.DataFrame,
    config: EngineConfig,
    instruments: pl.DataFrame | None = None,
    *,
    runs=None,
    normalized: bool = False,
    hash_job: Future | None = None,
    lane_major: bool = False,
) -> Market:
    """Build the simulator's panels from a full or minimal bar frame. `runs`: `symbol_run_starts` of a
    normalised `bars`' symbol column when the caller has it (ignored if `bars` needed normalising);
    `normalized`: `bars` is `normalize_bars`' output (checking it again reads every column, which builds
    the defaults' scalar columns); `hash_job`: its data hash, already started (`early_data_hash`);
    `lane_major`: on a dense layout the shared price panels are transposed views of the frame's columns
    (each symbol's bars contiguous, `_Layout.shared`) instead of C-ordered copies — for runs with one
    symbol per lane, whose readers gather cells, work elementwise or read a lane's bars (`run_independent`),
    not for a portfolio's bar-by-bar kernels, which read a bar's row of every symbol."""
    if not normalized:
        normal = normalize_bars(bars)
        runs = runs if normal is bars else None
        bars, hash_job = normal, hash_job if normal is bars else None
    if hash_job is None:  # first: on a large frame it overlaps everything below and the run after
        hash_job = _hash_job(bars, runs)
    rules = config.rules()
    lay = _layout(bars, runs)
    lay.lane_major = lane_major
    symbols, ts = lay.symbols, lay.ts
    T, N = len(ts), len(symbols)
    dates = ts.astype("datetime64[D]")
    session = _session_numbers(dates)
    shared = lay.shared  # read-only panels, built once per column (columns sharing a buffer share one)
    raw = rules.price_basis == "raw"
    close = shared("raw_close" if raw else "close")
    px = shared(("raw_open" if raw else "open") if config.fill == "next_open" else ("raw_close" if raw else "close"))
    if lay.dense and not bars["suspended"].any():  # nothing flagged: no suspended panel to transpose
        susp = ~np.isfinite(px)
    else:
        susp = lay.panel("suspended", True, dtype=bool)
        susp |= ~np.isfinite(px)
    if rules.limits and (bars["volume"] == 0).any():  # a zero-volume bar: nothing traded, as a suspension
        susp |= shared("volume", np.nan) == 0
    if susp.any():  # the shared panels stay pristine: the limit rules below read the unmasked prices
        px = px.copy()
        px[susp] = np.nan
        close = close.copy()
        close[susp] = np.nan
    mark = _ffill(close)
    # the instrument rows are read by lot sizes, limits and fees only (a given frame is always checked)
    inst = _instruments(symbols, instruments) if instruments is not None or _reads_instruments(rules) else None
    lot_min, lot_step = _lots(inst["board"].to_list() if inst is not None else [None] * N, rules)
    market = Market(
        symbols=symbols, ts=ts, dates=dates, session=session, exec_px=px, close=close, mark=mark,
        suspended=susp, buy_block=_zeros((T, N), bool), sell_block=_zeros((T, N), bool),
        ca_cash=None, lot_min=lot_min, lot_step=lot_step,
        stamp_buy=np.zeros(T), stamp_sell=np.zeros(T), transfer_value=_zeros((T, N)),
        transfer_share=_zeros((T, N)), keys=pl.DataFrame([bars["ts"], bars["symbol"]]), layout=lay,
        hash_job=hash_job, dense=lay.dense,
    )  # fmt: skip
    try:
        if rules.limits:
            _apply_limits(market, bars, lay, inst, config)
        if rules.exchange_fees:
            _apply_fee_rates(market, inst, config)
        if raw and _factor_varies(bars):
            market.ca_cash = _corporate_action_cash(shared("adj_factor"), mark)
        if config.exits:
            _apply_exit_panels(market, lay, raw, raw and _factor_varies(bars))
    finally:
        lay.release()  # the market keeps what it holds; the cache's other panels are freed now
    return market


def _session_numbers(dates: np.ndarray) -> np.ndarray:
    """`np.unique(dates, return_inverse=True)[1]` for the bars' dates, which are in time order (the layout's
    timestamps are sorted): each bar's number of date changes before it, without a sort."""
    session = np.zeros(dates.size, np.intp)
    np.cumsum(dates[1:] != dates[:-1], out=session[1:])
    return session


def _session_dates(dates: np.ndarray) -> np.ndarray:
    """`np.unique(dates)` for dates in time order: the first bar's date of each session (numpy's hash-based
    unique costs ~0.3 ms on 2,500 dates, ~0.5 ms in a process's first call)."""
    return dates[np.append(True, dates[1:] != dates[:-1])] if dates.size else dates.copy()


def _apply_exit_panels(m: Market, lay: _Layout, raw: bool, scaled: bool) -> None:
    """Bar lows and highs for the exit rules on the fills' price basis, NaN where a symbol cannot trade.
    Raw fills whose adjustment factor changes are compared in back-adjusted terms (raw × the
    forward-filled factor, `stop_scale`), so a split or dividend does not look like a fall through a stop."""
    if scaled:  # fresh products below: the shared panels are only read
        low, high = lay.shared("raw_low" if raw else "low"), lay.shared("raw_high" if raw else "high")
        factor = _ffill(lay.shared("adj_factor"))
        factor = np.where(np.isfinite(factor), factor, 1.0)
        low, high, m.stop_scale = low * factor, high * factor, factor
    else:
        low, high = lay.panel("raw_low" if raw else "low"), lay.panel("raw_high" if raw else "high")
    low[m.suspended] = np.nan
    high[m.suspended] = np.nan
    m.stop_low, m.stop_high = low, high


def value_prices(m: Market) -> np.ndarray:
    """Execution prices, or the previous mark where there is none (read-only; `exec_px` itself when
    every price is finite)."""
    px = m.exec_px
    if px.size and np.isfinite(px.min()) and np.isfinite(px.max()):  # min/max propagate NaN
        return px
    return np.where(np.isfinite(px), px, np.nan_to_num(m.prev_mark))


def _zeros(shape: tuple, dtype=np.float64) -> np.ndarray:
    """A read-only all-zero panel without memory of its own (a broadcast view): the rules that need
    real values (limits, exchange fees) replace it with a fresh array."""
    return np.broadcast_to(np.zeros(1, dtype), shape)


SYNC_HASH_ROWS = 50_000


def _hash_job(bars: pl.DataFrame, runs: np.ndarray | None = None) -> Future:
    """The data hash: inline for small frames (a thread only adds GIL hand-over latency), else on a
    background thread while the run proceeds."""
    if bars.height > SYNC_HASH_ROWS:
        return _HASHER.submit(data_hash, bars, runs)
    job: Future = Future()
    job.set_result(data_hash(bars, runs))
    return job


def _factor_varies(bars: pl.DataFrame) -> bool:
    """False when no corporate action can be booked: adj_factor has no nulls and a single value (then
    the forward-filled factor never changes, so `_corporate_action_cash` would return None)."""
    if bars.height == 0:
        return False
    if bars.height <= EAGER_DEFAULT_ROWS:  # a materialised column (`normalize_bars`): no query
        series = bars["adj_factor"]
        return bool(series.null_count() or series.min() != series.max())
    # one query: the constant default stays a polars scalar column (reading it as a Series builds its values)
    factor = pl.col("adj_factor")
    nulls, low, high = bars.select(factor.null_count(), factor.min().alias("lo"), factor.max().alias("hi")).row(0)
    return bool(nulls or low != high)


@dataclass
class _Layout:
    """Where each bar row goes in the (T, N) panels. `dense`: every symbol has exactly the same sorted
    timestamps and rows are ordered by (symbol, ts), so a column is a (N, T) block, transposed."""

    bars: pl.DataFrame
    symbols: list[str]
    ts: np.ndarray
    row_t: np.ndarray | None  # built on first use when dense
    row_n: np.ndarray | None
    dense: bool
    lane_major: bool = False  # `shared` float panels as views of the frame's (N, T) columns (dense only)
    _cache: dict = field(default_factory=dict, repr=False)

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        if self.row_t is None:
            T, N = len(self.ts), len(self.symbols)
            self.row_t, self.row_n = np.tile(np.arange(T), N), np.repeat(np.arange(N), T)
        return self.row_t, self.row_n

    def panel(self, column: str, fill: float | bool = np.nan, dtype=np.float64) -> np.ndarray:
        """A fresh, writable (T, N) panel of `column` (`fill` where a symbol has no row)."""
        cached = self._cache.get(self._key(column, fill, dtype))
        if cached is not None:
            return cached.copy()
        return self._build(self.bars[column].to_numpy(), fill, dtype)

    def shared(self, column: str, fill: float | bool = np.nan, dtype=np.float64) -> np.ndarray:
        """The (T, N) panel of `column`, read-only and built once while `prepare_market` runs: columns
        that are one buffer in the frame (`raw_close` and `close` of a frame without adjustment) give the
        same array, so a price panel is transposed once however many rules read it."""
        key = self._key(column, fill, dtype)
        out = self._cache.get(key)
        if out is None:
            values = self.bars[column].to_numpy()
            if self.lane_major and self.dense and values.dtype == np.float64 and np.dtype(dtype) == np.float64:
                out = values.reshape(len(self.symbols), len(self.ts)).T  # the same cells, no transposing copy
            else:
                out = self._build(values, fill, dtype)
            out.flags.writeable = False
            self._cache[key] = out
        return out

    def release(self) -> None:
        self._cache.clear()

    def _key(self, column: str, fill, dtype) -> tuple:
        values = self.bars[column]
        if values.null_count() == 0 and values.n_chunks() == 1 and values.dtype.is_numeric():
            # zero-copy numpy view: key by the buffer, so aliased columns share a panel
            view = values.to_numpy()
            address = view.__array_interface__["data"][0]
            return ("buffer", address, view.dtype.str, len(view), str(fill), np.dtype(dtype).str)
        return ("column", column, str(fill), np.dtype(dtype).str)

    def _build(self, values: np.ndarray, fill, dtype) -> np.ndarray:
        T, N = len(self.ts), len(self.symbols)
        if self.dense:
            return _transpose(values.reshape(N, T), dtype)
        out = np.full((T, N), fill, dtype)
        out[self.row_t, self.row_n] = values
        return out


_TILE = 256


def _transpose(block: np.ndarray, dtype) -> np.ndarray:
    """`block.T` as a new C-ordered array of `dtype`, copied tile by tile (a 256 × 256 float tile fits the
    cache, so both sides are read and written in order; about twice as fast as one strided copy)."""
    rows, cols = block.shape
    out = np.empty((cols, rows), dtype)
    for j in range(0, rows, _TILE):
        src = block[j : j + _TILE]
        for i in range(0, cols, _TILE):
            out[i : i + _TILE, j : j + _TILE] = src[:, i : i + _TILE].T
    return out


def _layout(bars: pl.DataFrame, runs: np.ndarray | None = None) -> _Layout:
    sym = bars["symbol"]
    ts_all = bars["ts"].to_numpy()
    names, lens = _symbol_runs(sym, runs)
    n_rows = bars.height
    if n_rows and len(names) == len(set(names)) and names == sorted(names) and (lens == lens[0]).all():
        T, N = int(lens[0]), len(names)
        grid = ts_all.reshape(N, T)
        first = grid[0]
        # every symbol on the first's stamps, compared as their integers: numpy's datetime equality (NaT-aware)
        # is a scalar loop ~4x the int64 one, and a normalised `ts` has no NaT (a bar without one is rejected)
        stamps = grid.view(np.int64) if grid.dtype.kind == "M" else grid
        if (first[1:] > first[:-1]).all() and (stamps == stamps[0]).all():
            return _Layout(bars, names, first.copy(), None, None, True)
    symbols = sym.unique(maintain_order=True).to_list()
    ts = np.unique(ts_all)
    row_t = np.searchsorted(ts, ts_all)
    row_n = bars.select(pl.col("symbol").rank("dense") - 1)["symbol"].to_numpy().astype(np.int64)
    return _Layout(bars, symbols, ts, row_t, row_n, False)


def _symbol_runs(sym: pl.Series, starts: np.ndarray | None = None) -> tuple[list, np.ndarray]:
    """(value, length) of each run of equal symbols: `sym.rle()` without a polars query (one comparison of
    neighbouring rows, or none when the caller passes the column's `symbol_run_starts`; a first query in a
    process costs milliseconds)."""
    if starts is None:
        starts = symbol_run_starts(sym)
    if starts is None:
        runs = sym.rle()
        return runs.struct.field("value").to_list(), runs.struct.field("len").to_numpy()
    return sym[starts[:-1]].to_list(), np.diff(starts)


def _ffill(a: np.ndarray) -> np.ndarray:
    """Forward-fill non-finite values down the rows; `a` itself when every value is finite (callers
    only read the result)."""
    if a.size and np.isfinite(a.min()) and np.isfinite(a.max()):  # min/max propagate NaN
        return a
    idx = np.where(np.isfinite(a), np.arange(a.shape[0])[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = a[idx, np.arange(a.shape[1])]
    return out


def _instruments(symbols: list[str], instruments: pl.DataFrame | None) -> pl.DataFrame:
    base = default_instruments(symbols)
    if instruments is None or instruments.is_empty():
        return base
    known = instruments.select("symbol", "exchange", "board", "list_date").unique("symbol", keep="last")
    merged = base.select("symbol").join(known, on="symbol", how="left")
    return merged.with_columns(pl.col("exchange").fill_null(base["exchange"]), pl.col("board").fill_null(base["board"]))


def _reads_instruments(rules: Rules) -> bool:
    """Whether `prepare_market` reads the instrument rows (boards, exchanges, listing dates) under `rules`."""
    return bool(rules.lots or rules.limits or rules.exchange_fees)


def _lots(boards: list[str], rules: Rules) -> tuple[np.ndarray, np.ndarray]:
    if not rules.lots:
        step = 0.0 if rules.fractional else 1.0
        return np.full(len(boards), step), np.full(len(boards), step)
    pairs = [rb.LOT_RULES.get(b, (100, 100)) for b in boards]
    return np.array([p[0] for p in pairs], float), np.array([p[1] for p in pairs], float)


def _apply_limits(m: Market, bars: pl.DataFrame, lay: _Layout, inst: pl.DataFrame, config: EngineConfig) -> None:
    """Limit prices and the limit blocks. The reference price is `pre_close` on the fill basis of the raw
    prices (pre_close × raw close / close), else the previous session's raw close × the ex-rights ratio;
    the limits are the reference × (1 ± limit %) rounded half up to the fen. Everything here is elementwise,
    so on a dense layout it runs on the frame's own (N, T) column views (no transposes; the limit prices are
    kept as transposed views, only the two boolean blocks are transposed); buffers are reused (each
    temporary is 100 MB at market scale). The float operations and their order are those of
    `rb.round_half_up_cent(ref * (1 + pct))`."""
    space = _Space(lay)
    raw_close, close = space.get("raw_close"), space.get("close")
    if bars.height and bars["pre_close"].null_count() == bars.height:  # no pre_close at all (a minimal
        # frame): every reference is the previous session's close (as below, where every cell then needs it)
        ref = _prev_close_rows(m, bars, space, raw_close)
        if ref is None:
            psc = _prev_session_close(m, bars, lay.shared, lay.shared("raw_close"))
            ref = _transpose(psc, psc.dtype) if space.nt else psc  # psc is fresh: a copy only to transpose it
            del psc
    else:
        ref = _data_reference(m, bars, lay, space, raw_close, close)
    up, down = _rule_limits(m, space, inst, ref)  # on a dense layout `down` is `ref`'s buffer
    del ref
    rule_ok = np.isfinite(up)
    if bars["up_limit"].null_count() == bars.height and bars["down_limit"].null_count() == bars.height:
        m.checks["limit_prices"] = {"from_data": 0, "from_rules": int(rule_ok.sum()), "mismatches": 0}
    else:
        up_data, down_data = space.get("up_limit"), space.get("down_limit")
        data_ok = np.isfinite(up_data)
        both = data_ok & rule_ok
        with np.errstate(invalid="ignore"):
            both &= np.abs(up_data - up) > 0.0051
        m.checks["limit_prices"] = {
            "from_data": int(data_ok.sum()),
            "from_rules": int((~data_ok & rule_ok).sum()),
            "mismatches": int(both.sum()),
        }
        del both
        np.copyto(up, up_data, where=data_ok)
        np.copyto(down, down_data, where=np.isfinite(down_data))
    del rule_ok
    m.up_limit, m.down_limit = space.to_panel_view(up), space.to_panel_view(down)
    if config.limit_policy == "touch":
        price = space.get("raw_open") if config.fill == "next_open" else raw_close
        buy_px, sell_px = price, price
    else:
        buy_px, sell_px = space.get("raw_low"), space.get("raw_high")
    buy, sell = np.empty(up.shape, bool), np.empty(up.shape, bool)
    with np.errstate(invalid="ignore"):  # price >= up - EPS, price <= down + EPS, block by block (a small scratch)
        for rows, scratch in _row_blocks(up.shape):
            np.greater_equal(buy_px[rows], np.subtract(up[rows], EPS, out=scratch), out=buy[rows])
            np.less_equal(sell_px[rows], np.add(down[rows], EPS, out=scratch), out=sell[rows])
    m.buy_block, m.sell_block = space.to_panel(buy), space.to_panel(sell)


def _data_reference(m: Market, bars: pl.DataFrame, lay: _Layout, space: _Space, raw_close, close) -> np.ndarray:
    """The limits' reference price where `pre_close` is known (on the fill basis), else the previous
    session's close: a writable array of `space`."""
    pre = space.get("pre_close")
    with np.errstate(invalid="ignore", divide="ignore"):
        if raw_close is close:  # no adjustment: ratio = close / close is 1 where finite and non-zero, else NaN
            ok = np.isfinite(raw_close)
            ok &= raw_close != 0
            ok &= np.isfinite(pre)
            ref = np.where(ok, pre, np.nan)
            need = ~ok
            del ok
        else:
            ref = np.divide(raw_close, close)
            np.multiply(pre, ref, out=ref)
            need = ~np.isfinite(ref)
    if need.any():
        psc = _prev_session_close(m, bars, lay.shared, lay.shared("raw_close"))
        np.copyto(ref, space.from_panel(psc), where=need)
        del psc
    del need
    return ref


class _Space:
    """Where `_apply_limits` computes: on a dense layout the (N symbols, T bars) views of the frame's
    columns (row-major as the frame is: no transpose), else the (T, N) shared panels."""

    def __init__(self, lay: _Layout) -> None:
        self.lay, self.nt = lay, lay.dense
        self.T, self.N = len(lay.ts), len(lay.symbols)
        self._views: dict = {}

    def get(self, column: str, fill: float | bool = np.nan, dtype=np.float64) -> np.ndarray:
        if not self.nt:
            return self.lay.shared(column, fill, dtype)
        key = self.lay._key(column, fill, dtype)
        out = self._views.get(key)
        if out is None:
            values = self.lay.bars[column].to_numpy()  # nulls come back as NaN (floats)
            out = values.astype(dtype, copy=False).reshape(self.N, self.T)
            out.flags.writeable = False
            self._views[key] = out
        return out

    def from_panel(self, panel: np.ndarray) -> np.ndarray:
        """A (T, N) panel in this space (a view)."""
        return panel.T if self.nt else panel

    def to_panel_view(self, a: np.ndarray) -> np.ndarray:
        """An array of this space as a (T, N) panel, a transposed view when dense (read element by element)."""
        return a.T if self.nt else a

    def to_panel(self, a: np.ndarray) -> np.ndarray:
        """An array of this space as a C-ordered (T, N) panel."""
        return _transpose(a, a.dtype) if self.nt else a

    def time_axis(self) -> int:
        return 1 if self.nt else 0


def _prev_session_close(m: Market, bars: pl.DataFrame, shared, raw_close: np.ndarray) -> np.ndarray:
    """The previous session's last raw close (of a bar that traded) × the ex-rights ratio, per bar."""
    S = int(m.session[-1]) + 1
    daily = len(m.session) == S  # one bar per session: the session gathers below are identities
    last_bar = np.searchsorted(m.session, np.arange(S), side="right") - 1
    closes = _ffill(np.where(m.suspended, np.nan, raw_close) if m.suspended.any() else raw_close)  # only read
    if not daily:
        closes = closes[last_bar]
    prev_session_close = _shift_down(closes)
    del closes
    if not daily:
        prev_session_close = prev_session_close[m.session]
    if _factor_varies(bars):  # else the ratio is 1 everywhere (F_prev / F_now of one constant factor)
        prev_session_close *= _ex_rights_ratio(m, shared, raw_close, daily, last_bar)
    return prev_session_close


def _prev_close_rows(m: Market, bars: pl.DataFrame, space: _Space, raw_close: np.ndarray) -> np.ndarray | None:
    """`_prev_session_close` in a dense layout's (N, T) space, without a (T, N) panel and its transpose, when
    it is the previous bar's raw close: one bar per session, every close finite, nothing suspended and one
    constant adjustment factor (a minimal frame's). None otherwise."""
    if not space.nt or len(m.session) != int(m.session[-1]) + 1 or m.suspended.any():
        return None
    if not (np.isfinite(raw_close.min()) and np.isfinite(raw_close.max())) or _factor_varies(bars):
        return None
    out = np.empty(raw_close.shape)
    out[:, :1] = np.nan
    out[:, 1:] = raw_close[:, :-1]
    return out


def _shift_down(a: np.ndarray) -> np.ndarray:
    """`a` one row down, NaN in the first row (a new array)."""
    out = np.empty(a.shape)
    out[:1] = np.nan
    out[1:] = a[:-1]
    return out


def _ex_rights_ratio(m: Market, shared, raw_close: np.ndarray, daily: bool, last_bar: np.ndarray) -> np.ndarray | float:
    """F_prev / F_now per bar: turns the previous session's raw close into the ex-rights/ex-dividend reference
    price (除权除息参考价) when the adjustment factor changed since that close — the price limit of a bar
    without `pre_close` (minute bars never carry it) is computed from it. 1 where nothing changed."""
    factor = shared("adj_factor")
    if not np.isfinite(factor).any():
        return 1.0
    now = _ffill(factor)
    at_close = _ffill(np.where(m.suspended | ~np.isfinite(raw_close), np.nan, factor))
    if not daily:
        at_close = at_close[last_bar]
    prev = _shift_down(at_close)
    del at_close
    if not daily:
        prev = prev[m.session]
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(prev, now, out=prev)
        bad = ~np.isfinite(prev)
        bad |= ~(prev > 0)
    prev[bad] = 1.0
    return prev


def _rule_limits(
    m: Market, space: _Space, inst: pl.DataFrame, ref: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """`round_half_up_cent(ref * (1 ± pct))` with the day's limit % per (bar, symbol): by board and date
    (and ST flag) from the rulebook, NaN in a listing's first sessions without a limit (`no_limit_sessions`).
    The % is looked up per (bar, board) — `rb.limit_pct` is a function of board, ST flag and date — and
    multiplied in one pass (a row gather by blocks of rows on a dense layout, a masked pass per board else),
    instead of a (T, N) % panel. On a dense layout the lower limit is written over `ref`."""
    boards = inst["board"].to_list()
    kinds = list(dict.fromkeys(boards))
    T = len(m.dates)
    plain = np.empty((T, len(kinds)))
    for k, board in enumerate(kinds):
        plain[:, k] = rb.limit_pct(board, np.zeros(T, bool), m.dates)
    is_st = space.get("is_st", False, dtype=bool) if m.layout.bars["is_st"].any() else None
    st = np.zeros((T, len(kinds)))  # read only with ST flags
    if is_st is not None:
        for k, board in enumerate(kinds):
            st[:, k] = rb.limit_pct(board, np.ones(T, bool), m.dates)
    board_of = np.array(boards, dtype=object)
    masks = [board_of == board for board in kinds]
    free = []
    session_dates = _session_dates(m.dates)
    for n, (board, listed) in enumerate(zip(boards, inst["list_date"], strict=True)):
        sessions = rb.no_limit_sessions(board, listed)
        if sessions:
            first = np.searchsorted(session_dates, np.datetime64(listed, "D"))
            free.append((np.flatnonzero((m.session >= first) & (m.session < first + sessions)), n))

    def per_time(v: np.ndarray) -> np.ndarray:  # a (T,) vector broadcast along the space's time axis
        return v[None, :] if space.nt else v[:, None]

    def per_symbol(mask: np.ndarray) -> np.ndarray:
        return mask[:, None] if space.nt else mask[None, :]

    out = []
    code = np.array([kinds.index(b) for b in boards], dtype=np.intp)
    for sign in (1.0, -1.0):
        factors, st_factors = (1 + plain, 1 + st) if sign > 0 else (1 - plain, 1 - st)
        if space.nt:  # (N, T): one row per symbol, gathered from the (board, T) table (contiguous rows)
            # the lower limit overwrites `ref` (elementwise, each cell read before it is written; the caller
            # drops it): one 100 MB array fewer to fault in at market scale
            limit = np.empty(ref.shape) if sign > 0 else ref
            table, st_table = np.ascontiguousarray(factors.T), np.ascontiguousarray(st_factors.T)
            for rows, gathered in _row_blocks(ref.shape):  # a small gather buffer, reused block by block
                np.take(table, code[rows], axis=0, out=gathered, mode="clip")  # unbuffered
                if is_st is not None:
                    np.copyto(gathered, st_table[code[rows]], where=is_st[rows])
                np.multiply(ref[rows], gathered, out=limit[rows])
        else:
            limit = np.empty(ref.shape)
            for k, mask in enumerate(masks):
                np.multiply(ref, per_time(factors[:, k]), out=limit, where=per_symbol(mask))
                if is_st is not None:
                    np.multiply(ref, per_time(st_factors[:, k]), out=limit, where=per_symbol(mask) & is_st)
        _round_half_up_cent(limit)
        for rows, n in free:  # pct NaN there: the same operations on NaN (NaN whatever `ref` holds)
            at = (n, rows) if space.nt else (rows, n)
            limit[at] = rb.round_half_up_cent(ref[at] * (1 + np.nan if sign > 0 else 1 - np.nan))
        out.append(limit)
    return out[0], out[1]


_BLOCK_CELLS = 1 << 16  # cells of a row block's scratch buffer (512 kB of float64: stays in the cache)


def _row_blocks(shape: tuple[int, int]):
    """(row slice, scratch) over the rows of an (N, T) array in blocks of ~`_BLOCK_CELLS` cells; the scratch
    is one buffer, sliced to the block's rows (its content is not kept between blocks)."""
    rows, cols = shape
    step = max(1, _BLOCK_CELLS // max(cols, 1))
    scratch = np.empty((min(step, rows), cols))
    for lo in range(0, rows, step):
        hi = min(lo + step, rows)
        yield slice(lo, hi), scratch[: hi - lo]


def _round_half_up_cent(a: np.ndarray) -> None:
    """`rb.round_half_up_cent` in place: floor(a × 100 + 0.5 + 1e-7) / 100, the same operations in order."""
    a *= 100.0
    a += 0.5
    a += 1e-7
    np.floor(a, out=a)
    a /= 100.0


def _apply_fee_rates(m: Market, inst: pl.DataFrame, config: EngineConfig) -> None:
    stamp = config.stamp_duty_schedule or rb.STAMP_DUTY_SCHEDULE
    m.stamp_buy, m.stamp_sell = rb.stamp_rates(m.dates, stamp)
    schedule = config.transfer_fee_schedule or rb.TRANSFER_FEE_SCHEDULE
    exchanges = inst["exchange"].to_list()
    kinds = list(dict.fromkeys(exchanges))
    rates = [rb.transfer_rates(m.dates, exchange, schedule) for exchange in kinds]
    for attr, part in (("transfer_value", 0), ("transfer_share", 1)):
        columns = [r[part] for r in rates]
        if columns and all(c.tobytes() == columns[0].tobytes() for c in columns[1:]):  # one schedule: a view
            setattr(m, attr, np.broadcast_to(np.asarray(columns[0], float)[:, None], m.shape))
            continue
        table = np.stack([np.asarray(c, float) for c in columns], axis=1)  # (T, exchanges)
        panel = np.empty(m.shape)
        panel[...] = table[:, :1]
        bits = table.view(np.int64)
        differ = np.flatnonzero((bits != bits[:, :1]).any(axis=1))  # the dates on which the exchanges differ
        if differ.size:
            code = np.array([kinds.index(e) for e in exchanges], dtype=np.intp)
            panel[differ] = table[differ][:, code]
        setattr(m, attr, panel)


def _corporate_action_cash(factor: np.ndarray, mark: np.ndarray) -> np.ndarray | None:
    """Cash per held share on ex-dates: prev raw close × (1 − F_prev / F_t). Books dividends and bonus
    shares as cash at the ex-rights reference price, preserving the holder's value."""
    f = _ffill(factor)
    prev_f = np.vstack([f[:1], f[:-1]])
    prev_mark = np.vstack([mark[:1], mark[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        credit = np.where(np.isfinite(f) & np.isfinite(prev_f) & (f != prev_f), prev_mark * (1 - prev_f / f), 0.0)
    credit = np.nan_to_num(credit)
    return credit if credit.any() else None


def data_hash(bars: pl.DataFrame, runs: np.ndarray | None = None) -> str:
    """sha256 over the contract columns of the (normalised) bar frame, in column order. `runs`: the
    symbol column's `symbol_run_starts` when the caller has them (the same bytes, without a scan)."""
    digest = hashlib.sha256()
    for name in bars.columns:
        _feed_series(digest, bars[name], runs if name == "symbol" else None)
        digest.update(name.encode())
    return "sha256:" + digest.hexdigest()


def _feed_series(digest, series: pl.Series, starts: np.ndarray | None = None) -> None:
    """One column's bytes in `data_hash` (`starts`: a string column's `symbol_run_starts`, when known)."""
    if series.dtype == pl.Utf8 and starts is not None:
        digest.update("\x1f".join(_first_seen(series, None, starts)).encode())
        _update_run_ids(digest, starts)
    elif series.dtype == pl.Utf8:
        ids = _run_ids(series, starts)
        digest.update("\x1f".join(_first_seen(series, ids, starts)).encode())
        digest.update(np.ascontiguousarray(ids))
    elif series.dtype == pl.Float64 and len(series) and series.null_count() == len(series):
        _update_repeated(digest, np.float64(np.nan), len(series))  # `to_numpy`'s bytes, without building them
    elif series.dtype == pl.Boolean and len(series) and not series.null_count() and not series.any():
        _update_repeated(digest, np.False_, len(series))  # an all-False flag (the defaults): the same
    else:
        digest.update(np.ascontiguousarray(_physical(series)))


HASH_CHUNK_ROWS = 1 << 17  # rows per chunk of a column `early_data_hash` derives (1 MB of int64)

_DATED_CONSTANTS = {"pre_close": np.float64(np.nan), "up_limit": np.float64(np.nan),
                    "down_limit": np.float64(np.nan), "adj_factor": np.float64(1.0),
                    "suspended": np.False_, "is_st": np.False_}  # fmt: skip
"""The constant defaults of `contract._defaults`, as the values `to_numpy` gives for their columns."""


class EarlyHash:
    """`data_hash(normalize_bars(frame))` on the hashing thread, started before `frame` is normalised (so
    it overlaps the normalisation too) for a frame `contract._normalize_dated` takes when its rows are
    ordered — which only the normalisation finds out: `confirm` with its answer keeps the job, or stops it
    at the next column and hands back None (the caller then hashes the normalised frame as usual).

    The bytes are those of the normalised frame's columns, in its column order, computed from the input:
    the columns it keeps (symbol, Float64 prices, the given contract columns) are fed as they are (the same
    Series); `date` and `ts` are the same numpy day arithmetic, and cast prices and the default `amount`
    the same polars casts and product, on row chunks (elementwise, so the same values) that are fed as they
    are made; the constant defaults are fed as repeated blocks. None of the normalised frame's new columns
    is read: the defaults' scalar columns are never built and the derived ones are hashed from small
    chunks, not from the frame's fresh arrays."""

    def __init__(self, frame: pl.DataFrame, given: list[str]):
        self._stop = threading.Event()
        self._runs: Future = Future()
        self.job = _HASHER.submit(_dated_hash, frame, given, self._stop, self._runs)

    def confirm(self, dated: bool) -> Future | None:
        """The job when the normalised frame is `_normalize_dated`'s, else None (the job stops)."""
        if dated:
            return self.job
        self._stop.set()
        return None

    def symbol_runs(self) -> np.ndarray | None:
        """`symbol_run_starts` of the input's symbol column — the normalised frame's when `confirm` kept the
        job (the rows are then in the input's order) — as the hashing thread computes them first thing
        (the main thread would scan the 750,000 strings again); None if the job ended before."""
        return self._runs.result()

    def discard(self) -> None:
        self._stop.set()


def early_data_hash(frame: pl.DataFrame) -> EarlyHash | None:
    """An `EarlyHash` of a large frame with a symbol column that `_normalize_dated` may take, else None."""
    if frame.height <= SYNC_HASH_ROWS or "symbol" not in frame.schema:
        return None
    given = dated_inputs(frame)
    return None if given is None else EarlyHash(frame, given)


def _dated_hash(frame: pl.DataFrame, given: list[str], stop: threading.Event, runs: Future) -> str | None:
    """`EarlyHash`'s job: the digest, or None once `stop` is set (`runs` gets the symbol runs, or None)."""
    try:
        return _dated_digest(frame, given, stop, runs)
    finally:
        if not runs.done():
            runs.set_result(None)


def _dated_digest(frame: pl.DataFrame, given: list[str], stop: threading.Event, runs: Future) -> str | None:
    digest = hashlib.sha256()
    n = frame.height
    stamps = frame["date"]
    moments = stamps.to_numpy()  # datetime64 (a copy if the column has several chunks)
    chunks = range(0, n, HASH_CHUNK_ROWS)
    day_buf = np.empty(min(n, HASH_CHUNK_ROWS), np.int64)  # one buffer for every chunk's days (no fresh pages)
    date_buf = np.empty(day_buf.size, np.int32)

    def days(lo: int) -> np.ndarray:  # `_normalize_dated`'s days of rows [lo, lo + chunk)
        part = moments[lo : lo + HASH_CHUNK_ROWS]
        return floor_days(part, day_buf[: part.size])

    def floats(name: str, lo: int) -> pl.Series:
        return frame[name].slice(lo, HASH_CHUNK_ROWS).cast(pl.Float64)

    as_floats = {c: _float_chunks(frame[c]) for c in ("volume", "close")}  # None: polars casts the chunks

    for name in BAR_SCHEMA:
        if stop.is_set():
            return None
        source = name[4:] if name.startswith("raw_") and name not in given else name  # raw prices = prices
        if name == "symbol":
            symbol = frame["symbol"]
            starts = symbol_run_starts(symbol)
            runs.set_result(starts)
            _feed_series(digest, symbol, starts)
        elif name == "date" and stamps.dtype == pl.Date:
            _feed_series(digest, stamps)
        elif name == "date":
            for lo in chunks:
                day = days(lo)
                date = date_buf[: day.size]
                np.copyto(date, day, casting="unsafe")  # `astype(np.int32)`
                digest.update(date)
        elif name == "ts":
            for lo in chunks:
                day = days(lo)
                day *= _DAY_US
                day += _CLOSE_US
                digest.update(day)
        elif name in given:
            _feed_series(digest, frame[name])
        elif source in (*PRICE_COLUMNS, "volume"):
            if frame.schema[source] == pl.Float64:
                _feed_series(digest, frame[source])
            elif (chunk := as_floats.get(source) or _float_chunks(frame[source])) is not None:
                for lo in chunks:
                    digest.update(chunk(lo))
            else:
                for lo in chunks:
                    digest.update(np.ascontiguousarray(floats(source, lo).to_numpy()))
        elif name == "amount" and None not in as_floats.values():  # the default `volume * close`
            volume, close = as_floats["volume"], as_floats["close"]
            amount = np.empty(min(n, HASH_CHUNK_ROWS))
            for lo in chunks:
                v = volume(lo)
                digest.update(np.multiply(v, close(lo), out=amount[: v.size]))
        elif name == "amount":
            for lo in chunks:
                digest.update(np.ascontiguousarray((floats("volume", lo) * floats("close", lo)).to_numpy()))
        else:
            _update_repeated(digest, _DATED_CONSTANTS[name], n)
        digest.update(name.encode())
    return "sha256:" + digest.hexdigest()


def _float_chunks(series: pl.Series):
    """A function of `lo` giving rows [lo, lo + HASH_CHUNK_ROWS) of `series` as Float64 numpy values —
    `series.slice(lo, n).cast(pl.Float64).to_numpy()` — for a one-chunk integer or float column without
    nulls: views of a Float64 column's own values, else numpy's conversion (round to nearest, as polars'
    cast) into one reused buffer, with no polars Series per chunk (the hashing thread's casts of the
    bench's Int64 volume and its `volume × close` cost ~8 ms of CPU on 750,000 rows); None for other
    columns."""
    dtype = series.dtype
    if series.null_count() or series.n_chunks() != 1 or not (dtype.is_integer() or dtype in (pl.Float32, pl.Float64)):
        return None
    values = series.to_numpy()
    if dtype == pl.Float64:
        return lambda lo: values[lo : lo + HASH_CHUNK_ROWS]
    buf = np.empty(min(len(series), HASH_CHUNK_ROWS))

    def chunk(lo: int) -> np.ndarray:
        part = values[lo : lo + HASH_CHUNK_ROWS]
        out = buf[: part.size]
        np.copyto(out, part, casting="unsafe")
        return out

    return chunk


def _run_ids(series: pl.Series, starts: np.ndarray | None = None) -> np.ndarray:
    """`series.rle_id().to_numpy()` (uint32) without a polars query when the column has no nulls (from
    its `symbol_run_starts` when given: the run numbers repeated, no scan)."""
    if starts is not None:
        return np.repeat(np.arange(starts.size - 1, dtype=np.uint32), np.diff(starts))
    if len(series) == 0 or series.null_count():
        return series.rle_id().to_numpy()
    ids = np.zeros(len(series), np.uint32)
    np.cumsum(symbol_changes(series), out=ids[1:])
    return ids


def _update_run_ids(digest, starts: np.ndarray) -> None:
    """Feed the bytes of `_run_ids(series, starts)` (the run numbers as uint32, each repeated over its run)
    block by block from one reused buffer of at most 1 MB (a whole column's ids were 3 MB of fresh pages
    on a 750,000-row frame): within a block the ids are the first run's number plus a running count of the
    run starts inside it."""
    n = int(starts[-1])
    per = _HASH_BLOCK_BYTES // 4
    buf = np.empty(min(n, per), np.uint32)
    inner = starts[1:-1]  # starts after the first run's
    for lo in range(0, n, per):
        hi = min(lo + per, n)
        block = buf[: hi - lo]
        first = int(np.searchsorted(inner, lo, side="right"))  # the run of row lo
        block.fill(0)
        block[inner[first : np.searchsorted(inner, hi, side="left")] - lo] = 1
        np.cumsum(block, out=block)
        block += first
        digest.update(block)


def _physical(series: pl.Series) -> np.ndarray:
    """`series.to_physical().to_numpy()` without a polars query (`to_physical` runs one per call): the column
    itself for non-temporal dtypes (where it is the identity), a Date or Datetime cast to its integer type
    (zero-copy, nulls kept) for the others."""
    if isinstance(series.dtype, pl.Datetime):
        return series.cast(pl.Int64).to_numpy()
    if series.dtype == pl.Date:
        return series.cast(pl.Int32).to_numpy()
    if not series.dtype.is_temporal():
        return series.to_numpy()
    return series.to_physical().to_numpy()


def _first_seen(series: pl.Series, ids: np.ndarray, starts: np.ndarray | None = None) -> list:
    """`series.unique(maintain_order=True)`: the run values when no value comes back in a later run
    (`starts`: the runs' `symbol_run_starts`, else found from `ids`)."""
    if starts is not None:
        starts = starts[:-1]
    else:
        starts = np.flatnonzero(np.append(True, ids[1:] != ids[:-1])) if ids.size else ids.astype(np.int64)
    values = series[starts].to_list()
    return values if len(set(values)) == len(values) else series.unique(maintain_order=True).to_list()


_HASH_BLOCK_BYTES = 1 << 20  # 1 MB: few updates, so few GIL hand-overs on the hashing thread


def _update_repeated(digest, value: np.generic, n: int) -> None:
    """Feed the bytes of `n` copies of the numpy scalar `value` (what `to_numpy` gives for a constant
    column: an all-null Float64 column is NaNs, an all-False flag zero bytes) from one block of at most
    1 MB fed repeatedly: sha256 depends only on the bytes fed, not on how they are split."""
    size = value.itemsize
    per_block = max(_HASH_BLOCK_BYTES // size, 1)
    block = memoryview(np.full(min(n, per_block), value)).cast("B")
    for _ in range(n // per_block):
        digest.update(block)
    digest.update(block[: (n % per_block) * size])
