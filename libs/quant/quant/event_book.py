"""The account of an event-driven run (`quant.event`): the vectorised kernel's state for one lane, the open
orders and their execution, slot for slot as `kernel_scalar._Lane._step` (its rounding, fees and cash
fitting are called, not copied), and the stream of placed orders that `quant.event.replay` re-executes."""

from __future__ import annotations

import math
import re
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from quant.event_view import Context, EventError, Order, RunView, _Scheduled
from quant.kernel import EPS, RETRY, KernelOut, R
from quant.kernel_scalar import _Lane
from quant.market import Market, value_prices
from quant.sdk import Columns
from quant.stops import StopBook

if TYPE_CHECKING:
    from quant.config import EngineConfig

_RETRY = [bool(x) for x in RETRY]
_SUSP, _UP, _DOWN, _T1 = R["SUSPENDED"], R["LIMIT_UP_LOCKED"], R["LIMIT_DOWN_LOCKED"], R["T1_LOCKED"]
_LOT0, _VCAP, _CASH, _NOLIMIT = (
    R["LOT_ROUNDED_TO_ZERO"],
    R["VOLUME_CAP"],
    R["INSUFFICIENT_CASH"],
    R["LIMIT_PRICE_NOT_REACHED"],
)
_REASON_NAMES = {v: k for k, v in R.items()}
_TAG = re.compile(r"[A-Za-z0-9_]{1,32}")  # a strategy's own order label (`reason=` / `tag=`)


def check_tag(tag: Any) -> str | None:
    """A strategy's order label, or None; anything but 1–32 characters of [A-Za-z0-9_] is refused."""
    if tag is None:
        return None
    if not isinstance(tag, str) or _TAG.fullmatch(tag) is None:
        raise ValueError(f"an order's reason/tag is 1 to 32 characters of A-Z, a-z, 0-9 and _ (got {tag!r:.40})")
    return tag


@dataclass
class _Open:
    """An order the book holds: resolved on its execution bar, retried while a retriable reason blocks it."""

    order: Order
    k: int
    kind: str
    amount: float
    limit: float | None


