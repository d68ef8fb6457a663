"""Lean kernel for one-symbol lanes with costs: weight targets, lots, fees (commission with its minimum,
stamp duty, transfer fee), slippage and T+1 — the `a-share` preset's grids and independent runs — when
nothing can be blocked or retried: no limit block anywhere, a finite positive execution price on every
bar of the lanes' symbols, no volume cap, no corporate-action cash, no exit rules, and under T+1 one bar
per session (a lane's buy and a later sell are then never in one session: T+1 never binds). As in
`kernel_plain`, a lane's k-th step is then its k-th target change, the lanes still active at step k are a
prefix of the lanes ordered by event count, and each step is `Simulator._step`'s float arithmetic on
that prefix (bit-identical output). Everything that does not depend on a lane's cash or shares — prices,
buy cost per share, fee rates, lots — is gathered per (step, lane) once, up front.

Steps are whole-vector numpy operations (~1 µs a call whatever the width) while many lanes are active;
once at most `TAIL_LANES` are, each remaining lane finishes alone on Python floats (`_tail`), which costs
per order instead of per step. Lanes are independent in `Simulator` except through two whole-step
details that a lane alone cannot see: a slot that does not sell still closes out a dust position
(≤ 1e-6 shares) in a step where some lane sells — whole shares never hold dust, so fractional runs keep
the vector path to the end — and `_fit_cash` zeroes every buy of the step after 50 rounds: a tail lane
that needs 50 rounds makes `run_cost_lanes` return None, and the caller runs `Simulator` instead.

Map to the reference `kernel.Simulator` (ENGINE.md's checklist):

| here | reference |
| --- | --- |
| `cost_lanes_applicable` | the rules left out: any of them on → `Simulator` |
| `lane_schedule`, the prefix `n` | `Simulator.run` / `_schedule` (no retries: no `dirty`) |
| `gap`, `d` (`BC`: base × (1 + buy rate)) | `Simulator._delta` |
| the `sell` block | `Simulator._sells` + `_fees(sell=True)` with no blocks, T+1 or cap |
| the `buy` block + `_fit` | `Simulator._buys` + `_fit_cash` / `_cost` / `_unstick` with no blocks or cap |
| `_round` | `Simulator._round` / `kernel.lot_round` |
| `_tail` | the same blocks on Python floats for one lane |
"""

from __future__ import annotations

import math
from array import array

import numpy as np

from quant.kernel import EPS, R, round_cent

TAIL_LANES = 12  # from this many active lanes down, each lane finishes alone on Python floats

_LOT0 = R["LOT_ROUNDED_TO_ZERO"]
_CASH = R["INSUFFICIENT_CASH"]
_floor = math.floor


def lane_schedule(evt: np.ndarray):
    """The lockstep schedule of one-slot lanes whose k-th step is their k-th event (`evt`: (T, L) bool):
    lanes ordered by event count (descending, stable), the (kmax, L) bar of every lane's k-th event in
    that order (T as padding), and how many lanes are active at each step (a prefix)."""
    T, L = evt.shape
    counts = evt.sum(axis=0)
    order = np.argsort(-counts, kind="stable")
    kmax = int(counts[order[0]]) if L else 0
    flat = np.flatnonzero(evt.T)  # lane-major: (lane, bar) pairs in lane order, as np.nonzero(evt.T) gives them
    lane_of = flat // T  # (one flat scan and a division: a 2-D nonzero costs ~4x as much)
    t_of = flat - lane_of * T
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(lane_of.size) - starts[lane_of]
    pos_in_order = np.empty(L, np.int64)
    pos_in_order[order] = np.arange(L)
    ev = np.full((kmax, L), T, np.int64)
    ev[rank, pos_in_order[lane_of]] = t_of
    n_active = np.searchsorted(-counts[order], -(np.arange(kmax) + 1), side="right")
    return counts[order], order, ev, n_active


