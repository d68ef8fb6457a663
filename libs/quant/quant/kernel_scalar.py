"""The kernel for one account (one lane: a single run or a portfolio), written per active slot in
plain Python floats instead of numpy calls on tiny arrays.

`Simulator` spends ~1 µs per numpy call and makes dozens per step; one lane touches only a few
(symbol) slots per step, so scalar floats are ~20× cheaper. This is a line-by-line port of
`Simulator._step` (every rule: lots, T+1, limits, fees with minimum commission, stamp duty, transfer
fee, volume cap, suspensions and retries, corporate-action cash, cash fitting) and performs the same
IEEE double operations in the same order, so its output is bit-identical. Per-(bar, slot) inputs of
every target change are gathered up front as Python lists; the equity of a weight step is still one
numpy sum (pairwise, like `Simulator._delta`).

A frictionless account (weights, fractional shares, no fees, limits, T+1, volume cap or corporate
actions, a price on every bar — the `plain` preset) takes `_Lane.run_frictionless`: nothing can be
blocked or retried there, so each step is one fused pass over its bar's target changes with the same
arithmetic (about twice as fast on a 300-symbol portfolio).

Map to the reference `kernel.Simulator` (change a rule there first, then here; ENGINE.md's checklist):

| here | reference |
| --- | --- |
| `_Lane.run` loop: `nxt`, `dirty`, `ca` cash | `Simulator.run`, `_schedule`, `_step`'s corporate actions |
| `_step` "# _delta" | `Simulator._delta` (value prices, slippage, buy-side fee rate, pairwise equity) |
| `_step` "# sells": close-out, `_round`, suspension, limit-down, T+1, LOT0, volume cap | `_sells`, `_blocked`, `_cap` |
| the non-selling dust close-out (`0 < pos <= 1e-6`) | `_sells` applied with `want = 0` to every active slot |
| `_step` "# buys": `_round`, suspension, limit-up, LOT0, cap, `_fit_cash`, T+1 lock | `_buys`, `_lock_bought` |
| `_fees`, `_cost`, `_fit_cash` (stuck: one lot step off the largest) | `_fees`, `_cost`, `_fit_cash`, `_unstick` |
| `_RETRY[reason]` → `dirty` | `Simulator._record`'s retry mask |
| `run_frictionless` sells / buys | `_sells` / `_buys` with every rule off (no lots, fees, limits, T+1, cap) |
"""

from __future__ import annotations

import gc
import math
from array import array

import numpy as np

from quant.kernel import EPS, ORDER_FIELDS, RETRY, KernelOut, R
from quant.market import value_prices
from quant.stops import StopBook

_RETRY = [bool(x) for x in RETRY]
_SUSP, _UP, _DOWN, _T1 = R["SUSPENDED"], R["LIMIT_UP_LOCKED"], R["LIMIT_DOWN_LOCKED"], R["T1_LOCKED"]
_LOT0, _VCAP, _CASH = R["LOT_ROUNDED_TO_ZERO"], R["VOLUME_CAP"], R["INSUFFICIENT_CASH"]
_isfinite = math.isfinite
_NOFEES = (0.0, 0.0, 0.0)
_floor = math.floor


def _rc(x: float) -> float:
    """`kernel.round_cent` on one float."""
    return float(_floor(x * 100.0 + (0.5 + 1e-7))) / 100.0


