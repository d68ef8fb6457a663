"""Backtest results: equity curve, orders (incl. blocked), fills, round trips, end-of-day positions,
metrics and the reproducibility manifest; `write_artifacts` persists them as Parquet + CSV + JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from quant import metrics as mx
from quant.kernel import REASONS, KernelOut
from quant.market import Market


@dataclass
class BacktestResult:
    """Everything one run produced. Frames are polars; `metrics` and `manifest` are JSON-ready dicts."""

    equity: pl.DataFrame
    orders: pl.DataFrame
    fills: pl.DataFrame
    trades: pl.DataFrame
    positions: pl.DataFrame
    metrics: dict
    manifest: dict


def _last_event(T: int, shape: tuple, t: np.ndarray, where: tuple, values: np.ndarray, initial: float):
    """Carry event values forward in time: panel (T, *shape) of the latest value at or before each bar."""
    idx = np.full((T, *shape), -1, dtype=np.int64)
    idx[(t, *where)] = np.arange(t.size)
    np.maximum.accumulate(idx, axis=0, out=idx)
    return np.append(values, initial)[idx]


def position_panel(out: KernelOut) -> np.ndarray:
    """Shares held per bar, lane and symbol slot (T, L, K), from the kernel's position changes."""
    T, L, K = out.shape
    return _last_event(T, (L, K), out.pos_t, (out.pos_lane, out.pos_k), out.pos_value, 0.0)


def lane_marks(m: Market, sym_idx: np.ndarray) -> np.ndarray:
    """Marking prices (T, L, K) with 0 where unknown; broadcast when every lane trades the same symbols."""
    mark = np.nan_to_num(m.mark)
    if sym_idx.shape[0] > 1 and (sym_idx == sym_idx[0]).all():
        return mark[:, None, sym_idx[0]]
    return mark[:, sym_idx]