def cost_lanes_applicable(m, config, sym_idx: np.ndarray, mode: str) -> bool:
    """True when `run_cost_lanes` reproduces `Simulator` exactly for this run (several lanes)."""
    r = config.rules()
    if mode != "weight" or sym_idx.ndim != 2 or sym_idx.shape[1] != 1 or sym_idx.shape[0] < 2:
        return False
    if config.exits or config.volume_cap is not None or m.ca_cash is not None:
        return False
    if m.buy_block.any() or m.sell_block.any():
        return False
    if r.t1 and len(m.session) and int(m.session[-1]) + 1 != len(m.session):
        return False  # several bars a session: T+1 can bind
    cols = np.unique(sym_idx[:, 0])
    if not r.fractional and not (m.lot_step[cols] > 0).all():
        return False
    px = m.exec_px if cols.size == m.exec_px.shape[1] else m.exec_px[:, cols]
    return bool(px.size and px.min() > 0 and px.max() < np.inf)  # min/max propagate NaN


class _Inputs:
    """The state-independent inputs of every (step, lane-in-order) cell, and the per-lane lots."""

    def __init__(self, m, config, sym: np.ndarray, ev: np.ndarray, targets: np.ndarray, order: np.ndarray):
        r = config.rules()
        T = targets.shape[0]
        evc = np.minimum(ev, T - 1)  # padding (lanes without a k-th event) is never read
        self.fees_on = bool(r.exchange_fees or r.commission_rate or r.min_commission)
        self.exchange = bool(self.fees_on and r.exchange_fees)
        self.frac = bool(r.fractional)
        self.cr, self.minc = r.commission_rate, r.min_commission
        px = m.exec_px[evc, sym[None, :]]
        self.px = px
        self.tw = targets[evc, order[None, :], 0].astype(np.float64, copy=False)  # boolean targets: 1 / 0
        slip = r.slippage
        base = px * (1 + slip) if slip else px  # x · 1.0 is x
        self.pb = base
        self.ps = px * (1 - slip) if slip else px
        if self.fees_on:
            tv = m.transfer_value[evc, sym[None, :]]
            self.bc = base * (1 + (r.commission_rate + m.stamp_buy[evc] + tv))
        else:
            self.bc = base
        if self.exchange:
            self.tv = tv
            self.ts = m.transfer_share[evc, sym[None, :]]
            self.sb = m.stamp_buy[evc]
            self.ss = m.stamp_sell[evc]
        lm, ls = m.lot_min[sym], m.lot_step[sym]
        self.lm, self.ls, self.lm9 = lm, ls, lm - 1e-9
        self.step6 = np.maximum(np.where(ls > 0, ls, lm), 1e-6)  # `_unstick`'s lot step (≥ 1e-6)
        self.zero = np.zeros(sym.size)

    def round(self, q: np.ndarray, n: int) -> np.ndarray:
        """`Simulator._round` for the first n lanes (every lot step > 0 unless fractional)."""
        if self.frac:
            return np.maximum(q, 0.0)
        lm = self.lm[:n]
        return np.where(q >= self.lm9[:n], lm + np.floor((q - lm) / self.ls[:n] + 1e-9) * self.ls[:n], 0.0)

    def fees(self, value: np.ndarray, q: np.ndarray, filled: np.ndarray, k: int, n: int, sell: bool):
        """`Simulator._fees` at step k for the first n lanes (`filled`: q > 0)."""
        comm = np.where(filled, np.maximum(round_cent(value * self.cr), self.minc), 0.0)
        if not self.exchange:
            z = self.zero[:n]
            return comm, z, z
        rate = (self.ss if sell else self.sb)[k, :n]
        stamp = round_cent(value * rate)
        transfer = round_cent(value * self.tv[k, :n] + q * self.ts[k, :n])
        return comm, stamp, transfer

    def fit(self, q: np.ndarray, price: np.ndarray, cash: np.ndarray, k: int, n: int):
        """`Simulator._fit_cash` (one slot per lane): the fitted buys with their value, fees and cost."""
        for _ in range(51):
            if _ == 50:
                q = q * 0.0
            filled = q > 0
            value = np.where(filled, q * price, 0.0)
            if self.fees_on:
                comm, stamp, transfer = self.fees(value, q, filled, k, n, sell=False)
                cost = value + comm + stamp + transfer
            else:
                comm = stamp = transfer = self.zero[:n]
                cost = value
            if _ == 50:
                break
            over = cost > cash + 1e-9
            if not over.any():
                break
            scale = np.where(over, cash / np.maximum(cost, 1e-12), 1.0)
            shrunk = self.round(q * scale * (1 - 1e-12), n)
            stuck = over & (shrunk >= q - EPS) & filled
            if stuck.any():
                smaller = self.round(q - self.step6[:n], n)
                shrunk[stuck] = smaller[stuck]
            q = np.where(over, shrunk, q)
        return q, value, comm, stamp, transfer, cost


