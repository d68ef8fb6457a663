"""Engine-level exit rules of a vectorised strategy: stop-loss, take-profit and trailing stop.

A strategy's targets are computed before the simulation, so it cannot react to its own fills; these
rules can. They are fractions of the entry price (`EngineConfig.stop_loss` / `take_profit` /
`trailing_stop`, or a strategy's `EXITS = exits(...)`):

- the entry is the position's average fill price (fees excluded) since it was opened from zero;
- `stop_loss` triggers on the first bar whose low ≤ entry × (1 − stop_loss); `take_profit` when a bar's
  high ≥ entry × (1 + take_profit); `trailing_stop` when a bar's low ≤ peak × (1 − trailing_stop), the
  peak being the highest of the entry and every high from the entry bar to the previous bar;
- a bar is judged from the entry fill on: the entry bar itself when the fill is at the open
  (`next_open`), the following bar when it is at a close; two rules on one bar: STOP_LOSS, then
  TRAILING_STOP, then TAKE_PROFIT (the adverse move is assumed to come first);
- the exit is decided on the trigger bar's close and executes at the next fill of the fill rule (the next
  bar's open for `next_open`, its close for `next_close`, the trigger bar's close for `same_close`) — at
  that bar's price, not at the stop price — as a sell of the whole position under every rule: not before
  the shares are sellable (T+1), not on a limit-down locked bar, not while suspended; a blocked exit is
  retried on each following bar like any blocked order;
- a filled exit carries the reason STOP_LOSS, TAKE_PROFIT or TRAILING_STOP; the symbol then stays flat
  until the strategy's target for it changes (a change on the exit bar itself is overridden by the exit; a
  change while the exit is still blocked cancels it, and the rules are judged again from the next bar).

Raw-price fills are compared in back-adjusted terms (`Market.stop_scale`), so an ex-rights gap is not a
fall through the stop. `StopBook` is the one implementation every kernel calls (`kernel.Simulator` and
`kernel_scalar`); the frictionless kernels step aside when a rule is set.
"""

from __future__ import annotations

import ast
import math

import numpy as np

from quant.strategy import StrategyError

CODES = ("STOP_LOSS", "TRAILING_STOP", "TAKE_PROFIT")  # also the priority on one bar
CHUNK = 64  # bars scanned first after a fill
BOUNDS = {"stop_loss": (0.0, 1.0), "take_profit": (0.0, 10.0), "trailing_stop": (0.0, 1.0)}


class ExitsError(StrategyError):
    """A strategy's `EXITS` declaration is not a valid `exits(...)` of literal numbers."""


def check_exits(values: dict) -> dict[str, float]:
    """The set exit rules of `values` as floats, each inside its bounds (0 < x < 1; take_profit ≤ 10)."""
    out = {}
    for name, value in values.items():
        if name not in BOUNDS:
            raise ExitsError(f"unknown exit rule {name!r} (stop_loss, take_profit, trailing_stop)")
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ExitsError(f"{name} must be a number")
        low, high = BOUNDS[name]
        if not (low < value < high or (name == "take_profit" and value == high)):
            raise ExitsError(
                f"{name} must be a fraction > {low:g} and {'≤' if name == 'take_profit' else '<'} {high:g}"
            )
        out[name] = float(value)
    return out


def declared_exits(source: str) -> dict[str, float]:
    """The exit rules a strategy source declares at module level (`EXITS = exits(stop_loss=0.08)` or a
    dict literal), read from its syntax tree without running it; {} when it declares none (without
    parsing when the name does not occur in the source)."""
    if "EXITS" not in source:
        return {}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "EXITS" for t in node.targets):
            found = _literal_exits(node.value, node.lineno)
    return found


def _literal_exits(value: ast.expr, line: int) -> dict[str, float]:
    if isinstance(value, ast.Call) and _callee(value.func) == "exits" and not value.args:
        items = [(kw.arg, kw.value) for kw in value.keywords]
    elif isinstance(value, ast.Dict) and all(isinstance(k, ast.Constant) for k in value.keys):
        items = [(k.value, v) for k, v in zip(value.keys, value.values, strict=True)]
    else:
        raise ExitsError(f"line {line}: EXITS must be exits(stop_loss=..., take_profit=..., trailing_stop=...)")
    given = {}
    for name, node in items:
        try:
            given[name] = ast.literal_eval(node)
        except ValueError:
            raise ExitsError(f"line {line}: EXITS takes literal numbers ({name} is not one)") from None
    try:
        return check_exits(given)
    except ExitsError as exc:
        raise ExitsError(f"line {line}: {exc}") from None


