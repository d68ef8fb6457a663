"""Lean kernel for the frictionless case: weight targets, one symbol per lane, fractional shares or
whole shares without lot rules (the `plain` preset's integer shares: `lot_round` with lot 1), no
fees, no slippage, no volume cap, no limits/T+1/corporate actions, and a finite execution price on
every bar. Then no order is ever blocked or retried, so a lane's k-th step is its k-th target change
— exactly the batch the general `Simulator` would process — and each step is the same float
arithmetic as `Simulator._step` (so the output is bit-identical), written as a handful of
whole-vector operations over the lanes that still have events (lanes are ordered by event count, so
these are a prefix) or, for a single lane, as plain Python floats.

Map to the reference `kernel.Simulator` (change a rule there first, then here; ENGINE.md's checklist):

| here | reference |
| --- | --- |
| `plain_lanes_applicable` | the rules this kernel leaves out: any of them on → `Simulator` / `kernel_scalar` |
| `run_plain_lanes` event schedule (`ev`, `n_active`) | `Simulator.run` / `_schedule` (no retries: no `dirty`) |
| `d = (w * (c + sp) - sp) / p` | `Simulator._delta` with no slippage and no fees |
| the `sell` block (close-out, LOT0, `np.minimum`) | `Simulator._sells` with no lots, limits, T+1 or cap |
| the `buy` block + `_fit_cash` | `Simulator._buys` + `_fit_cash` with no lots, fees or cap |
| `_whole`, `_fit_cash_whole` (stuck: one share off) | `Simulator._round` with lot 1, `_fit_cash` + `_unstick` |
| `_single` | the same blocks on Python floats for one lane |
"""

from __future__ import annotations

import math

import numpy as np

from quant.kernel import EPS, ORDER_FIELDS, KernelOut, R, Simulator, _cat
from quant.kernel_lanes import TAIL_LANES, cost_lanes_applicable, lane_schedule, run_cost_lanes
from quant.kernel_scalar import run_single_lane

_INF = float("inf")
_floor = math.floor

_LOT0 = R["LOT_ROUNDED_TO_ZERO"]
_CASH = R["INSUFFICIENT_CASH"]


def run_kernel(m, config, sym_idx: np.ndarray, mode: str, targets: np.ndarray, change: np.ndarray) -> KernelOut:
    """The lean kernel when it applies, then the one-account kernel or the lean lane kernel with costs
    (`kernel_lanes`), else the general `Simulator`. `targets` / `change` may be in any
    memory layout (`rows_to_decisions(contiguous=False)`); the one-account kernel gets C-ordered copies,
    `Simulator` reads them as they are (it only gathers a few cells per step and scans `change` once: a
    lane-major panel saves two (T, L) copies)."""
    if plain_lanes_applicable(m, config, sym_idx, mode):
        if config.rules().fractional or sym_idx.shape[0] <= TAIL_LANES:
            return run_plain_lanes(m, config, sym_idx, targets, change)
        out = run_cost_lanes(m, config, sym_idx, targets, change)  # whole shares: its tail lanes go alone
        if out is not None:
            return out
        return run_plain_lanes(m, config, sym_idx, targets, change)
    if sym_idx.shape[0] == 1:  # boolean targets (`execution_targets`) as the floats 1 / 0 there and in `Simulator`
        targets, change = np.ascontiguousarray(targets, dtype=np.float64), np.ascontiguousarray(change)
        return run_single_lane(m, config, sym_idx, mode, targets, change)
    if cost_lanes_applicable(m, config, sym_idx, mode):
        out = run_cost_lanes(m, config, sym_idx, targets, change)
        if out is not None:
            return out
    return Simulator(m, config, sym_idx, mode).run(targets.astype(np.float64, copy=False), change)