def run_cost_lanes(m, config, sym_idx: np.ndarray, targets: np.ndarray, change: np.ndarray):
    """Simulate (T, L, 1) weight targets; see the module docstring for when this applies. None when a
    lane finishing alone would have needed `_fit_cash`'s 50 rounds (then `Simulator` decides)."""
    from quant.kernel_plain import _out

    T, L, K = targets.shape
    counts, order, ev, n_active = lane_schedule(change[:, :, 0])
    kmax = ev.shape[0]
    sym = sym_idx[order, 0]
    g = _Inputs(m, config, sym, ev, targets, order)
    cash = np.full(L, float(config.initial_cash))
    pos = np.zeros(L)
    states, blocks = [], []
    tail = 0 if g.frac else TAIL_LANES
    k = 0
    while k < kmax:
        n = int(n_active[k])
        if n <= tail:
            break
        p, w, t = g.px[k, :n], g.tw[k, :n], ev[k, :n]
        c, s = cash[:n], pos[:n]
        lanes = order[:n]
        sp = s * p
        gap = w * (c + sp) - sp
        d = gap / p if g.bc is g.px else np.where(gap > 0, gap / g.bc[k, :n], gap / p)
        sell = d < -EPS
        if sell.any():
            want = np.where(sell, -d, 0.0)
            req = np.where(want >= s - 1e-6, s, g.round(want, n))
            q = np.minimum(req, s)
            price = g.ps[k, :n]
            filled = q > 0
            value = np.where(filled, q * price, 0.0)
            if g.fees_on:
                comm, stamp, transfer = g.fees(value, q, filled, k, n, sell=True)
                net = value - comm - stamp - transfer
            else:
                comm = stamp = transfer = g.zero[:n]
                net = value
            c = c + np.where(sell, net, 0.0)
            s = s - q
            blocks.append((sell, 1, lanes, t, sym[:n], want, req, q, price, comm, stamp, transfer, s))
        buy = d > EPS
        if buy.any():
            req = np.where(buy, g.round(d, n), 0.0)
            price = g.pb[k, :n]
            q2, value, comm, stamp, transfer, cost = g.fit(np.where(req > EPS, req, 0.0), price, c, k, n)
            c = np.maximum(c - np.where(buy, cost, 0.0), 0.0)
            s = s + q2
            blocks.append((buy, 0, lanes, t, sym[:n], d, req, q2, price, comm, stamp, transfer, s))
        cash[:n] = c
        pos[:n] = s
        if c.base is cash:  # no order: still views of the running state (a block makes fresh arrays)
            c, s = c.copy(), s.copy()
        states.append((lanes, t, c, s))
        k += 1
    rows = pc = None
    if k < kmax:
        rows, st, pc = array("d"), array("d"), array("d")
        for j in range(int(n_active[k])):
            start = (float(cash[j]), float(pos[j]))
            if not _tail(g, j, int(order[j]), int(sym[j]), k, int(counts[j]), ev, *start, rows, st, pc):
                return None
        _tail_records(None, st, None, [], states, [])
    recs, pchg = _records(blocks, rows, pc)
    return _out(recs, states, pchg, (T, L, K))


_RECORD_TYPES = (np.int64, np.int64, np.int64, np.int8, float, float, float, float, float, float, float, np.int8, bool)
"""The dtypes of the tail's record fields (`_tail_records`)."""


