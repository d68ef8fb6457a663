"""The execution simulator: a batched numpy kernel over many independent accounts ("lanes"), each
trading K symbols.

State is 2-D (lanes × symbols). Lanes are independent, so the k-th event of every lane is processed
in one vectorised step (a grid of combinations on one symbol = C lanes × 1 symbol; 300 independent
runs = 300 lanes × 1 symbol; a portfolio = 1 lane × N symbols, cash shared). An event is a bar where
a lane's target changed, an order is still pending (blocked by a limit, suspension, T+1 or volume
cap) or a corporate action pays cash; bars without events are never visited — holdings are marked to
market afterwards as whole arrays (`results.equity_panel`).

Per step only the active (lane, symbol) slots are touched, as flat arrays: corporate-action cash,
sells (T+1, limit-down, lots, odd-lot close-out, volume cap) then buys (limit-up, lots, volume cap,
scaled to cash after fees). Cash and positions never go negative. Every per-(time, symbol) input
(fill prices, limit blocks, fee rates, lot sizes) is precomputed by `market.prepare_market`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from quant.market import Market, value_prices
from quant.stops import CODES as STOP_CODES
from quant.stops import StopBook

if TYPE_CHECKING:
    from quant.config import EngineConfig

REASONS = (
    "",
    "SUSPENDED",
    "LIMIT_UP_LOCKED",
    "LIMIT_DOWN_LOCKED",
    "T1_LOCKED",
    "LOT_ROUNDED_TO_ZERO",
    "VOLUME_CAP",
    "INSUFFICIENT_CASH",
    *STOP_CODES,  # a filled exit of `quant.stops`
    "LIMIT_PRICE_NOT_REACHED",  # an event-driven limit order whose bar never traded through its price
)
R = {name: i for i, name in enumerate(REASONS)}
RETRY = np.array([False, True, True, True, True, False, True, False, False, False, False, False])
EPS = 1e-9
ORDER_FIELDS = (
    "lane",
    "t",
    "sym",
    "side",
    "target",
    "requested",
    "filled",
    "price",
    "comm",
    "stamp",
    "transfer",
    "reason",
    "closes",
)


@dataclass
class KernelOut:
    """Raw simulation output: order records (one array per field), per-event cash snapshots
    (lane, bar, cash) and position changes (lane, symbol slot, bar, shares after)."""

    orders: dict[str, np.ndarray]
    state_lane: np.ndarray
    state_t: np.ndarray
    state_cash: np.ndarray
    pos_lane: np.ndarray
    pos_k: np.ndarray
    pos_t: np.ndarray
    pos_value: np.ndarray
    ca_paid: np.ndarray
    shape: tuple[int, int, int]
    state_pos: np.ndarray | None = None  # one-symbol lanes: shares held after each state snapshot


def round_cent(x: np.ndarray) -> np.ndarray:
    """Round to 0.01 half up (same as `rulebook.round_half_up_cent`, inlined for the hot loop)."""
    return np.floor(x * 100.0 + (0.5 + 1e-7)) / 100.0


def lot_round(q: np.ndarray, lot_min: np.ndarray, lot_step: np.ndarray) -> np.ndarray:
    """Round a quantity down to a valid order size: ≥ lot_min, then lot_step increments (0 if below);
    lot_step 0 means fractional shares."""
    if not lot_step.any():
        return np.maximum(q, 0.0)
    steps = np.floor((q - lot_min) / np.where(lot_step > 0, lot_step, 1.0) + 1e-9)
    return np.where(q >= lot_min - 1e-9, lot_min + steps * lot_step, 0.0)


class Simulator:
    """Runs the kernel for targets of shape (T, L, K) over `sym_idx` (L, K) columns of a Market."""

    def __init__(self, m: Market, config: EngineConfig, sym_idx: np.ndarray, mode: str):
        self.m, self.cfg, self.rules, self.mode = m, config, config.rules(), mode
        self.sym = sym_idx
        r = self.rules
        self.lot_min, self.lot_step = m.lot_min[sym_idx], m.lot_step[sym_idx]
        self.fees_on = bool(r.exchange_fees or r.commission_rate or r.min_commission)
        self.limits_on = bool(m.buy_block.any() or m.sell_block.any())
        self.weight_px = m.exec_px if r.slippage == 0 else None
        self.value_px = value_prices(m)
        self.records: list[tuple] = []
        self.states: list[tuple] = []
        self.pos_changes: list[tuple] = []
        self.stops = StopBook(m, config, sym_idx, R["STOP_LOSS"]) if config.exits else None

    def run(self, targets: np.ndarray, change: np.ndarray) -> KernelOut:
        """Simulate every lane over all bars and return the raw records."""
        T, L, K = targets.shape
        self.cash = np.full(L, float(self.cfg.initial_cash))
        self.pos = np.zeros((L, K))
        self.tw = np.zeros((L, K))
        self.dirty = np.zeros((L, K), bool)
        self.bought = np.zeros((L, K))
        self.bought_sess = np.full((L, K), -1)
        self.ca_paid = np.zeros(L)
        next_event = self._schedule(change)
        lanes = np.arange(L)
        cur = next_event(np.zeros(L, np.int64), lanes)
        while True:
            a = lanes[cur < T] if L > 1 else lanes[: int(cur[0] < T)]
            if a.size == 0:
                break
            t = cur[a]
            self._step(a, t, targets, change[t, a])
            dirty = self.dirty[a].any(1)
            cur[a] = np.where(dirty, t + 1, next_event(t + 1, a))
            if self.stops is not None:
                cur[a] = np.minimum(cur[a], self.stops.next[a])
        return self._output(T, L, K)

    def _schedule(self, change: np.ndarray):
        """`next_event(t, lanes)`: each lane's first bar at or after `t` (≤ T) with a target change (or
        corporate-action cash), T when none is left. The event bars are kept as sorted lane-major keys
        `lane · T + bar` and looked up by binary search (instead of a (T + 1, L) panel of next events, a
        backward running minimum: ~3 ns a cell and 8 bytes a cell of fresh memory)."""
        T = change.shape[0]
        evt = change.any(2)
        if self.m.ca_cash is not None:
            evt |= (self.m.ca_cash[:, self.sym] != 0).any(2)
        keys = np.flatnonzero(evt.T)  # ascending: lane-major (lane, bar) pairs
        last = keys.size - 1

        def next_event(t: np.ndarray, lanes: np.ndarray) -> np.ndarray:
            if last < 0:
                return np.full(t.shape, T, np.int64)
            base = lanes * T
            i = np.searchsorted(keys, base + t)
            key = keys[np.minimum(i, last)]
            return np.where((i <= last) & (key < base + T), key - base, T)

        return next_event

    def _step(self, a: np.ndarray, t: np.ndarray, targets: np.ndarray, ch: np.ndarray) -> None:
        m = self.m
        cash = self.cash[a]
        if m.ca_cash is not None:
            paid = (self.pos[a] * m.ca_cash[t[:, None], self.sym[a]]).sum(1)
            cash += paid
            self.ca_paid[a] += paid
        act = ch | self.dirty[a]
        fired = self.stops.fire_lanes(a, t, ch) if self.stops is not None else []
        for i, j in fired:
            act[i, j] = True
        li, k = np.nonzero(act)
        lane, tt = a[li], t[li]
        s = self.sym[lane, k]
        changed = ch[li, k]
        tw = np.where(changed, targets[tt, lane, k], self.tw[lane, k])
        if fired:
            tw = np.where(self.stops.code[lane, k] > 0, 0.0, tw)  # an exit in progress: flat
        self.tw[lane, k] = tw
        self.dirty[lane, k] = False
        px = m.exec_px[tt, s]
        pos = self.pos[lane, k]
        delta = self._delta(a, t, cash, li, lane, k, tt, s, tw, pos, px)
        slot = _Slots(li, lane, k, tt, s, px, pos)
        sell = delta < -EPS
        if sell.any():
            cash = self._sells(slot, sell, -delta, cash)
        buy = delta > EPS
        if buy.any():
            cash = self._buys(slot, buy, delta, cash)
        self.cash[a] = cash
        self.states.append((a, t, cash.copy()))

    def _delta(self, a, t, cash, li, lane, k, tt, s, tw, pos, px) -> np.ndarray:
        if self.mode == "shares":
            return tw - pos
        vpx = self.value_px[tt, s]
        held = self.pos[a]
        if held.shape[1] == 1:
            equity = cash + held[:, 0] * self.value_px[t, self.sym[a, 0]]
        else:
            equity = cash + (held * self.value_px[t[:, None], self.sym[a]]).sum(1)
        gap = tw * equity[li] - pos * vpx
        base = np.where(np.isfinite(px), px, vpx) * (1 + self.rules.slippage)
        buy_cost = base * (1 + self._buy_rate(tt, s)) if self.fees_on else base
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.where(gap > 0, gap / buy_cost, gap / vpx)
        return np.where(np.isfinite(d), d, 0.0)

    def _buy_rate(self, t: np.ndarray, s: np.ndarray) -> np.ndarray:
        return self.rules.commission_rate + self.m.stamp_buy[t] + self.m.transfer_value[t, s]

    def _fees(self, value, qty, t, s, sell: bool):
        r = self.rules
        if not self.fees_on:
            zero = np.zeros_like(value)
            return zero, zero, zero
        comm = round_cent(value * r.commission_rate)
        comm = np.where(qty > 0, np.maximum(comm, r.min_commission), 0.0)
        if not r.exchange_fees:
            return comm, np.zeros_like(value), np.zeros_like(value)
        rate = (self.m.stamp_sell if sell else self.m.stamp_buy)[t]
        stamp = round_cent(value * rate)
        transfer = round_cent(value * self.m.transfer_value[t, s] + qty * self.m.transfer_share[t, s])
        return comm, stamp, transfer

    def _round(self, q, lane, k) -> np.ndarray:
        if self.rules.fractional:
            return np.maximum(q, 0.0)
        return lot_round(q, self.lot_min[lane, k], self.lot_step[lane, k])

    def _cap(self, q, sl, reason, mask) -> np.ndarray:
        if self.cfg.volume_cap is None:
            return q
        cap = self._round(self.cfg.volume_cap * self.m.volume[sl.t, sl.s], sl.lane, sl.k)
        capped = mask & (q > cap + EPS) & (reason == 0)
        reason[capped] = R["VOLUME_CAP"]
        return np.where(capped, cap, q)

    def _blocked(self, sl, mask, block: np.ndarray, code: str) -> np.ndarray:
        reason = np.zeros(mask.shape, np.int8)
        tradable = np.isfinite(sl.px)
        reason[mask & ~tradable] = R["SUSPENDED"]
        if self.limits_on:
            reason[mask & tradable & block[sl.t, sl.s]] = R[code]
        return reason

    def _sells(self, sl: _Slots, s: np.ndarray, want: np.ndarray, cash: np.ndarray) -> np.ndarray:
        pos = sl.pos
        want = np.where(s, want, 0.0)
        closeout = want >= pos - 1e-6
        req = np.where(closeout, pos, self._round(want, sl.lane, sl.k))
        reason = self._blocked(sl, s, self.m.sell_block, "LIMIT_DOWN_LOCKED")
        q = np.where(reason == 0, req, 0.0)
        if self.rules.t1:
            same = self.bought_sess[sl.lane, sl.k] == self.m.session[sl.t]
            sellable = pos - np.where(same, self.bought[sl.lane, sl.k], 0.0)
            short = s & (reason == 0) & (q > sellable + EPS)
            if short.any():
                reason[short] = R["T1_LOCKED"]
                part = np.where(sellable >= pos - EPS, pos, self._round(sellable, sl.lane, sl.k))
                q = np.where(short, part, q)
        reason[s & (reason == 0) & (req <= EPS)] = R["LOT_ROUNDED_TO_ZERO"]
        q = np.minimum(self._cap(q, sl, reason, s), pos)
        if self.stops is not None:
            code = self.stops.code[sl.lane, sl.k]
            reason = np.where(s & (reason == 0) & (code > 0), code, reason).astype(np.int8)
        price = sl.px * (1 - self.rules.slippage)
        value = np.where(q > 0, q * price, 0.0)
        fees = self._fees(value, q, sl.t, sl.s, sell=True)
        net = value - fees[0] - fees[1] - fees[2] if self.fees_on else value
        cash = cash + np.bincount(sl.li[s], net[s], minlength=cash.size)
        closes = (q > 0) & (pos - q <= 1e-9)
        sl.pos = pos - q
        self._record(sl, s, 1, want, req, q, price, fees, reason, closes)
        return cash

    def _buys(self, sl: _Slots, b: np.ndarray, delta: np.ndarray, cash: np.ndarray) -> np.ndarray:
        req = np.where(b, self._round(delta, sl.lane, sl.k), 0.0)
        reason = self._blocked(sl, b, self.m.buy_block, "LIMIT_UP_LOCKED")
        reason[b & (reason == 0) & (req <= EPS)] = R["LOT_ROUNDED_TO_ZERO"]
        q = self._cap(np.where(reason == 0, req, 0.0), sl, reason, b)
        price = sl.px * (1 + self.rules.slippage)
        q2 = self._fit_cash(q, price, cash, sl)
        reason[(q2 < q - EPS) & (reason == 0)] = R["INSUFFICIENT_CASH"]
        value = np.where(q2 > 0, q2 * price, 0.0)
        fees = self._fees(value, q2, sl.t, sl.s, sell=False)
        cost = value + fees[0] + fees[1] + fees[2] if self.fees_on else value
        cash = np.maximum(cash - np.bincount(sl.li[b], cost[b], minlength=cash.size), 0.0)
        if self.rules.t1:
            self._lock_bought(sl, q2)
        sl.pos = sl.pos + q2
        self._record(sl, b, 0, delta, req, q2, price, fees, reason, np.zeros(b.shape, bool))
        return cash

    def _cost(self, q, price, sl) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            value = np.where(q > 0, q * price, 0.0)
        if not self.fees_on:
            return value
        comm, stamp, transfer = self._fees(value, q, sl.t, sl.s, sell=False)
        return value + comm + stamp + transfer

    def _fit_cash(self, q, price, cash, sl: _Slots) -> np.ndarray:
        """Scale buys down until their cost incl. fees fits the cash (never a negative balance)."""
        for _ in range(50):
            cost = np.bincount(sl.li, self._cost(q, price, sl), minlength=cash.size)
            over = cost > cash + 1e-9
            if not over.any():
                return q
            over_slot = over[sl.li]
            scale = np.where(over, cash / np.maximum(cost, 1e-12), 1.0)[sl.li]
            shrunk = self._round(q * scale * (1 - 1e-12), sl.lane, sl.k)
            stuck = over_slot & (shrunk >= q - EPS) & (q > 0)
            if stuck.any():
                self._unstick(q, shrunk, stuck, sl)
            q = np.where(over_slot, shrunk, q)
        return q * 0.0

    def _unstick(self, q, shrunk, stuck, sl: _Slots) -> None:
        """Per lane with a stuck order, reduce its largest stuck buy by one lot step."""
        step = np.where(self.lot_step[sl.lane, sl.k] > 0, self.lot_step[sl.lane, sl.k], self.lot_min[sl.lane, sl.k])
        smaller = self._round(q - np.maximum(step, 1e-6), sl.lane, sl.k)
        for lane in np.unique(sl.li[stuck]):
            idx = np.flatnonzero((sl.li == lane) & stuck)
            top = idx[np.argmax(q[idx])]
            shrunk[top] = smaller[top]

    def _lock_bought(self, sl: _Slots, q) -> None:
        session = self.m.session[sl.t]
        old_b, old_s = self.bought[sl.lane, sl.k], self.bought_sess[sl.lane, sl.k]
        bought = q > 0
        self.bought[sl.lane, sl.k] = np.where(bought, np.where(old_s == session, old_b, 0.0) + q, old_b)
        self.bought_sess[sl.lane, sl.k] = np.where(bought, session, old_s)

    def _record(self, sl: _Slots, mask, side, target, req, q, price, fees, reason, closes):
        """Keep the step's slot arrays whole (filtered once at the end) and apply fills to the state."""
        retry = mask & RETRY[reason]
        if retry.any():
            self.dirty[sl.lane[retry], sl.k[retry]] = True
        comm, stamp, transfer = fees
        side_arr = np.full(mask.size, side, np.int8)
        self.records.append(
            (mask, sl.lane, sl.t, sl.s, side_arr, np.abs(target), req, q, price, comm, stamp, transfer, reason, closes)
        )
        f = q > 0
        if f.any():
            self.pos[sl.lane[f], sl.k[f]] = sl.pos[f]
            self.pos_changes.append((sl.lane[f], sl.k[f], sl.t[f], sl.pos[f]))
            if self.stops is not None:
                for j in np.flatnonzero(f).tolist():
                    self.stops.on_fill(
                        int(sl.lane[j]), int(sl.k[j]), int(sl.t[j]), float(q[j]), float(price[j]),
                        float(sl.pos[j]), side == 0,
                    )  # fmt: skip

    def _output(self, T: int, L: int, K: int) -> KernelOut:
        if self.records:
            mask, *cols = (np.concatenate(c) for c in zip(*self.records, strict=True))
            cols = [c[mask] for c in cols]
        else:
            ints = {"lane", "t", "sym", "side", "reason"}
            cols = [np.zeros(0, np.int64 if f in ints else bool if f == "closes" else float) for f in ORDER_FIELDS]
        orders = dict(zip(ORDER_FIELDS, cols, strict=True))
        lane, t, cash = _cat(self.states, 3)
        pl_, pk, pt, pv = _cat(self.pos_changes, 4)
        return KernelOut(orders, lane, t, cash, pl_, pk, pt, pv, self.ca_paid, (T, L, K))


def _cat(parts: list[tuple], n: int) -> list[np.ndarray]:
    if not parts:
        return [np.zeros(0, np.int64)] * (n - 1) + [np.zeros(0)]
    return [np.concatenate(c) for c in zip(*parts, strict=True)]


class _Slots:
    """The active (lane, symbol) slots of one step, as flat arrays."""

    __slots__ = ("k", "lane", "li", "pos", "px", "s", "t")

    def __init__(self, li, lane, k, t, s, px, pos):
        self.li, self.lane, self.k, self.t, self.s, self.px, self.pos = li, lane, k, t, s, px, pos