def run_single_lane(m, config, sym_idx: np.ndarray, mode: str, targets: np.ndarray, change: np.ndarray) -> KernelOut:
    """Simulate one lane (targets (T, 1, K)) exactly like `Simulator.run`. The cyclic garbage collector
    is paused meanwhile: the loop allocates ~10^5 short-lived acyclic tuples and lists (freed by
    reference counting), and the collections they would trigger only cost time. Order and position
    records go straight into flat `array("d")` buffers (every field is exact in a double), read back
    with `np.frombuffer`."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _Lane(m, config, sym_idx[0], mode).run(targets, change)
    finally:
        if enabled:
            gc.enable()


class _Lane:
    def __init__(self, m, config, sym: np.ndarray, mode: str):
        self.m, self.cfg, self.r, self.mode = m, config, config.rules(), mode
        r = self.r
        self.K = sym.size
        self.sym = sym
        self.sym_list = sym.tolist()
        self.all_sym = bool(m.exec_px.shape[1] == self.K and (sym == np.arange(self.K)).all())
        self.lot_min = m.lot_min[sym].tolist()
        self.lot_step = m.lot_step[sym].tolist()
        self.fees_on = bool(r.exchange_fees or r.commission_rate or r.min_commission)
        self.limits_on = bool(m.buy_block.any() or m.sell_block.any())
        self.value_px = value_prices(m)
        # per-order scalars bound once (the hot loops avoid attribute and numpy-scalar lookups)
        self.frac = bool(r.fractional)
        self.comm_rate, self.min_comm, self.exchange_fees = r.commission_rate, r.min_commission, r.exchange_fees
        self.stamp_sell = np.asarray(m.stamp_sell, dtype=np.float64).tolist()
        self.stamp_buy = np.asarray(m.stamp_buy, dtype=np.float64).tolist()
        self.stops = StopBook(m, config, sym[None, :], R["STOP_LOSS"]) if config.exits else None

    def _round(self, q: float, k: int) -> float:
        step = self.lot_step[k]
        if self.r.fractional or step == 0.0:
            return q if q > 0.0 or q != q else 0.0  # np.maximum(q, 0.0)
        lmin = self.lot_min[k]
        if q >= lmin - 1e-9:
            if q == math.inf:
                return q
            return lmin + float(_floor((q - lmin) / step + 1e-9)) * step
        return 0.0

    def frictionless(self) -> bool:
        """True when no order can be blocked, rounded, charged or retried: weights, fractional shares, no
        fees, limits, T+1, volume cap or corporate actions, and a finite price on every bar."""
        if self.mode != "weight" or not self.frac or self.fees_on or self.limits_on or self.r.t1:
            return False
        if self.stops is not None:
            return False
        if self.cfg.volume_cap is not None or self.m.ca_cash is not None:
            return False
        px = self.m.exec_px if self.all_sym else self.m.exec_px[:, self.sym]
        return bool(px.size and np.isfinite(px.min()) and np.isfinite(px.max()))  # min/max propagate NaN

    def run(self, targets: np.ndarray, change: np.ndarray) -> KernelOut:
        if self.frictionless():
            return self.run_frictionless(targets, change)
        m, cfg = self.m, self.cfg
        T, _, K = targets.shape
        ch2 = change[:, 0, :]
        evt = ch2.any(1)
        ca = m.ca_cash[:, self.sym] if m.ca_cash is not None else None
        if ca is not None:
            evt |= (ca != 0).any(1)
        nxt = np.where(evt, np.arange(T), T)
        nxt = np.append(np.minimum.accumulate(nxt[::-1])[::-1], T).tolist()
        bounds, c_k, c_tw, g, vpx_full = self._changes(targets, change)
        cash = float(cfg.initial_cash)
        pos_np = np.zeros(K)
        pos = [0.0] * K
        tw = [0.0] * K
        dirty: set[int] = set()
        bought = [0.0] * K
        bought_sess = [-1] * K
        ca_paid = 0.0
        stops = self.stops
        st_t: list[int] = []
        st_c: list[float] = []
        t = nxt[0]
        while t < T:
            if ca is not None:
                paid = float((pos_np * ca[t]).sum()) if K > 1 else pos[0] * float(ca[t, 0])
                cash += paid
                ca_paid += paid
            lo, hi = bounds[t], bounds[t + 1]
            fired = stops.fire(0, t, c_k[lo:hi]) if stops is not None else ()
            if dirty or fired:
                slots = []  # (k, tw, index into gathered arrays or -1)
                changed = dict(zip(c_k[lo:hi], range(lo, hi), strict=True))
                for k in sorted(set(changed) | dirty | set(fired)):
                    i = changed.get(k, -1)
                    if i >= 0:
                        tw[k] = c_tw[i]
                    if k in fired:
                        tw[k] = 0.0  # an exit in progress: flat (`quant.stops`)
                    slots.append((k, tw[k], i))
                dirty.clear()
            else:
                slots = lo if lo < hi else None  # the gathered range [lo, hi)
                for i in range(lo, hi):
                    tw[c_k[i]] = c_tw[i]
            if slots is not None and slots != []:
                equity = None
                if self.mode != "shares":
                    if K == 1:
                        equity = cash + pos[0] * float(vpx_full[t, 0])
                    else:
                        equity = cash + float((pos_np * vpx_full[t]).sum())
                if type(slots) is int:
                    cash = self._step(
                        t,
                        (c_k[lo:hi], c_tw[lo:hi], range(lo, hi)),
                        g,
                        equity,
                        cash,
                        pos,
                        pos_np,
                        dirty,
                        bought,
                        bought_sess,
                        lo,
                        hi,
                    )
                else:
                    cols = tuple(list(c) for c in zip(*slots, strict=True))
                    cash = self._step(t, cols, g, equity, cash, pos, pos_np, dirty, bought, bought_sess, -1, -1)
            st_t.append(t)
            st_c.append(cash)
            t = t + 1 if dirty else nxt[t + 1]
            if stops is not None:
                t = min(t, int(stops.next[0]))
        return self._output(T, K, st_t, st_c, ca_paid)

    def run_frictionless(self, targets: np.ndarray, change: np.ndarray) -> KernelOut:
        """`run` when `frictionless()`: one fused pass per step over its target changes. Nothing can be
        blocked or retried, so a step is exactly its bar's target changes; the arithmetic is `_step`'s,
        operation for operation (a step with a close-out of a dust position goes through `_step`)."""
        T, _, K = targets.shape
        bounds, c_k, c_tw, g, vpx_full = self._changes(targets, change)
        steps = [t for t in range(T) if bounds[t] < bounds[t + 1]]  # the bars with a target change
        sym = self.sym_list
        c_s = [sym[k] for k in c_k]
        g_px, g_vpx = g["px"], g["vpx"]
        slip1, sell_f, buy_f = 1 + self.r.slippage, 1 - self.r.slippage, 1 + self.r.slippage
        cash = float(self.cfg.initial_cash)
        pos_np = np.zeros(K)
        pos = [0.0] * K
        recs, pc = self.recs, self.pc
        st_c: list[float] = []
        nan, isfinite, eps = math.nan, _isfinite, EPS
        held = np.empty(K)
        for t in steps:
            lo, hi = bounds[t], bounds[t + 1]
            if K == 1:
                equity = cash + pos[0] * vpx_full[t, 0].item()
            else:
                equity = cash + np.multiply(pos_np, vpx_full[t], out=held).sum().item()
            sells, buys, dust, cost = [], [], False, 0.0
            for i in range(lo, hi):
                pj = pos[c_k[i]]
                vpx = g_vpx[i]
                gap = c_tw[i] * equity - pj * vpx
                div = g_px[i] * slip1 if gap > 0 else vpx
                d = gap / div if div != 0.0 else nan
                if not isfinite(d):
                    d = 0.0
                if d < -eps:
                    sells.append((i, d, pj))
                elif d > eps:
                    pr = g_px[i] * buy_f
                    cost += d * pr  # `_fit_cash`'s total, in slot order
                    buys.append((i, d, pr))
                    dust = dust or 0.0 < pj <= 1e-6
                elif 0.0 < pj <= 1e-6:
                    dust = True
            if dust and sells:  # `_step` closes dust positions out in its sell pass
                cash = self._step(
                    t, (c_k[lo:hi], c_tw[lo:hi], range(lo, hi)), g, equity, cash, pos, pos_np, set(), [0.0] * K,
                    [-1] * K, lo, hi,
                )  # fmt: skip
                st_c.append(cash)
                continue
            if sells:
                tot = 0.0
                for i, d, pj in sells:
                    want = -d
                    req = pj if want >= pj - 1e-6 else want
                    q = req if req <= pj else pj
                    price = g_px[i] * sell_f
                    value = q * price if q > 0 else 0.0
                    tot += value
                    left = pj - q
                    recs.extend((t, c_s[i], 1, want, req, q, price, 0.0, 0.0, 0.0, 0 if req > eps else _LOT0,
                                 q > 0 and left <= 1e-9))  # fmt: skip
                    if q > 0:
                        k = c_k[i]
                        pos[k] = left
                        pos_np[k] = left
                        pc.extend((k, t, left))
                cash = cash + tot
            if buys:
                if cost > cash + 1e-9:  # scale the buys to the cash (`_fit_cash`); else every buy fills
                    q2 = [b[1] for b in buys]
                    q2 = self._fit_cash(q2, [b[2] for b in buys], cash, t, [c_k[b[0]] for b in buys], None, None)
                else:
                    q2 = None
                tot = 0.0
                for j, (i, d, pr) in enumerate(buys):
                    qj = d if q2 is None else q2[j]
                    value = qj * pr if qj > 0 else 0.0
                    tot += value
                    recs.extend((t, c_s[i], 0, d, d, qj, pr, 0.0, 0.0, 0.0, _CASH if qj < d - eps else 0, False))
                    if qj > 0:
                        k = c_k[i]
                        after = pos[k] + qj
                        pos[k] = after
                        pos_np[k] = after
                        pc.extend((k, t, after))
                cash = cash - tot
                cash = cash if cash >= 0.0 or cash != cash else 0.0  # np.maximum
            st_c.append(cash)
        return self._output(T, K, steps, st_c, 0.0)

    def _changes(self, targets: np.ndarray, change: np.ndarray) -> tuple[list, list, list, dict, np.ndarray]:
        """Every target change, gathered once — per bar a slice [lo, hi) = bounds[t], bounds[t + 1] of the
        flat lists of slots and targets and of the gathered inputs — and the lane's valuation prices; the
        record buffers start empty."""
        ct, ck = np.nonzero(change[:, 0, :])
        bounds = np.searchsorted(ct, np.arange(targets.shape[0] + 1)).tolist()
        self.session = self.m.session.tolist()
        self.recs = array("d")  # order records, 12 doubles each (every field is exact)
        self.pc = array("d")  # position changes: (slot, bar, shares after)
        vpx = self.value_px if self.all_sym else self.value_px[:, self.sym]
        return bounds, ck.tolist(), targets[ct, 0, ck].tolist(), self._gather(ct, self.sym[ck]), vpx

    def _gather(self, ct: np.ndarray, cs: np.ndarray) -> dict:
        m = self.m
        g = {"px": m.exec_px[ct, cs].tolist(), "vpx": self.value_px[ct, cs].tolist()}
        if self.limits_on:
            g["sb"] = m.sell_block[ct, cs].tolist()
            g["bb"] = m.buy_block[ct, cs].tolist()
        if self.fees_on and self.r.exchange_fees:
            g["tv"] = m.transfer_value[ct, cs].tolist()
            g["ts"] = m.transfer_share[ct, cs].tolist()
        if self.cfg.volume_cap is not None:
            g["vol"] = m.volume[ct, cs].tolist()
        return g

    def _inp(self, name: str, g: dict, i: int, t: int, s: int):
        """Input `name` of slot (t, s): from the gathered lists, or read directly for a retried slot."""
        if i >= 0:
            return g[name][i]
        m = self.m
        arr = {
            "px": m.exec_px, "vpx": self.value_px, "sb": m.sell_block, "bb": m.buy_block,
            "tv": m.transfer_value, "ts": m.transfer_share, "vol": m.volume,
        }[name]  # fmt: skip
        return arr[t, s].item()

    def _fees(self, value: float, q: float, t: int, tv: float, ts: float, sell: bool):
        if not self.fees_on:
            return 0.0, 0.0, 0.0
        comm = _rc(value * self.comm_rate)
        if q > 0:
            mc = self.min_comm
            comm = comm if comm >= mc or comm != comm else mc  # np.maximum (NaN propagates)
        else:
            comm = 0.0
        if not self.exchange_fees:
            return comm, 0.0, 0.0
        rate = (self.stamp_sell if sell else self.stamp_buy)[t]
        return comm, _rc(value * rate), _rc(value * tv + q * ts)

    def _step(self, t, slots, g, equity, cash, pos, pos_np, dirty, bought, bought_sess, lo, hi) -> float:
        """One step over the active slots (k list, target list, gathered-index list); lo/hi ≥ 0 when the
        slots are exactly the gathered range [lo, hi) (no retried slot). `Simulator._step` for one lane:
        its blocks are marked `# _delta`, `# sells`, `# buys` (see the module docstring's map)."""
        r, cfg, m, stops = self.r, self.cfg, self.m, self.stops
        ks, tws, idx = slots
        n = len(ks)
        sym = self.sym_list
        ss = [sym[k] for k in ks]
        fees_ex = self.fees_on and r.exchange_fees
        if lo >= 0:
            px = g["px"][lo:hi]
            tv = g["tv"][lo:hi] if fees_ex else None
            ts = g["ts"][lo:hi] if fees_ex else None
        else:
            px = [self._inp("px", g, idx[j], t, ss[j]) for j in range(n)]
            tv = [self._inp("tv", g, idx[j], t, ss[j]) for j in range(n)] if fees_ex else None
            ts = [self._inp("ts", g, idx[j], t, ss[j]) for j in range(n)] if fees_ex else None
        p0 = [pos[k] for k in ks]
        # _delta
        if self.mode == "shares":
            delta = [tws[j] - p0[j] for j in range(n)]
        else:
            vpxs = g["vpx"][lo:hi] if lo >= 0 else [self._inp("vpx", g, idx[j], t, ss[j]) for j in range(n)]
            slip1 = 1 + r.slippage
            delta = []
            fees_on = self.fees_on
            if fees_on:
                stamp_b = self.stamp_buy[t]
                cr = r.commission_rate
                tvs = tv if fees_ex else m.transfer_value[t, ss].tolist()
            for j in range(n):
                vpx = vpxs[j]
                gap = tws[j] * equity - p0[j] * vpx
                p = px[j]
                base = (p if _isfinite(p) else vpx) * slip1
                if fees_on:
                    base = base * (1 + (cr + stamp_b + tvs[j]))
                div = base if gap > 0 else vpx
                d = gap / div if div != 0.0 else math.nan
                delta.append(d if _isfinite(d) else 0.0)
        cur = list(p0)
        # sells
        sell = [d < -EPS for d in delta]
        if any(sell):
            sess = self.session[t]
            tot = 0.0
            price_f = 1 - r.slippage
            recs = self.recs
            fees_on, limits_on, t1, vcap = self.fees_on, self.limits_on, r.t1, cfg.volume_cap
            frac = r.fractional
            for j in range(n):
                k, pj = ks[j], cur[j]
                if not sell[j]:
                    # a slot that does not sell still goes through the sell arithmetic in `Simulator`:
                    # want 0 closes out a position of at most 1e-6 shares (without booking cash)
                    if 0.0 < pj <= 1e-6:
                        cur[j] = pj - pj
                        pos[k] = cur[j]
                        pos_np[k] = cur[j]
                        self.pc.extend((k, t, cur[j]))
                        if stops is not None:
                            stops.on_fill(0, k, t, pj, 0.0, cur[j], False)
                    continue
                want = -delta[j]
                if want >= pj - 1e-6:
                    req = pj
                elif frac:
                    req = want if want > 0.0 or want != want else 0.0
                else:
                    req = self._round(want, k)
                p = px[j]
                reason = 0
                if not _isfinite(p):
                    reason = _SUSP
                elif limits_on and self._inp("sb", g, idx[j], t, ss[j]):
                    reason = _DOWN
                q = req if reason == 0 else 0.0
                if t1 and reason == 0:
                    sellable = pj - (bought[k] if bought_sess[k] == sess else 0.0)
                    if q > sellable + EPS:
                        reason = _T1
                        q = pj if sellable >= pj - EPS else self._round(sellable, k)
                if reason == 0 and req <= EPS:
                    reason = _LOT0
                if vcap is not None:
                    cap = self._round(vcap * self._inp("vol", g, idx[j], t, ss[j]), k)
                    if q > cap + EPS and reason == 0:
                        reason = _VCAP
                        q = cap
                q = q if q <= pj or q != q else pj  # np.minimum
                if stops is not None and reason == 0 and stops.code[0, k]:
                    reason = int(stops.code[0, k])  # the exit's own reason (`quant.stops`)
                price = p * price_f
                value = q * price if q > 0 else 0.0
                if fees_on:
                    fees = self._fees(value, q, t, tv[j] if fees_ex else 0.0, ts[j] if fees_ex else 0.0, True)
                    tot += value - fees[0] - fees[1] - fees[2]
                else:
                    fees = _NOFEES
                    tot += value
                closes = q > 0 and pj - q <= 1e-9
                cur[j] = pj - q
                recs.extend((t, ss[j], 1, abs(want), req, q, price, fees[0], fees[1], fees[2], reason, closes))
                if _RETRY[reason]:
                    dirty.add(k)
                if q > 0:
                    pos[k] = cur[j]
                    pos_np[k] = cur[j]
                    self.pc.extend((k, t, cur[j]))
                    if stops is not None:
                        stops.on_fill(0, k, t, q, price, cur[j], False)
            cash = cash + tot
        # buys
        buy = [d > EPS for d in delta]
        if any(buy):
            price_f = 1 + r.slippage
            if self.frac:  # `_round` without lots: np.maximum(q, 0.0)
                req = [(d if d > 0.0 or d != d else 0.0) if b else 0.0 for d, b in zip(delta, buy, strict=True)]
            else:
                req = [self._round(delta[j], ks[j]) if buy[j] else 0.0 for j in range(n)]
            reason = [0] * n
            q = [0.0] * n
            for j in range(n):
                if buy[j]:
                    if not _isfinite(px[j]):
                        reason[j] = _SUSP
                    elif self.limits_on and self._inp("bb", g, idx[j], t, ss[j]):
                        reason[j] = _UP
                    if reason[j] == 0 and req[j] <= EPS:
                        reason[j] = _LOT0
                q[j] = req[j] if reason[j] == 0 else 0.0
                if cfg.volume_cap is not None and buy[j]:
                    cap = self._round(cfg.volume_cap * self._inp("vol", g, idx[j], t, ss[j]), ks[j])
                    if q[j] > cap + EPS and reason[j] == 0:
                        reason[j] = _VCAP
                        q[j] = cap
            price = [px[j] * price_f for j in range(n)]
            q2 = self._fit_cash(q, price, cash, t, ks, tv, ts)
            fees_on = self.fees_on
            tot = 0.0
            recs = self.recs
            sess = self.session[t] if r.t1 else 0
            for j in range(n):
                k = ks[j]
                if q2[j] < q[j] - EPS and reason[j] == 0:
                    reason[j] = _CASH
                qj = q2[j]
                value = qj * price[j] if qj > 0 else 0.0
                if fees_on:
                    fees = self._fees(value, qj, t, tv[j] if fees_ex else 0.0, ts[j] if fees_ex else 0.0, False)
                    if buy[j]:
                        tot += value + fees[0] + fees[1] + fees[2]
                else:
                    fees = _NOFEES
                    if buy[j]:
                        tot += value
                if r.t1 and qj > 0:
                    bought[k] = (bought[k] if bought_sess[k] == sess else 0.0) + qj
                    bought_sess[k] = sess
                cur[j] = cur[j] + qj
                if buy[j]:
                    recs.extend(
                        (t, ss[j], 0, abs(delta[j]), req[j], qj, price[j], fees[0], fees[1], fees[2], reason[j], False)
                    )
                    if _RETRY[reason[j]]:
                        dirty.add(k)
                if qj > 0:
                    pos[k] = cur[j]
                    pos_np[k] = cur[j]
                    self.pc.extend((k, t, cur[j]))
                    if stops is not None:
                        stops.on_fill(0, k, t, qj, price[j], cur[j], True)
            cash = cash - tot
            cash = cash if cash >= 0.0 or cash != cash else 0.0  # np.maximum
        return cash

    def _cost(self, q: float, price: float, t: int, tv: float, ts: float) -> float:
        value = q * price if q > 0 else 0.0
        if not self.fees_on:
            return value
        comm, stamp, transfer = self._fees(value, q, t, tv, ts, False)
        return value + comm + stamp + transfer

    def _fit_cash(self, q, price, cash, t, ks, tv, ts):
        """`Simulator._fit_cash` for one lane."""
        n = len(q)
        fees_ex = tv is not None
        for _ in range(50):
            total = 0.0
            if self.fees_on:
                for j in range(n):
                    total += self._cost(q[j], price[j], t, tv[j] if fees_ex else 0.0, ts[j] if fees_ex else 0.0)
            else:
                for qj, pj in zip(q, price, strict=True):
                    total += qj * pj if qj > 0 else 0.0
            if not total > cash + 1e-9:
                return q
            scale = cash / (total if total >= 1e-12 else 1e-12)
            shrunk = [self._round(q[j] * scale * (1 - 1e-12), ks[j]) for j in range(n)]
            stuck = [j for j in range(n) if shrunk[j] >= q[j] - EPS and q[j] > 0]
            if stuck:
                top = max(stuck, key=lambda j: (q[j], -j))
                k = ks[top]
                step = self.lot_step[k] if self.lot_step[k] > 0 else self.lot_min[k]
                shrunk[top] = self._round(q[top] - max(step, 1e-6), k)
            q = shrunk
        return [x * 0.0 for x in q]

    def _output(self, T, K, st_t, st_c, ca_paid) -> KernelOut:
        n = len(self.recs) // 12
        if n:
            table = np.frombuffer(self.recs, np.float64).reshape(n, 12)
            types = (np.int64, np.int64, np.int8, float, float, float, float, float, float, float, np.int8, bool)
            arrays = [np.zeros(n, np.int64)] + [table[:, j].astype(ty) for j, ty in enumerate(types)]
        else:
            ints = {"lane", "t", "sym", "side", "reason"}
            arrays = [np.zeros(0, np.int64 if f in ints else bool if f == "closes" else float) for f in ORDER_FIELDS]
        orders = dict(zip(ORDER_FIELDS, arrays, strict=True))
        npc = len(self.pc) // 3
        pcs = np.frombuffer(self.pc, np.float64).reshape(npc, 3) if npc else np.zeros((0, 3))
        return KernelOut(
            orders, np.zeros(len(st_t), np.int64), np.array(st_t, np.int64), np.array(st_c, float),
            np.zeros(npc, np.int64), pcs[:, 0].astype(np.int64), pcs[:, 1].astype(np.int64), pcs[:, 2].copy(),
            np.array([ca_paid]), (T, 1, K),
        )  # fmt: skip