def _records(blocks: list[tuple], rows=None, pc=None) -> tuple[list[tuple], list[tuple]]:
    """The order records and position changes of the vector steps' sell and buy blocks, selected with one
    concatenation per field (`kernel_plain._records`; the reasons and close-outs derived from the selected
    rows by the comparisons the steps make: nothing is blocked, a sell never falls short of its cash),
    followed by the tail's (`rows`, `pc`: `_tail`'s buffers): each field is one array, the vector rows
    gathered straight into its head and the tail's written after them — the values and dtypes of
    concatenating the two blocks, without first gathering the vector rows into arrays of their own (on
    S4, 300 lanes: ~1,000 fresh pages fewer)."""
    if not blocks:
        recs, pchg = [], []
        _tail_records(rows, None, pc, recs, [], pchg)
        return recs, pchg
    tail = np.frombuffer(rows, np.float64).reshape(-1, 13) if rows else None
    moves = np.frombuffer(pc, np.float64).reshape(-1, 3) if pc else None
    mask, side, lanes, t, sym, target, req, q, price, comm, stamp, transfer, after = (
        list(c) for c in zip(*blocks, strict=True)
    )
    sizes = np.array([x.size for x in mask])
    cat = np.concatenate
    q_all, lanes_all, t_all, after_all = cat(q), cat(lanes), cat(t), cat(after)
    f = np.flatnonzero(q_all > 0)  # a position change wherever shares moved (also a dust close-out outside the mask)
    nm = 0 if moves is None else moves.shape[0]
    pchg = [
        (
            _joined(lanes_all, f, None if moves is None else moves[:, 0].astype(np.int64)),
            np.zeros(f.size + nm, np.int64),
            _joined(t_all, f, None if moves is None else moves[:, 1].astype(np.int64)),
            _joined(after_all, f, None if moves is None else moves[:, 2]),
        )
    ]
    idx = np.flatnonzero(cat(mask))
    sides = np.repeat(np.array(side, np.int8), sizes)[idx]
    r_req, r_q = cat(req)[idx], q_all[idx]
    selling = sides == 1
    reason = np.where(r_req <= EPS, _LOT0, np.where(~selling & (r_q < r_req - EPS), _CASH, 0)).astype(np.int8)
    closes = selling & (r_q > 0) & (after_all[idx] <= 1e-9)
    wants = _joined(cat(target), idx, None if tail is None else tail[:, 4].astype(float))
    np.abs(wants[: idx.size], out=wants[: idx.size])  # the tail's targets are kept as they are
    fields = (lanes_all, t_all, cat(sym), sides, wants, r_req, r_q, cat(price), cat(comm), cat(stamp), cat(transfer),
              reason, closes)  # fmt: skip
    selected = (3, 4, 5, 6, 11, 12)  # already the selected rows (`wants` with the tail's)
    recs = [
        tuple(
            x if i == 4 else _joined(
                x, None if i in selected else idx, None if tail is None else tail[:, i].astype(_RECORD_TYPES[i])
            )
            for i, x in enumerate(fields)
        )
    ]  # fmt: skip
    return recs, pchg


def _joined(head: np.ndarray, idx: np.ndarray | None, rest: np.ndarray | None) -> np.ndarray:
    """`np.concatenate([head[idx], rest])` (`idx` None: `head` itself; `rest` None: no tail) in one array,
    `head[idx]` gathered into its first rows (`take` with `mode="clip"`: the indices are valid, and numpy
    buffers a `take` into `out` in its default mode)."""
    if rest is None and idx is not None:
        return head[idx]
    if rest is None:
        return head
    n = head.size if idx is None else idx.size
    out = np.empty(n + rest.size, np.result_type(head.dtype, rest.dtype))
    if idx is None:
        out[:n] = head
    elif out.dtype == head.dtype:
        np.take(head, idx, out=out[:n], mode="clip")
    else:
        out[:n] = head[idx]
    out[n:] = rest
    return out


def _rc(x: float) -> float:
    """`kernel.round_cent` on one float."""
    return float(_floor(x * 100.0 + (0.5 + 1e-7))) / 100.0