def plain_lanes_applicable(m, config, sym_idx: np.ndarray, mode: str) -> bool:
    """True when `run_plain_lanes` reproduces `Simulator` exactly for this run."""
    r = config.rules()
    if mode != "weight" or sym_idx.shape[1] != 1 or r.slippage or r.t1 or r.lots:
        return False
    if config.exits:  # exit rules (`quant.stops`) need the scalar kernel or `Simulator`
        return False
    if not r.fractional and not ((m.lot_min == 1.0).all() and (m.lot_step == 1.0).all()):
        return False  # whole shares: exactly `lot_round` with lot 1 (no lot rules)
    if r.commission_rate or r.min_commission or r.exchange_fees or config.volume_cap is not None:
        return False
    if m.ca_cash is not None or m.buy_block.any() or m.sell_block.any():
        return False
    cols = np.unique(sym_idx[:, 0])
    px = m.exec_px if cols.size == m.exec_px.shape[1] else m.exec_px[:, cols]  # unique: all columns
    return bool(px.size and px.min() > 0 and px.max() < np.inf)  # min/max propagate NaN


def run_plain_lanes(m, config, sym_idx: np.ndarray, targets: np.ndarray, change: np.ndarray) -> KernelOut:
    """Simulate (T, L, 1) weight targets; see the module docstring for when this applies."""
    T, L, K = targets.shape
    cash0 = float(config.initial_cash)
    evt = change[:, :, 0]
    whole = not config.rules().fractional
    rnd = _whole if whole else _frac
    if L == 1:
        return _single(m, sym_idx, targets, evt, cash0, whole)
    _, order, ev, n_active = lane_schedule(evt)
    kmax = len(ev)
    sym = sym_idx[order, 0]
    evc = np.minimum(ev, T - 1)  # padding (lanes without a k-th event) is never read: they are past the prefix
    PX = m.exec_px[evc, sym[None, :]]
    TW = targets[evc, order[None, :], 0].astype(np.float64, copy=False)  # boolean targets: 1 / 0
    cash = np.full(L, cash0)
    pos = np.zeros(L)
    states, blocks = [], []  # blocks: each step's sell and buy arrays, selected once at the end (`_records`)
    for k in range(kmax):
        n = int(n_active[k])
        p, w, t = PX[k, :n], TW[k, :n], ev[k, :n]
        c, s = cash[:n], pos[:n]
        lanes = order[:n]
        sp = s * p
        d = (w * (c + sp) - sp) / p  # equity c + s p (each product once: the same values)
        sell = d < -EPS
        if sell.any():
            want = np.where(sell, -d, 0.0)
            req = np.where(want >= s - 1e-6, s, rnd(want))
            q = np.minimum(req, s)
            value = np.where(q > 0, q * p, 0.0)
            c = c + np.where(sell, value, 0.0)
            s = s - q
            blocks.append((sell, 1, lanes, t, sym[:n], want, req, q, p, s))
        buy = d > EPS
        if buy.any():
            req = np.where(buy, rnd(d), 0.0)
            q2 = _fit_cash_whole(np.where(buy & (req <= EPS), 0.0, req), p, c) if whole else _fit_cash(req, p, c)
            value = np.where(q2 > 0, q2 * p, 0.0)
            c = np.maximum(c - np.where(buy, value, 0.0), 0.0)
            s = s + q2
            blocks.append((buy, 0, lanes, t, sym[:n], d, req, q2, p, s))
        cash[:n] = c
        pos[:n] = s
        if c.base is cash:  # no order: still views of the running state (a block makes fresh arrays)
            c, s = c.copy(), s.copy()
        states.append((lanes, t, c, s))
    recs, pchg = _records(blocks)
    return _out(recs, states, pchg, (T, L, K))