def equity_panel(out: KernelOut, m: Market, sym_idx: np.ndarray, initial: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar (cash, market value), each (T, L), from the kernel's events (marked at close)."""
    T, L, K = out.shape
    cash = _last_event(T, (L,), out.state_t, (out.state_lane,), out.state_cash, initial)
    pos, marks = position_panel(out), lane_marks(m, sym_idx)
    mv = pos[:, :, 0] * marks[:, :, 0] if K == 1 else (pos * marks).sum(axis=2)
    return cash, mv


class LanePanels:
    """Per-bar (cash, market value) for any block of lanes [lo, hi), from the kernel's events: the
    same values as `equity_panel` restricted to those lanes, without building the full (T, L) panels."""

    def __init__(self, out: KernelOut, m: Market, sym_idx: np.ndarray, initial: float):
        self.T, self.L, self.K = out.shape
        self.initial, self.sym_idx = initial, sym_idx
        mark = m.mark
        self.mark_finite = bool(mark.size and np.isfinite(mark.min()) and np.isfinite(mark.max()))
        self.mark = mark
        self.shared = sym_idx.shape[0] > 1 and (sym_idx == sym_idx[0]).all()
        N = mark.shape[1]
        self.sym_range = sym_idx.shape == (self.L, 1) and bool((sym_idx[:, 0] == np.arange(self.L)).all())
        self.all_sym = sym_idx.shape == (1, N) and bool((sym_idx[0] == np.arange(N)).all())
        self.last_pos: tuple | None = None  # (lo, hi, positions) of the latest non-joint block
        order = _lane_order(out.state_lane, self.L)
        self.cash = _by_lane(out.state_lane, self.L, out.state_t, out.state_cash, order=order)
        self.joint = out.state_pos is not None and self.K == 1
        if self.joint:  # shares after every snapshot: one index panel serves cash and shares
            self.cash = (*self.cash, out.state_pos[order])
        else:
            self.pos = _by_lane(out.pos_lane, self.L, out.pos_t, out.pos_value, out.pos_k)

    def block(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """(cash, market value), each (T, hi − lo)."""
        T, K = self.T, self.K
        if self.joint:
            bounds, _, _, _, values, shares = self.cash
            a, b = bounds[lo], bounds[hi]
            idx = _lane_index(self.cash, lo, hi, T)
            cash = np.append(values[a:b], self.initial)[idx]
            pos = np.append(shares[a:b], 0.0)[idx][:, :, None]
        else:
            cash = _block_last(self.cash, lo, hi, T, 1, self.initial)[0][:, :, 0]
            pos, spent = _block_last(self.pos, lo, hi, T, K, 0.0)
            self.last_pos = (lo, hi, pos)
            return cash, self._mv(lo, hi, pos, spent.view(np.float64))
        return cash, self._mv(lo, hi, pos)

    def _mv(self, lo: int, hi: int, pos: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
        """Market value (T, hi − lo) of `pos` (T, hi − lo, K) at the marks (0 where unknown); the marks
        are views of `m.mark` when no gather or NaN replacement is needed. `scratch`: a free buffer of
        `pos`'s shape for the products (saves touching fresh memory)."""
        K = self.K
        if self.mark_finite and (self.sym_range or (self.all_sym and lo == 0 and hi == 1)):
            marks = self.mark[:, lo:hi, None] if self.sym_range else self.mark[:, None, :]
        else:
            sym = self.sym_idx[0] if self.shared else self.sym_idx[lo:hi]
            marks = np.nan_to_num(self.mark[:, None, sym] if self.shared else self.mark[:, sym], copy=False)
        if K == 1:
            return pos[:, :, 0] * marks[:, :, 0]
        return (pos * marks if scratch is None else np.multiply(pos, marks, out=scratch)).sum(axis=2)

    def lane_major(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(cash, market value) of lanes [lo, hi), each lane-major (hi − lo, T): the values of `block`
        transposed, for one-slot lanes whose snapshots carry their shares (`joint`) in bar order; None
        otherwise. Each lane's runs of one snapshot become runs of its cash and shares directly
        (`np.repeat` of the values instead of an index panel, its transposing copy and two gathers)."""
        if not self.joint:
            return None
        T = self.T
        bounds, t, lane, _, values, shares = self.cash
        a, b = bounds[lo], bounds[hi]
        tb = t[a:b]
        key = lane[a:b] * T + tb
        if key.size >= 2 and not bool((key[1:] >= key[:-1]).all()):
            return None
        index, length = _snapshot_runs(bounds[lo : hi + 1] - a, tb, T)
        n = hi - lo
        cash = np.repeat(np.append(values[a:b], self.initial)[index], length).reshape(n, T)
        pos = np.repeat(np.append(shares[a:b], 0.0)[index], length).reshape(n, T)
        mark = self.mark
        if self.mark_finite and (self.sym_range or (self.all_sym and lo == 0 and hi == 1)):
            marks = mark[:, lo:hi].T if self.sym_range else mark[:, 0][None, :]
        elif self.shared:
            marks = np.nan_to_num(mark[:, self.sym_idx[0, 0]])[None, :]
        else:
            marks = np.nan_to_num(mark[:, self.sym_idx[lo:hi, 0]], copy=False).T
        return cash, np.multiply(pos, marks, out=pos)

    def lane_positions(self, lane: int) -> np.ndarray | None:
        """Shares (T, K) of `lane` when the latest block was exactly that lane (else None)."""
        if self.last_pos is not None and self.last_pos[:2] == (lane, lane + 1):
            return self.last_pos[2][:, 0]
        return None

    @staticmethod
    def positions(T: int, K: int, t: np.ndarray, k: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Shares (T, K) of one lane from its position changes."""
        return _last_event(T, (K,), t, (k,), values, 0.0)


def _snapshot_runs(bounds: np.ndarray, t: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    """`_latest_snapshot`'s runs, lane-major: the snapshot index of each run (−1 before a lane's first)
    and its length in bars; `np.repeat(index, length)` is the (lanes, T) panel."""
    n, k = bounds.size - 1, t.size
    lane_of = np.repeat(np.arange(n), np.diff(bounds))
    entry = np.arange(k) + lane_of + 1  # each lane: its "before the first snapshot" run, then one per snapshot
    first = bounds[:-1] + np.arange(n)
    start = np.zeros(n + k, np.int64)
    start[entry] = t
    index = np.full(n + k, -1, np.int64)
    index[entry] = np.arange(k)
    end = np.append(start[1:], T)
    end[first[1:] - 1] = T  # a lane's last run lasts to the end
    return index, end - start


def _latest_snapshot(bounds: np.ndarray, t: np.ndarray, T: int) -> np.ndarray:
    """Index (T, lanes) of each lane's latest snapshot at or before every bar, −1 before its first: the
    snapshots are grouped by lane (`bounds`, from 0) and in bar order within one (the lane kernel records a
    lane's k-th event at step k), so a lane's bars are runs of one index each — one `np.repeat` of the
    indices by run length, lane-major, then one transposing copy. The same values as a −1 panel with every
    snapshot's index at its bar, forward-filled by `np.maximum.accumulate` down the bars (a dependent chain
    per lane, ~3 ns a cell: twice the time)."""
    index, length = _snapshot_runs(bounds, t, T)
    runs = np.repeat(index, length).reshape(bounds.size - 1, T)
    return np.ascontiguousarray(runs.T)


def _lane_order(lane: np.ndarray, L: int) -> np.ndarray:
    """`np.argsort(lane, kind="stable")` for lane numbers in [0, L): on 16-bit keys when they fit, which
    numpy sorts by radix (the same permutation — a stable sort's is unique — ~8× faster than on int64)."""
    if L <= 32767:  # int16
        return np.argsort(lane.astype(np.int16), kind="stable")
    return np.argsort(lane, kind="stable")


def _by_lane(lane: np.ndarray, L: int, t: np.ndarray, values: np.ndarray, k: np.ndarray | None = None, order=None):
    """Event records grouped by lane (stable, so later records of one (t, lane, k) still win)."""
    order = _lane_order(lane, L) if order is None else order
    bounds = np.searchsorted(lane[order], np.arange(L + 1))
    return (bounds, t[order], lane[order], None if k is None else k[order], values[order])


def _block_last(grouped, lo: int, hi: int, T: int, K: int, initial: float) -> tuple[np.ndarray, np.ndarray]:
    """The latest value at or before each bar, (T, hi − lo, K), and the int64 index buffer of the same
    shape it was gathered with (free afterwards: callers may reuse it as scratch)."""
    bounds, t, lane, k, values = grouped
    a, b = bounds[lo], bounds[hi]
    if K == 1:
        idx = _lane_index(grouped, lo, hi, T)[:, :, None]
    else:
        idx = np.full((T, hi - lo, K), -1, dtype=np.int64)
        idx[t[a:b], lane[a:b] - lo, 0 if k is None else k[a:b]] = np.arange(b - a)
        np.maximum.accumulate(idx, axis=0, out=idx)
    return np.append(values[a:b], initial)[idx], idx


def _lane_index(grouped, lo: int, hi: int, T: int) -> np.ndarray:
    """Index (T, hi − lo) of each lane's latest record at or before every bar (−1 before the first), of
    one-slot records grouped by lane (`_by_lane`): `_latest_snapshot` when the records of every lane are in
    bar order (the kernels record in time order), else the forward-filled panel it reproduces."""
    bounds, t, lane = grouped[0], grouped[1], grouped[2]
    a, b = bounds[lo], bounds[hi]
    tb, lb = t[a:b], lane[a:b]
    key = lb * T + tb  # lanes ascending: in bar order within each lane exactly when the keys do not decrease
    if key.size < 2 or bool((key[1:] >= key[:-1]).all()):
        return _latest_snapshot(bounds[lo : hi + 1] - a, tb, T)
    idx = np.full((T, hi - lo), -1, dtype=np.int64)
    idx[tb, lb - lo] = np.arange(b - a)
    np.maximum.accumulate(idx, axis=0, out=idx)
    return idx


def session_ends(m: Market) -> np.ndarray:
    """Index of the last bar of every session."""
    return np.flatnonzero(np.append(m.session[1:] != m.session[:-1], True))


def session_days(m: Market, ends: np.ndarray) -> np.ndarray:
    """The session dates (`datetime64[D]`), i.e. `np.unique(m.dates)`: the bars are in time order and
    `m.session` numbers the distinct dates, so each session's date is its last bar's (a gather instead of
    a sort, ~0.4 ms a first call)."""
    return m.dates[ends]


def session_returns(equity: np.ndarray, ends: np.ndarray, initial: float, lane_major: bool = False) -> np.ndarray:
    """Per-session simple returns (S, L) of the equity (T, L); the first is against the initial cash.
    `lane_major`: `equity` is the transposed view of a lane-major (L, T) array, and so are the returns (the
    transposed view of a C-ordered (L, S) array; the same divisions)."""
    eq = equity if ends.size == equity.shape[0] else equity[ends]
    out = np.empty(eq.shape[::-1]).T if lane_major else np.empty(eq.shape)
    if eq.shape[0]:
        np.divide(eq[0], initial, out=out[0])
        np.divide(eq[1:], eq[:-1], out=out[1:])
        out -= 1
    return out


def orders_frame(out: KernelOut, m: Market, lane: int | None = None) -> pl.DataFrame:
    """Every order (filled, partial or rejected) with its reason and fee breakdown."""
    o = out.orders
    sel = np.ones(o["t"].size, bool) if lane is None else o["lane"] == lane
    order = np.lexsort((o["side"][sel], o["sym"][sel], o["t"][sel]))
    take = {k: v[sel][order] for k, v in o.items()}
    filled, req = take["filled"], take["requested"]
    status = np.where(filled <= 1e-9, "rejected", np.where(filled < req - 1e-6, "partial", "filled"))
    fees = take["comm"] + take["stamp"] + take["transfer"]
    value = np.where(filled > 0, filled * take["price"], 0.0)
    return pl.DataFrame(
        {
            "ts": m.ts[take["t"]],
            "date": m.dates[take["t"]],
            "symbol": _gather(m.symbols, take["sym"]),
            "side": _gather(["buy", "sell"], take["side"]),
            "target_qty": take["target"],
            "requested_qty": req,
            "filled_qty": filled,
            "price": np.where(filled > 0, take["price"], np.nan),
            "value": value,
            "commission": take["comm"],
            "stamp_duty": take["stamp"],
            "transfer_fee": take["transfer"],
            "fees": fees,
            "status": status,
            "reason": _gather([r or None for r in REASONS], take["reason"]),
        }
    ).with_columns(pl.col("price").fill_nan(None))


def _gather(values: list, idx: np.ndarray) -> pl.Series:
    """Strings by index without building Python objects per row (`Series[indices]` takes directly; `gather`
    goes through the expression engine, ~0.5 ms a call)."""
    return pl.Series(values, dtype=pl.Utf8)[np.asarray(idx, dtype=np.int64)]


def fills_frame(orders: pl.DataFrame) -> pl.DataFrame:
    """Executed quantities with fees and the signed cash flow."""
    fills = orders.filter(pl.col("filled_qty") > 0)
    flow = pl.when(pl.col("side") == "sell").then(pl.col("value")).otherwise(-pl.col("value")) - pl.col("fees")
    return fills.select(
        "ts", "date", "symbol", "side", pl.col("filled_qty").alias("qty"), "price", "value",
        "commission", "stamp_duty", "transfer_fee", "fees", flow.alias("cash_flow"),
    )  # fmt: skip


TRADE_SCHEMA = {"symbol": pl.Utf8, "entry_date": pl.Date, "exit_date": pl.Date, "quantity": pl.Float64,
                "entry_price": pl.Float64, "exit_price": pl.Float64, "pnl": pl.Float64, "return": pl.Float64,
                "holding_sessions": pl.Int64, "dividends": pl.Float64}  # fmt: skip
"""A round trip (flat → flat): shares bought over it, average buy and sell prices, net P&L after every fee
and including the cash dividends (and bonus shares booked as cash) received while holding, P&L over the money
paid for the shares (fees excluded from the base), sessions from first to last fill, and those dividends."""


def round_trips(fills: pl.DataFrame, sessions: dict) -> pl.DataFrame:
    """Closed round trips per symbol (flat → flat): net P&L after fees and holding sessions. An optional
    `dividend` column of the fills is the corporate-action cash received on the shares held after that fill
    until the symbol's next fill; it is summed into the trip's `dividends` and `pnl`."""
    schema = TRADE_SCHEMA
    if fills.is_empty():
        return pl.DataFrame(schema=schema)
    signed = pl.when(pl.col("side") == "buy").then(pl.col("qty")).otherwise(-pl.col("qty"))
    index = pl.DataFrame(
        {"date": list(sessions), "session": list(sessions.values())}, schema={"date": pl.Date, "session": pl.Int64}
    )
    legs = (
        fills.sort("symbol", "ts", "side", maintain_order=True)
        .with_columns(signed.cum_sum().over("symbol").alias("after"), signed.alias("signed"))
        .with_columns(((pl.col("after") - pl.col("signed")) <= 1e-9).cum_sum().over("symbol").alias("trip"))
        .join(index, on="date", how="left")
    )
    if "dividend" not in legs.columns:
        legs = legs.with_columns(pl.lit(0.0).alias("dividend"))
    buy = pl.col("side") == "buy"
    trips = legs.group_by("symbol", "trip", maintain_order=True).agg(
        pl.col("date").first().alias("entry_date"),
        pl.col("date").last().alias("exit_date"),
        pl.when(buy).then(pl.col("qty")).otherwise(0.0).sum().alias("quantity"),
        pl.when(buy).then(pl.col("value")).otherwise(0.0).sum().alias("bought"),
        pl.when(buy).then(0.0).otherwise(pl.col("value")).sum().alias("sold"),
        pl.col("cash_flow").sum().alias("pnl"),
        pl.col("dividend").sum().alias("dividends"),
        (pl.col("session").last() - pl.col("session").first()).alias("holding_sessions"),
        (pl.col("after").last() <= 1e-9).alias("closed"),
    )
    trips = trips.with_columns(
        (pl.col("bought") / pl.col("quantity")).alias("entry_price"),
        (pl.col("sold") / pl.col("quantity")).alias("exit_price"),
        (pl.col("pnl") + pl.col("dividends")).alias("pnl"),
    ).with_columns((pl.col("pnl") / pl.col("bought")).alias("return"))
    return trips.filter("closed").select(pl.col(c).cast(t) for c, t in schema.items())


def positions_frame(m: Market, pos_panel: np.ndarray, ends: np.ndarray, sym_idx: np.ndarray) -> pl.DataFrame:
    """End-of-day holdings: one row per session and held symbol."""
    T, K = pos_panel.shape
    daily = ends.size == T  # one bar per session: ends is every bar
    held = pos_panel if daily else pos_panel[ends]
    flat = np.flatnonzero(held > 1e-9)
    r, c = np.divmod(flat, K)
    bar = r if daily else ends[r]
    N = m.mark.shape[1]
    identity = K == N and bool((sym_idx == np.arange(N)).all())
    cols = c if identity else sym_idx[c]
    mark = m.mark
    if mark.flags.c_contiguous:
        close = mark.ravel().take(flat if daily and identity else bar * N + cols)
    else:  # a lane-major panel (`prepare_market(lane_major=True)`): the same cells without a C-ordered copy
        close = mark[bar, cols]
    shares = held.ravel().take(flat)
    days = m.dates.view(np.int64).astype(np.int32)[bar]  # days since the epoch: polars' Date, built directly
    return pl.DataFrame(
        {
            "date": pl.Series(days, dtype=pl.Int32).cast(pl.Date),
            "symbol": _gather(m.symbols, cols),
            "shares": shares,
            "close": close,
            "market_value": shares * close,
        }
    )


def lane_frames(out: KernelOut, m: Market, lane: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(orders, fills, round trips) of one lane, assembled in numpy (one polars frame each). Same
    values as `orders_frame` → `fills_frame` → `round_trips`, including the order of float additions
    (per-symbol sequential cumulative sums, Kahan-summed trip P&L like polars' group sum)."""
    o = out.orders
    if out.shape[1] == 1:
        take = o
    else:
        sel = o["lane"] == lane
        take = {k: v[sel] for k, v in o.items()}
    order = np.lexsort((take["side"], take["sym"], take["t"]))
    t, sym, side = take["t"][order], take["sym"][order], take["side"][order]
    filled, req, price = take["filled"][order], take["requested"][order], take["price"][order]
    comm, stamp, transfer = take["comm"][order], take["stamp"][order], take["transfer"][order]
    status = np.where(filled <= 1e-9, 0, np.where(filled < req - 1e-6, 1, 2))
    fees = comm + stamp + transfer
    is_filled = filled > 0
    value = np.where(is_filled, filled * price, 0.0)
    symbols = pl.Series(m.symbols, dtype=pl.Utf8)
    sides = pl.Series(["buy", "sell"], dtype=pl.Utf8)
    orders = pl.DataFrame(
        {
            "ts": m.ts[t],
            "date": m.dates[t],
            "symbol": symbols[sym.astype(np.int64, copy=False)],
            "side": sides[side.astype(np.int64)],
            "target_qty": take["target"][order],
            "requested_qty": req,
            "filled_qty": filled,
            "price": pl.Series(np.where(is_filled, price, np.nan), nan_to_null=True),
            "value": value,
            "commission": comm,
            "stamp_duty": stamp,
            "transfer_fee": transfer,
            "fees": fees,
            "status": pl.Series(["rejected", "partial", "filled"], dtype=pl.Utf8)[status.astype(np.int64, copy=False)],
            "reason": pl.Series([r or None for r in REASONS], dtype=pl.Utf8)[take["reason"][order].astype(np.int64)],
        }
    )
    f = np.flatnonzero(is_filled)
    ft, fsym, fside, fval, ffees = t[f], sym[f], side[f], value[f], fees[f]
    flow = np.where(fside == 1, fval, -fval) - ffees
    fills = pl.DataFrame(
        {
            "ts": m.ts[ft],
            "date": m.dates[ft],
            "symbol": symbols[fsym.astype(np.int64, copy=False)],
            "side": sides[fside.astype(np.int64)],
            "qty": filled[f],
            "price": price[f],
            "value": fval,
            "commission": comm[f],
            "stamp_duty": stamp[f],
            "transfer_fee": transfer[f],
            "fees": ffees,
            "cash_flow": flow,
        }
    )
    return orders, fills, _trips(m, ft, fsym, fside, filled[f], fval, flow)


def _trips(m: Market, t, sym, side, qty, value, flow) -> pl.DataFrame:
    """Closed round trips (flat → flat) per symbol from the lane's fills (see `round_trips`)."""
    if t.size == 0:
        return pl.DataFrame(schema=TRADE_SCHEMA)
    names = m.symbols
    rank = np.empty(len(names), np.int64)
    rank[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names))
    order = np.lexsort((side, t, rank[sym]))
    t, sym, qty, value, flow = t[order], sym[order], qty[order], value[order], flow[order]
    is_buy = side[order] == 0
    signed = np.where(is_buy, qty, -qty)
    n = t.size
    sym_start = np.flatnonzero(np.append(True, sym[1:] != sym[:-1]))
    after = np.empty(n)
    for a, b in zip(sym_start.tolist(), np.append(sym_start[1:], n).tolist(), strict=True):
        np.cumsum(signed[a:b], out=after[a:b])
    new = (after - signed) <= 1e-9
    new[sym_start] = True
    start = np.flatnonzero(new)
    end = np.append(start[1:], n) - 1
    length = end - start + 1
    legs = np.stack(
        [flow, _dividend_legs(m, t, sym, after), np.where(is_buy, qty, 0.0), np.where(is_buy, value, 0.0),
         np.where(is_buy, 0.0, value)]
    )  # fmt: skip
    pnl, dividends, quantity, bought, sold = _segment_sums(legs, start, length)
    closed = after[end] <= 1e-9
    first, last = start[closed], end[closed]
    quantity, bought, sold, dividends = quantity[closed], bought[closed], sold[closed], dividends[closed]
    pnl = pnl[closed] + dividends
    frame = pl.DataFrame(  # the numpy dtypes give TRADE_SCHEMA (a `schema=` argument costs a first call ~0.1 ms)
        {
            "symbol": pl.Series(names, dtype=pl.Utf8)[sym[first].astype(np.int64, copy=False)],
            "entry_date": m.dates[t[first]],
            "exit_date": m.dates[t[last]],
            "quantity": quantity,
            "entry_price": bought / quantity,
            "exit_price": sold / quantity,
            "pnl": pnl,
            "return": pnl / bought,
            "holding_sessions": (m.session[t[last]] - m.session[t[first]]).astype(np.int64),
            "dividends": dividends,
        }
    )
    return frame if frame.schema == TRADE_SCHEMA else frame.cast(TRADE_SCHEMA)


def _dividend_legs(m: Market, t: np.ndarray, sym: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Per fill (sorted by symbol, then bar): the corporate-action cash the kernel books on the `after`
    shares held from that fill's bar until the symbol's next fill (bars t_i < t <= t_next, as the kernel
    pays `ca_cash` before a bar's orders). Zero without corporate actions; the last fill of a symbol
    carries what an open position received after it (dropped with the open trip)."""
    if m.ca_cash is None:
        return np.zeros(t.size)
    cum = np.cumsum(m.ca_cash, axis=0)
    same = np.append(sym[1:] == sym[:-1], False)
    t_next = np.where(same, np.append(t[1:], 0), cum.shape[0] - 1)
    return after * (cum[t_next, sym] - cum[t, sym])


def _segment_sums(values: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Kahan sums of consecutive segments (as polars' group sum adds them), vectorised across segments and
    across the rows of `values` (one row per summed column: the same operations on every row)."""
    total, comp = np.zeros((values.shape[0], start.size)), np.zeros((values.shape[0], start.size))
    for j in range(int(length.max())):
        g = np.flatnonzero(length > j) if j else slice(None)
        y = values[:, start[g] + j] - comp[:, g]
        step = total[:, g] + y
        comp[:, g] = (step - total[:, g]) - y
        total[:, g] = step
    return total


# Share counts in the frames (floats, for the fractional share mode): exports write whole ones as integers.
SHARE_COLUMNS = frozenset({"quantity", "shares", "qty", "target_qty", "requested_qty", "filled_qty"})


def for_export(frame: pl.DataFrame, *, open_fills_on_daily_bars: bool = False) -> pl.DataFrame:
    """A result frame as people read it in an export (the frames and their Parquet stay as they are): share
    counts that are all whole as integers, and — for orders and fills of a daily run filled at the next
    open — no `ts`. The engine labels a daily bar with its close (15:00), which is not when an open fill
    happened; the fill's session is `date` and its price that session's open."""
    whole = [
        c
        for c in frame.columns
        if c in SHARE_COLUMNS
        and frame.schema[c].is_float()
        and bool(frame.select((pl.col(c).drop_nulls() % 1 == 0).all()).item())
    ]
    if whole:
        frame = frame.with_columns(pl.col(whole).cast(pl.Int64))
    if open_fills_on_daily_bars and {"ts", "date", "side"} <= set(frame.columns):
        frame = frame.drop("ts")
    return frame


def open_fills_on_daily_bars(result: BacktestResult) -> bool:
    """The run filled at the next open on daily bars (one equity row per session)."""
    equity = result.equity
    daily = equity.height > 0 and equity["date"].n_unique() == equity.height
    return result.manifest.get("fill") == "next_open" and daily


def write_artifacts(result: BacktestResult, out_dir: str | Path) -> list[Path]:
    """Write every frame as Parquet (as computed) and CSV (`for_export`: UTF-8 with a BOM), and metrics +
    manifest as JSON; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    daily_open = open_fills_on_daily_bars(result)
    for name in ("equity", "orders", "fills", "trades", "positions"):
        frame: pl.DataFrame = getattr(result, name)
        frame.write_parquet(out / f"{name}.parquet")
        shown = for_export(frame, open_fills_on_daily_bars=daily_open)
        shown.write_csv(out / f"{name}.csv", include_bom=True)  # the BOM: spreadsheets read UTF-8
        paths += [out / f"{name}.parquet", out / f"{name}.csv"]
    for name in ("metrics", "manifest"):
        path = out / f"{name}.json"
        path.write_text(json.dumps(getattr(result, name), indent=2, sort_keys=True, default=str) + "\n")
        paths.append(path)
    return paths


def json_metrics(values: dict) -> dict:
    """Clean a metrics dict (numpy → Python, NaN → None), dropping private keys."""
    return {k: mx.clean(v) for k, v in values.items() if not k.startswith("_")}