def _tail(g: _Inputs, j: int, lane: int, sym: int, k0: int, count: int, ev, cash: float, pos: float, rows, st, pc):
    """Lane `j` (in order) from its step k0 to its last, alone on Python floats (whole shares: no dust).
    Appends (lane, t, sym, side, target, requested, filled, price, comm, stamp, transfer, reason, closes)
    rows, (lane, t, cash, shares) snapshots and (lane, t, shares) position changes to flat `array("d")`
    buffers (every field is exact in a double; no tuples kept for the garbage collector to track); False
    when a buy needed `_fit_cash`'s 50 rounds."""
    sl = slice(k0, count)
    ts_ = ev[sl, j].tolist()
    px, tw, bc = g.px[sl, j].tolist(), g.tw[sl, j].tolist(), g.bc[sl, j].tolist()
    pb, ps = g.pb[sl, j].tolist(), g.ps[sl, j].tolist()
    n = count - k0
    if g.exchange:
        tv, tsh = g.tv[sl, j].tolist(), g.ts[sl, j].tolist()
        sb, ss = g.sb[sl, j].tolist(), g.ss[sl, j].tolist()
    else:
        tv = tsh = sb = ss = [0.0] * n
    fees_on, exchange, cr, minc = g.fees_on, g.exchange, g.cr, g.minc
    lm, ls = float(g.lm[j]), float(g.ls[j])
    lm9, step6 = lm - 1e-9, float(g.step6[j])

    def rnd(q: float) -> float:  # `_round` with lots (whole shares)
        if q >= lm9:
            return lm + float(_floor((q - lm) / ls + 1e-9)) * ls
        return 0.0

    def fees(value: float, q: float, i: int, rate: float) -> tuple[float, float, float]:
        if not fees_on:
            return 0.0, 0.0, 0.0
        comm = _rc(value * cr)
        comm = (comm if comm >= minc else minc) if q > 0 else 0.0
        if not exchange:
            return comm, 0.0, 0.0
        return comm, _rc(value * rate), _rc(value * tv[i] + q * tsh[i])

    for i in range(n):
        t, p, w = ts_[i], px[i], tw[i]
        sp = pos * p
        gap = w * (cash + sp) - sp
        d = gap / bc[i] if gap > 0 else gap / p
        if d < -EPS:
            want = -d
            req = pos if want >= pos - 1e-6 else rnd(want)
            q = req if req <= pos else pos
            price = ps[i]
            value = q * price if q > 0 else 0.0
            comm, stamp, transfer = fees(value, q, i, ss[i])
            cash = cash + (value - comm - stamp - transfer if fees_on else value)
            after = pos - q
            rows.extend((lane, t, sym, 1, want, req, q, price, comm, stamp, transfer,
                         _LOT0 if req <= EPS else 0, q > 0 and after <= 1e-9))  # fmt: skip
            pos = after
            if q > 0:
                pc.extend((lane, t, pos))
        elif d > EPS:
            req = rnd(d)
            q = req if req > EPS else 0.0
            price = pb[i]
            for r_ in range(51):
                if r_ == 50:
                    return False
                value = q * price if q > 0 else 0.0
                comm, stamp, transfer = fees(value, q, i, sb[i])
                cost = value + comm + stamp + transfer if fees_on else value
                if not cost > cash + 1e-9:
                    break
                shrunk = rnd(q * (cash / (cost if cost >= 1e-12 else 1e-12)) * (1 - 1e-12))
                if shrunk >= q - EPS and q > 0:
                    shrunk = rnd(q - step6)
                q = shrunk
            cash = cash - cost
            cash = cash if cash >= 0.0 else 0.0
            rows.extend((lane, t, sym, 0, d, req, q, price, comm, stamp, transfer,
                         _LOT0 if req <= EPS else (_CASH if q < req - EPS else 0), False))  # fmt: skip
            pos = pos + q
            if q > 0:
                pc.extend((lane, t, pos))
        st.extend((lane, t, cash, pos))
    return True


def _tail_records(rows, st, pc, recs, states, pchg) -> None:
    """The tail lanes' rows as one record block, snapshot block and position-change block (after the
    vector steps' ones: within each lane, still in time order)."""
    if rows:
        table = np.frombuffer(rows, np.float64).reshape(-1, 13)
        recs.append(tuple(table[:, i].astype(ty) for i, ty in enumerate(_RECORD_TYPES)))
    if st:
        table = np.frombuffer(st, np.float64).reshape(-1, 4)
        states.append(
            (table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2].copy(), table[:, 3].copy())
        )
    if pc:
        table = np.frombuffer(pc, np.float64).reshape(-1, 3)
        lane, t = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)
        pchg.append((lane, np.zeros(lane.size, np.int64), t, table[:, 2].copy()))