def _callee(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def with_declared(config, source: str | None):
    """`config` with the exit rules `source` declares where the config sets none (the config wins)."""
    declared = declared_exits(source) if source else {}
    missing = {k: v for k, v in declared.items() if getattr(config, k) is None}
    return config.model_copy(update=missing) if missing else config


class StopBook:
    """The exit state of L lanes × K slots: entries, scheduled exits and exits in progress."""

    def __init__(self, m, config, sym_idx: np.ndarray, first_code: int):
        self.sl, self.tp, self.tr = config.stop_loss, config.take_profit, config.trailing_stop
        # (N, T) copies: a symbol's bars are contiguous for the scans
        self.low, self.high = np.ascontiguousarray(m.stop_low.T), np.ascontiguousarray(m.stop_high.T)
        self.scale = m.stop_scale
        self.sym = sym_idx
        self.T = m.shape[0]
        L, K = sym_idx.shape
        self.lag = 0 if config.fill == "next_open" else 1  # the first bar whose range follows the fill
        self.exec_lag = 0 if config.fill == "same_close" else 1  # trigger bar → execution bar
        self.first_code = first_code  # reason index of CODES[0] in `kernel.REASONS`
        self.entry = np.zeros((L, K))
        self.opened = np.zeros((L, K), np.int64)  # the first bar judged for the open position
        self.code = np.zeros((L, K), np.int8)  # reason of an exit in progress (0: none)
        self.due: list[dict[int, tuple[int, int]]] = [{} for _ in range(L)]  # lane → {slot: (bar, reason)}
        self.next = np.full(L, self.T, np.int64)  # each lane's earliest scheduled exit bar

    def fire(self, lane: int, t: int, changed) -> list[int]:
        """Slots of `lane` whose exit executes at bar `t` (now in progress, their target forced to 0);
        first, exits in progress of the `changed` slots are dropped (the strategy decided anew) and their
        rules re-armed from the next bar."""
        code = self.code[lane]
        for k in changed:
            if code[k]:
                code[k] = 0
                self._rearm(lane, k, t)
        if self.next[lane] > t:
            return []
        due = self.due[lane]
        fired = sorted(k for k, (bar, _) in due.items() if bar <= t)
        for k in fired:
            code[k] = due.pop(k)[1]
        self._renext(lane)
        return fired

    def fire_lanes(self, a: np.ndarray, t: np.ndarray, ch: np.ndarray) -> list[tuple[int, int]]:
        """`fire` for a step of `Simulator` (lanes `a` at bars `t`, target changes `ch` (len(a), K)):
        (row in `a`, slot) of every exit executing now."""
        if self.code.any():
            for i, k in zip(*np.nonzero(ch & (self.code[a] > 0)), strict=True):
                self.code[a[i], k] = 0
                self._rearm(int(a[i]), int(k), int(t[i]))
        out = []
        for i in np.flatnonzero(self.next[a] <= t).tolist():
            out += [(i, k) for k in self.fire(int(a[i]), int(t[i]), ())]
        return out

    def on_fill(self, lane: int, k: int, t: int, q: float, price: float, after: float, buy: bool) -> None:
        """A fill of `q` shares at `price` on bar `t` left `after` shares: update the entry and (re)schedule
        the slot's exit, unless an exit is already in progress."""
        if after <= 1e-9:
            self.code[lane, k] = 0
            self._set_due(lane, k, None)
            return
        if self.code[lane, k]:
            return
        s = int(self.sym[lane, k])
        if buy:
            value = price * (float(self.scale[t, s]) if self.scale is not None else 1.0)
            old = after - q
            if old <= 1e-9:
                self.entry[lane, k], self.opened[lane, k] = value, t + self.lag
            else:
                self.entry[lane, k] = (old * float(self.entry[lane, k]) + q * value) / after
        self._set_due(lane, k, self._first_exit(s, t + self.lag, int(self.opened[lane, k]), float(self.entry[lane, k])))

    def _rearm(self, lane: int, k: int, t: int) -> None:
        """Schedule the slot's exit again, judging the bars after `t` (the position is still held)."""
        s = int(self.sym[lane, k])
        self._set_due(lane, k, self._first_exit(s, t + 1, int(self.opened[lane, k]), float(self.entry[lane, k])))

    def _set_due(self, lane: int, k: int, hit: tuple[int, int] | None) -> None:
        """Schedule (or drop) the slot's exit, keeping the lane's earliest bar without a scan when possible."""
        due = self.due[lane]
        old = due.pop(k, None)
        if hit is not None:
            due[k] = hit
            if hit[0] < self.next[lane]:
                self.next[lane] = hit[0]
                return
        if old is not None and old[0] == self.next[lane]:
            self._renext(lane)

    def _first_exit(self, s: int, start: int, opened: int, entry: float) -> tuple[int, int] | None:
        """(execution bar, reason) of the first trigger on bars ≥ `start`, or None: scanned over the next
        `CHUNK` bars first (most exits come early), then over the rest."""
        if start >= self.T:
            return None
        peak = entry
        if self.tr is not None:
            before = self.high[s, opened:start]
            if before.size and np.isfinite(before).any():
                peak = max(entry, float(np.nanmax(before)))
        lo = start
        while lo < self.T:
            hi = min(lo + CHUNK, self.T) if lo == start else self.T
            hit, peak = self._scan(s, lo, hi, entry, peak)
            if hit is not None:
                i, which = hit
                bar = lo + i + self.exec_lag
                return (bar, self.first_code + which) if bar < self.T else None
            lo = hi
        return None

    def _scan(self, s: int, lo: int, hi: int, entry: float, peak0: float):
        """The first (bar offset, rule) triggering on bars [lo, hi), and the peak after them."""
        low, high = self.low[s, lo:hi], self.high[s, lo:hi]
        hits = []
        if self.sl is not None:
            hits.append((_first(low <= entry * (1 - self.sl)), 0))
        peak_after = peak0
        if self.tr is not None:
            peak = np.fmax.accumulate(np.concatenate(([peak0], high)))
            hits.append((_first(low <= peak[:-1] * (1 - self.tr)), 1))
            peak_after = float(peak[-1])
        if self.tp is not None:
            hits.append((_first(high >= entry * (1 + self.tp)), 2))
        hits = [h for h in hits if h[0] is not None]
        return (min(hits) if hits else None), peak_after

    def _renext(self, lane: int) -> None:
        due = self.due[lane]
        self.next[lane] = min(bar for bar, _ in due.values()) if due else self.T


def _first(mask: np.ndarray) -> int | None:
    i = int(np.argmax(mask)) if mask.size else 0
    return i if mask.size and mask[i] else None