class EventRun(RunView):
    """One event-driven run: the account (the vectorised kernel's state for one lane), the open orders,
    the stream of placed orders, and — when `spec` is given — the strategy driving it."""

    def __init__(self, m: Market, config: EngineConfig, bars: pl.DataFrame, instruments=None):
        self.m, self.cfg, self.r, self.bars = m, config, config.rules(), bars
        T, N = m.shape
        self.T, self.N, self.symbols = T, N, m.symbols
        self.index = {s: i for i, s in enumerate(m.symbols)}
        self.lane = _Lane(m, config, np.arange(N), "weight")  # the kernel's rounding, fees, cash fitting
        self.lane.recs, self.lane.pc, self.lane.session = array("d"), array("d"), m.session.tolist()
        self.vpx = value_prices(m)
        self.session = m.session
        self.cash = float(config.initial_cash)
        self.pos = [0.0] * N
        self.pos_np = np.zeros(N)
        self.bought = [0.0] * N
        self.bought_sess = [-1] * N
        self.cost_basis = [0.0] * N
        self.ca_paid = 0.0
        self.st_t: list[int] = []
        self.st_c: list[float] = []
        self.open: dict[int, _Open] = {}  # by symbol slot
        self.pending: list[_Open | tuple] = []  # placed since the last step, in placement order
        self.all_orders: dict[int, Order] = {}
        self.updated: list[Order] = []
        self.stream: list[tuple] = []
        self._share_orders: dict[int, bool] = {}  # by slot: whether its last order was in shares
        self.rec_tags: list[str | None] = []  # the label of each record of `lane.recs`, in record order
        self.next_step = 0
        self.seen = -1
        self.t = 0
        self._ids = 0
        self._instruments = instruments
        self._instrument_rows: list[dict] | None = None
        self._row_panels: tuple | None = None
        self._columns: Columns | None = None
        self._smas: dict[tuple, np.ndarray] = {}
        self._latest: tuple[int, list[int]] | None = None
        self._now: tuple[int, list[int]] | None = None
        self._starts: list[int] | None = None
        self._dts: list | None = None
        self._fields: dict[str, np.ndarray] = {}
        self._scheduled: list[_Scheduled] = []
        self.context: Context | None = None
        self._hl: dict[str, np.ndarray] = {}
        # engine-level exit rules (`quant.stops`): the kernels' StopBook, judged on every step
        self.stops = StopBook(m, config, np.arange(N)[None, :], R["STOP_LOSS"]) if config.exits else None

    # --- simulation ------------------------------------------------------------------------------

    def step(self, t: int) -> None:
        """Execute the open orders at bar t (`kernel_scalar._Lane._step` for one lane, per order kind)."""
        admitted = [item[1] if isinstance(item, tuple) else item.k for item in self.pending]
        for item in self.pending:
            self._admit(item)
        self.pending = []
        self.next_step = t + 1
        if self.stops is not None:
            self._fire_exits(t, admitted)
        ca = self.m.ca_cash
        paid_any = False
        if ca is not None and ca[t].any():
            paid = float((self.pos_np * ca[t]).sum()) if self.N > 1 else self.pos[0] * float(ca[t, 0])
            self.cash += paid
            self.ca_paid += paid
            paid_any = True
        if self.open:
            self._execute(t, [self.open[k] for k in sorted(self.open)])
        elif not paid_any:
            return
        self.st_t.append(t)
        self.st_c.append(self.cash)

    def _fire_exits(self, t: int, changed: list[int]) -> None:
        """The exits of the engine's exit rules executing at bar t (`StopBook.fire`, as the kernels call
        it): each replaces its symbol's open order by a sell of the whole position, which carries the exit's
        reason (STOP_LOSS, TRAILING_STOP, TAKE_PROFIT) when it fills and is retried while blocked. A new
        order of the strategy for a symbol whose exit is still blocked cancels the exit (`changed`). Exits
        are the engine's, not the strategy's: they are not in the order stream (a replay fires them again)."""
        for k in self.stops.fire(0, t, sorted(set(changed))):
            self._ids += 1
            # flat in the terms of the symbol's last order, as the kernel of a shares or a weight strategy
            kind = "target_shares" if self._share_orders.get(k, False) else "target_percent"
            order = Order(self._ids, self.symbols[k], kind, 0.0, None, self.current_dt())
            self.all_orders[order.id] = order
            old = self.open.get(k)
            if old is not None:
                self._finish(old.order, "replaced")
            self.open[k] = _Open(order, k, kind, 0.0, None)

    def _admit(self, item) -> None:
        if isinstance(item, tuple):  # a cancellation
            old = self.open.pop(item[1], None)
            if old is not None:
                self._finish(old.order, "cancelled")
            return
        old = self.open.get(item.k)
        if old is not None:
            self._finish(old.order, "replaced")
        self.open[item.k] = item
        self._share_orders[item.k] = item.kind in ("target_shares", "value")

    def _finish(self, order: Order, status: str) -> None:
        order.status = status
        self.updated.append(order)

    def _execute(self, t: int, slots: list[_Open]) -> None:
        r, m, lane = self.r, self.m, self.lane
        ks = [o.k for o in slots]
        pos, cash = self.pos, self.cash
        px = [m.exec_px[t, k].item() for k in ks]
        vpx = [self.vpx[t, k].item() for k in ks]
        fees_ex = lane.fees_on and r.exchange_fees
        tv = [m.transfer_value[t, k].item() for k in ks] if fees_ex else None
        ts = [m.transfer_share[t, k].item() for k in ks] if fees_ex else None
        p0 = [pos[k] for k in ks]
        equity = None
        if any(o.kind in ("target_percent", "target_value", "value") for o in slots):
            equity = (
                cash + pos[0] * float(self.vpx[t, 0])
                if self.N == 1
                else cash + float((self.pos_np * self.vpx[t]).sum())
            )
        delta = []
        for j, o in enumerate(slots):
            if o.kind == "target_shares":
                delta.append(o.amount - p0[j])
                continue
            if o.kind == "target_percent":
                gap = o.amount * equity - p0[j] * vpx[j]
            elif o.kind == "target_value":
                gap = o.amount - p0[j] * vpx[j]
            else:  # "value": a relative amount, fixed in shares once it is first resolved
                gap = o.amount
            d = self._gap_shares(gap, px[j], vpx[j], t, tv[j] if fees_ex else m.transfer_value[t, ks[j]].item())
            if o.kind == "value":
                o.kind, o.amount = "target_shares", p0[j] + d
            delta.append(d)
        cur = list(p0)
        self._sells(t, slots, ks, px, tv, ts, delta, cur)
        self._buys(t, slots, ks, px, tv, ts, delta, cur)
        for j, o in enumerate(slots):
            if not (delta[j] < -EPS or delta[j] > EPS):  # already at the target: nothing to trade
                self.open.pop(o.k, None)
                self._finish(o.order, "done")

    def _gap_shares(self, gap: float, p: float, vpx: float, t: int, tvj: float) -> float:
        """`Simulator._delta` for one weight slot: a value gap in shares (buys at the cost incl. fees)."""
        base = (p if math.isfinite(p) else vpx) * (1 + self.r.slippage)
        if self.lane.fees_on:
            base = base * (1 + (self.r.commission_rate + self.lane.stamp_buy[t] + tvj))
        div = base if gap > 0 else vpx
        d = gap / div if div != 0.0 else math.nan
        return d if math.isfinite(d) else 0.0

    def _limit_price(self, o: _Open, t: int, price: float, buy: bool) -> float | None:
        """The fill price of a limit order on bar t (None: the bar never reached the limit)."""
        if o.limit is None:
            return price
        if (price <= o.limit) if buy else (price >= o.limit):
            return price
        column = ("low" if buy else "high") if self.r.price_basis != "raw" else ("raw_low" if buy else "raw_high")
        extreme = self._hl_panel(column)[t, o.k].item()
        return o.limit if ((extreme <= o.limit) if buy else (extreme >= o.limit)) else None

    def _hl_panel(self, column: str) -> np.ndarray:
        if column not in self._hl:
            self._hl[column] = self.m.layout.panel(column)
        return self._hl[column]

    def _sells(self, t, slots, ks, px, tv, ts, delta, cur) -> None:
        r, lane, cfg = self.r, self.lane, self.cfg
        if not any(d < -EPS for d in delta):
            return
        sess = self.session[t]
        tot = 0.0
        fees_ex = lane.fees_on and r.exchange_fees
        for j, o in enumerate(slots):
            k, pj = ks[j], cur[j]
            if not delta[j] < -EPS:
                if 0.0 < pj <= 1e-6:  # `Simulator._sells` with want 0 closes a dust position out
                    cur[j] = pj - pj
                    self._set_pos(k, t, cur[j])
                    if self.stops is not None:
                        self.stops.on_fill(0, k, t, pj, 0.0, cur[j], False)
                continue
            want = -delta[j]
            if want >= pj - 1e-6:
                req = pj
            elif r.fractional:
                req = want if want > 0.0 or want != want else 0.0
            else:
                req = lane._round(want, k)
            p = px[j]
            reason = 0
            if not math.isfinite(p):
                reason = _SUSP
            elif lane.limits_on and self.m.sell_block[t, k]:
                reason = _DOWN
            q = req if reason == 0 else 0.0
            if r.t1 and reason == 0:
                sellable = pj - (self.bought[k] if self.bought_sess[k] == sess else 0.0)
                if q > sellable + EPS:
                    reason = _T1
                    q = pj if sellable >= pj - EPS else lane._round(sellable, k)
            if reason == 0 and req <= EPS:
                reason = _LOT0
            if cfg.volume_cap is not None:
                cap = lane._round(cfg.volume_cap * self.m.volume[t, k].item(), k)
                if q > cap + EPS and reason == 0:
                    reason = _VCAP
                    q = cap
            q = q if q <= pj or q != q else pj
            if self.stops is not None and reason == 0 and self.stops.code[0, k]:
                reason = int(self.stops.code[0, k])  # the exit's own reason (`quant.stops`)
            price = p * (1 - r.slippage)
            if o.limit is not None and reason == 0:
                limited = self._limit_price(o, t, price, buy=False)
                if limited is None:
                    reason, q = _NOLIMIT, 0.0
                else:
                    price = limited
            value = q * price if q > 0 else 0.0
            if lane.fees_on:
                fees = lane._fees(value, q, t, tv[j] if fees_ex else 0.0, ts[j] if fees_ex else 0.0, True)
                tot += value - fees[0] - fees[1] - fees[2]
            else:
                fees = (0.0, 0.0, 0.0)
                tot += value
            closes = q > 0 and pj - q <= 1e-9
            cur[j] = pj - q
            lane.recs.extend((t, k, 1, abs(want), req, q, price, fees[0], fees[1], fees[2], reason, closes))
            self.rec_tags.append(o.order.tag)
            if q > 0:
                self.cost_basis[k] = self.cost_basis[k] * (cur[j] / pj) if cur[j] > 1e-9 else 0.0
                self._set_pos(k, t, cur[j])
                if self.stops is not None:
                    self.stops.on_fill(0, k, t, q, price, cur[j], False)
            self._report(o, "sell", req, q, price, sum(fees), reason)
        self.cash = self.cash + tot

    def _buys(self, t, slots, ks, px, tv, ts, delta, cur) -> None:
        r, lane, cfg = self.r, self.lane, self.cfg
        buy = [d > EPS for d in delta]
        if not any(buy):
            return
        n = len(ks)
        if r.fractional:
            req = [(d if d > 0.0 or d != d else 0.0) if b else 0.0 for d, b in zip(delta, buy, strict=True)]
        else:
            req = [lane._round(delta[j], ks[j]) if buy[j] else 0.0 for j in range(n)]
        reason, q = [0] * n, [0.0] * n
        price = [px[j] * (1 + r.slippage) for j in range(n)]
        for j in range(n):
            if buy[j]:
                if not math.isfinite(px[j]):
                    reason[j] = _SUSP
                elif lane.limits_on and self.m.buy_block[t, ks[j]]:
                    reason[j] = _UP
                if reason[j] == 0 and req[j] <= EPS:
                    reason[j] = _LOT0
                if reason[j] == 0 and slots[j].limit is not None:
                    limited = self._limit_price(slots[j], t, price[j], buy=True)
                    if limited is None:
                        reason[j] = _NOLIMIT
                    else:
                        price[j] = limited
            q[j] = req[j] if reason[j] == 0 else 0.0
            if cfg.volume_cap is not None and buy[j]:
                cap = lane._round(cfg.volume_cap * self.m.volume[t, ks[j]].item(), ks[j])
                if q[j] > cap + EPS and reason[j] == 0:
                    reason[j] = _VCAP
                    q[j] = cap
        fees_ex = lane.fees_on and r.exchange_fees
        q2 = lane._fit_cash(q, price, self.cash, t, ks, tv, ts)
        tot = 0.0
        sess = self.session[t] if r.t1 else 0
        for j in range(n):
            k = ks[j]
            if q2[j] < q[j] - EPS and reason[j] == 0:
                reason[j] = _CASH
            qj = q2[j]
            value = qj * price[j] if qj > 0 else 0.0
            if lane.fees_on:
                fees = lane._fees(value, qj, t, tv[j] if fees_ex else 0.0, ts[j] if fees_ex else 0.0, False)
                if buy[j]:
                    tot += value + fees[0] + fees[1] + fees[2]
            else:
                fees = (0.0, 0.0, 0.0)
                if buy[j]:
                    tot += value
            if r.t1 and qj > 0:
                self.bought[k] = (self.bought[k] if self.bought_sess[k] == sess else 0.0) + qj
                self.bought_sess[k] = sess
            cur[j] = cur[j] + qj
            if buy[j]:
                lane.recs.extend(
                    (t, k, 0, abs(delta[j]), req[j], qj, price[j], fees[0], fees[1], fees[2], reason[j], False)
                )
                self.rec_tags.append(slots[j].order.tag)
                if qj > 0:
                    self.cost_basis[k] += value + fees[0] + fees[1] + fees[2]
                self._report(slots[j], "buy", req[j], qj, price[j], sum(fees), reason[j])
            if qj > 0:
                self._set_pos(k, t, cur[j])
                if self.stops is not None:
                    self.stops.on_fill(0, k, t, qj, price[j], cur[j], True)
        cash = self.cash - tot
        self.cash = cash if cash >= 0.0 or cash != cash else 0.0

    def _set_pos(self, k: int, t: int, value: float) -> None:
        self.pos[k] = value
        self.pos_np[k] = value
        self.lane.pc.extend((k, t, value))

    def _report(self, o: _Open, side: str, req: float, q: float, price: float, fees: float, reason: int) -> None:
        """Update the strategy's view of `o` after an attempt; retriable refusals keep it open."""
        order = o.order
        if q > 0:
            total = order.filled + q
            order.price = (order.price * order.filled + price * q) / total
            order.filled, order.fees = total, order.fees + fees
        order.side = side
        order.reason = _REASON_NAMES.get(reason) if reason else None
        retry = _RETRY[reason] if reason < len(_RETRY) else False
        if retry:
            order.status = "open"
        else:
            self.open.pop(o.k, None)
            order.status = (
                "filled" if q >= req - 1e-6 and q > 0 else ("partly_filled" if order.filled > 0 else "rejected")
            )
        self.updated.append(order)

    def close_unexecuted(self) -> None:
        """Orders placed on the last bar never execute: the run has ended."""
        for item in self.pending:
            if not isinstance(item, tuple):
                self._finish(item.order, "cancelled")
        self.pending = []

    def order_tags(self) -> pl.Series | None:
        """The labels of the run's orders in the orders frame's row order (`results.orders_frame` sorts the
        records by bar, symbol and side), or None when the strategy labelled none."""
        if not any(tag is not None for tag in self.rec_tags):
            return None
        recs = np.frombuffer(self.lane.recs, dtype=np.float64).reshape(-1, 12)
        order = np.lexsort((recs[:, 2], recs[:, 1], recs[:, 0]))
        return pl.Series("tag", self.rec_tags, dtype=pl.Utf8).gather(order)

    def kernel_out(self) -> KernelOut:
        """The run's raw records, shaped as the vectorised kernel's (one lane over every symbol)."""
        return self.lane._output(self.T, self.N, self.st_t, self.st_c, self.ca_paid)

    # --- orders --------------------------------------------------------------------------------------

    def order(self, kind: str, security: str, amount: Any, price: Any = None, tag: Any = None) -> Order:
        """Place an order (see `quant.event_sdk`): checked at once, executed at the next step."""
        what = f"{_API_NAMES[kind]}({security!r}, {amount!r})"
        try:
            tag = check_tag(tag)
        except ValueError as exc:
            raise EventError(f"bar {self.ts_text(self.t)}: {what}: {exc}") from None
        k = self.symbol_index(security, what)
        value = self._number(amount, what, "amount")
        limit = None if price is None else self._number(price, what, "price")
        if limit is not None and limit <= 0:
            raise EventError(f"bar {self.ts_text(self.t)}: {what}: the limit price must be positive, got {limit}")
        if kind.startswith("target") and value < 0:
            raise EventError(f"bar {self.ts_text(self.t)}: {what}: a target cannot be negative (no short selling)")
        if kind == "target_percent" and value > 1 + 1e-9:
            raise EventError(f"bar {self.ts_text(self.t)}: {what}: a target percent is a fraction of 0..1")
        if kind == "shares":
            held = self.pos[k]  # what a relative order adds to (a pending order of k is replaced)
            if held + value < -1e-9:
                raise EventError(
                    f"bar {self.ts_text(self.t)}: {what}: selling more than the {held:g} shares held (no short selling)"
                )
            return self.place("target_shares", k, held + value, limit, shown=("shares", value), tag=tag)
        return self.place(kind, k, value, limit, tag=tag)

    def place(
        self, kind: str, k: int, value: float, limit: float | None, shown: tuple | None = None, tag: str | None = None
    ) -> Order:
        """Queue an order for the next step and record it in the stream."""
        self._ids += 1
        shown_kind, shown_amount = shown or (kind, value)  # what the strategy asked for
        order = Order(self._ids, self.symbols[k], shown_kind, shown_amount, limit, self.current_dt(), tag=tag)
        self.all_orders[order.id] = order
        self._drop_pending(k, "replaced")
        self.pending.append(_Open(order, k, kind, value, limit))
        self.stream.append((self.next_step, k, value, kind, limit, tag))
        return order

    def _drop_pending(self, k: int, status: str) -> None:
        """Take symbol k's orders placed since the last step out of the queue (a later one replaces them)."""
        keep = []
        for p in self.pending:
            if not isinstance(p, tuple) and p.k == k:
                self._finish(p.order, status)
            else:
                keep.append(p)
        self.pending = keep

    def cancel(self, order: Any) -> None:
        """Cancel the live order of `order`'s symbol (one live order per symbol); a done order is left alone."""
        oid = order.id if isinstance(order, Order) else order
        found = self.all_orders.get(oid) if isinstance(oid, int) else None
        if found is None:
            raise EventError(f"bar {self.ts_text(self.t)}: cancel_order: no order {oid!r}")
        if found.status == "open":
            self.cancel_slot(self.index[found.security])

    def cancel_slot(self, k: int) -> None:
        self._drop_pending(k, "cancelled")
        self.pending.append(("cancel", k))
        self.stream.append((self.next_step, k, math.nan, "cancel", None, None))

    def open_orders(self) -> dict:
        live = {o.order.id: o.order for o in self.open.values()}
        live.update({p.order.id: p.order for p in self.pending if not isinstance(p, tuple)})
        return live


_API_NAMES = {
    "shares": "order_shares",
    "value": "order_value",
    "target_shares": "order_target_shares",
    "target_value": "order_target_value",
    "target_percent": "order_target_percent",
}