def _records(blocks: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """The order records and position changes of every step's sell and buy blocks (prefix-length arrays
    kept as computed; every one is a fresh array or a view of an array no step writes), selected with
    one concatenation per field instead of ~15 small gathers per block: the same rows, in step order,
    sells before buys, lanes in prefix order, with the dtypes of the per-block gathers. The reasons and
    close-outs are derived here from the selected rows (the same comparisons the steps would make: a
    sell's `s − q` is its shares after; a fractional buy's request is never ≤ EPS)."""
    if not blocks:
        return [], []
    mask, side, lanes, t, sym, target, req, q, price, pos_after = (list(c) for c in zip(*blocks, strict=True))
    sizes = np.array([m.size for m in mask])
    cat = np.concatenate
    q_all, lanes_all, t_all, after_all = cat(q), cat(lanes), cat(t), cat(pos_after)
    f = q_all > 0  # a position change wherever shares moved (also a dust close-out outside the mask)
    nf = int(f.sum())
    pchg = [(lanes_all[f], np.zeros(nf, np.int64), t_all[f], after_all[f])]
    idx = np.flatnonzero(cat(mask))
    zero = np.zeros(idx.size)
    sides = np.repeat(np.array(side, np.int8), sizes)[idx]
    r_req, r_q = cat(req)[idx], q_all[idx]
    selling = sides == 1
    reason = np.where(r_req <= EPS, _LOT0, np.where(~selling & (r_q < r_req - EPS), _CASH, 0)).astype(np.int8)
    closes = selling & (r_q > 0) & (after_all[idx] <= 1e-9)
    recs = [
        (lanes_all[idx], t_all[idx], cat(sym)[idx], sides, np.abs(cat(target)[idx]), r_req, r_q,
         cat(price)[idx], zero, zero, zero, reason, closes)
    ]  # fmt: skip
    return recs, pchg


def _fit_cash(q: np.ndarray, price: np.ndarray, cash: np.ndarray) -> np.ndarray:
    """`Simulator._fit_cash` for one slot per lane and fractional shares."""
    for _ in range(50):
        cost = np.where(q > 0, q * price, 0.0)
        over = cost > cash + 1e-9
        if not over.any():
            return q
        scale = np.where(over, cash / np.maximum(cost, 1e-12), 1.0)
        shrunk = np.maximum(q * scale * (1 - 1e-12), 0.0)
        stuck = over & (shrunk >= q - EPS) & (q > 0)
        if stuck.any():
            shrunk[stuck] = np.maximum(q[stuck] - 1e-6, 0.0)
        q = np.where(over, shrunk, q)
    return q * 0.0


def _frac(q: np.ndarray) -> np.ndarray:
    """`Simulator._round` for fractional shares."""
    return np.maximum(q, 0.0)


def _whole(q: np.ndarray) -> np.ndarray:
    """`Simulator._round` for whole shares without lot rules: `kernel.lot_round(q, 1, 1)`, whose division
    and multiplication by the step 1.0 are exact identities (left out: two numpy calls fewer)."""
    return np.where(q >= 1.0 - 1e-9, 1.0 + np.floor(q - 1.0 + 1e-9), 0.0)


def _fit_cash_whole(q: np.ndarray, price: np.ndarray, cash: np.ndarray) -> np.ndarray:
    """`Simulator._fit_cash` (with `_unstick`) for one slot per lane and whole shares (lot 1)."""
    for _ in range(50):
        cost = np.where(q > 0, q * price, 0.0)
        over = cost > cash + 1e-9
        if not over.any():
            return q
        scale = np.where(over, cash / np.maximum(cost, 1e-12), 1.0)
        shrunk = _whole(q * scale * (1 - 1e-12))
        stuck = over & (shrunk >= q - EPS) & (q > 0)
        if stuck.any():
            shrunk[stuck] = _whole(q - 1.0)[stuck]
        q = np.where(over, shrunk, q)
    return q * 0.0


def _out(recs, states, pchg, shape) -> KernelOut:
    """The kernel's output from its record, snapshot and position-change blocks (one block of records or
    position changes is taken as it is: `_records` builds fresh arrays; a concatenation would copy them)."""
    if len(recs) == 1:
        cols = _distinct(recs[0])
    elif recs:
        cols = [np.concatenate(c) for c in zip(*recs, strict=True)]
    else:
        ints = {"lane", "t", "sym", "side", "reason"}
        cols = [np.zeros(0, np.int64 if f in ints else bool if f == "closes" else float) for f in ORDER_FIELDS]
    orders = dict(zip(ORDER_FIELDS, cols, strict=True))
    if states:
        lane, t, cash, pos = (np.concatenate(c) for c in zip(*states, strict=True))
    else:
        lane, t, cash, pos = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    pl_, pk, pt, pv = _distinct(pchg[0]) if len(pchg) == 1 else _cat(pchg, 4)
    out = KernelOut(orders, lane, t, cash, pl_, pk, pt, pv, np.zeros(shape[1]), shape)
    out.state_pos = pos
    return out


def _distinct(arrays: tuple) -> list[np.ndarray]:
    """The arrays of one block as the output's fields, each its own array (as a concatenation gives them: a
    block may use one zero array for several fields)."""
    seen: set[int] = set()
    out = []
    for a in arrays:
        out.append(a.copy() if id(a) in seen else a)
        seen.add(id(a))
    return out


def _whole1(q: float) -> float:
    """`_whole` on one float."""
    if q >= 1.0 - 1e-9:
        x = q - 1.0 + 1e-9
        return 1.0 + (float(_floor(x)) if x != _INF else x)
    return 0.0


def _fit_cash_whole1(q: float, p: float, cash: float) -> float:
    """`_fit_cash_whole` for one lane, on Python floats."""
    for _ in range(50):
        cost = q * p if q > 0 else 0.0
        if not cost > cash + 1e-9:
            return q
        shrunk = _whole1(q * (cash / max(cost, 1e-12)) * (1 - 1e-12))
        if shrunk >= q - EPS and q > 0:
            shrunk = _whole1(q - 1.0)
        q = shrunk
    return q * 0.0


def _single(m, sym_idx, targets, evt, cash0, whole: bool) -> KernelOut:
    """One lane: the same arithmetic on Python floats (IEEE double, correctly rounded like numpy), with
    fractional shares or whole shares (`_whole1` / `_fit_cash_whole1`: `_whole` / `_fit_cash_whole` per
    float)."""
    T = targets.shape[0]
    sym = int(sym_idx[0, 0])
    ts = np.flatnonzero(evt[:, 0])
    pxs = m.exec_px[ts, sym].tolist()
    tws = targets[ts, 0, 0].astype(np.float64, copy=False).tolist()
    tl = ts.tolist()
    cash, pos = cash0, 0.0
    st_t, st_c = [], []
    rows = []
    pc_t, pc_v = [], []
    for t, p, w in zip(tl, pxs, tws, strict=True):
        d = (w * (cash + pos * p) - pos * p) / p
        if d < -EPS:
            want = -d
            req = pos if want >= pos - 1e-6 else (_whole1(want) if whole else max(want, 0.0))
            reason = _LOT0 if req <= EPS else 0
            q = min(req, pos)
            if q > 0:
                cash = cash + q * p
            closes = q > 0 and pos - q <= 1e-9
            pos = pos - q
            if q > 0:
                pc_t.append(t)
                pc_v.append(pos)
            rows.append((t, 1, want, req, q, p, reason, closes))
        elif d > EPS:
            if whole:
                req = _whole1(d)
                lot0 = req <= EPS
                q = _fit_cash_whole1(0.0 if lot0 else req, p, cash)
                reason = _LOT0 if lot0 else (_CASH if q < req - EPS else 0)
            else:
                req = max(d, 0.0)
                q = req
                for _ in range(51):
                    if _ == 50:
                        q = q * 0.0
                        break
                    cost = q * p if q > 0 else 0.0
                    if not cost > cash + 1e-9:
                        break
                    shrunk = max(q * (cash / max(cost, 1e-12)) * (1 - 1e-12), 0.0)
                    if shrunk >= q - EPS and q > 0:
                        shrunk = max(q - 1e-6, 0.0)
                    q = shrunk
                reason = _CASH if q < req - EPS else 0
            cash = max(cash - (q * p if q > 0 else 0.0), 0.0)
            pos = pos + q
            if q > 0:
                pc_t.append(t)
                pc_v.append(pos)
            rows.append((t, 0, d, req, q, p, reason, False))
        st_t.append(t)
        st_c.append(cash)
    n = len(rows)
    if n:
        t_, side, target, req, q, price, reason, closes = (list(c) for c in zip(*rows, strict=True))
        zero = np.zeros(n)
        cols = [
            np.zeros(n, np.int64), np.array(t_, np.int64), np.full(n, sym, np.int64), np.array(side, np.int8),
            np.abs(np.array(target)), np.array(req), np.array(q), np.array(price), zero, zero, zero,
            np.array(reason, np.int8), np.array(closes, bool),
        ]  # fmt: skip
        orders = dict(zip(ORDER_FIELDS, cols, strict=True))
    else:
        orders = _out([], [], [], (T, 1, 1)).orders
    npc = len(pc_t)
    return KernelOut(
        orders, np.zeros(len(st_t), np.int64), np.array(st_t, np.int64), np.array(st_c, float),
        np.zeros(npc, np.int64), np.zeros(npc, np.int64), np.array(pc_t, np.int64), np.array(pc_v, float),
        np.zeros(1), (T, 1, 1),
    )  # fmt: skip
