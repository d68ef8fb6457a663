"""The event-driven strategy API (JoinQuant / RQAlpha style): the functions a strategy calls from its
`initialize(context)` / `handle_bar(context, bar)` hooks. They act on the run in progress
(`quant.event.EventRun`), which registers itself here while it runs; outside a run they raise.

Re-exported by `quant.sdk`, so a strategy writes `from quant.sdk import order_target_percent, run_monthly`.
Every function is also a method of `context` (`context.order_target_percent(...)`). Every order function
takes an optional label, `reason="STOP_LOSS"` (alias `tag=`): at most 32 characters of [A-Za-z0-9_],
shown with the order's fills in the orders artifact's `tag` column and in `context.orders`."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

_ACTIVE: list[Any] = []  # the run in progress (a stack: a run never nests, but a failed one must not leak)


def _run() -> Any:
    if not _ACTIVE:
        raise RuntimeError("the event-driven API is only available while an event-driven strategy runs")
    return _ACTIVE[-1]


def order_shares(
    security: str, amount: float, price: float | None = None, *, reason: str | None = None, tag: str | None = None
) -> Any:
    """Buy (amount > 0) or sell (amount < 0) `amount` shares; `price` makes it a limit order."""
    return _run().order("shares", security, amount, price, _label(reason, tag))


def order_value(
    security: str, value: float, price: float | None = None, *, reason: str | None = None, tag: str | None = None
) -> Any:
    """Buy (value > 0) or sell (value < 0) shares worth `value` at the execution price."""
    return _run().order("value", security, value, price, _label(reason, tag))


def order_target_shares(
    security: str, amount: float, price: float | None = None, *, reason: str | None = None, tag: str | None = None
) -> Any:
    """Trade to hold `amount` shares (≥ 0)."""
    return _run().order("target_shares", security, amount, price, _label(reason, tag))


def order_target_value(
    security: str, value: float, price: float | None = None, *, reason: str | None = None, tag: str | None = None
) -> Any:
    """Trade to hold shares worth `value` (≥ 0) at the execution price."""
    return _run().order("target_value", security, value, price, _label(reason, tag))


def order_target_percent(
    security: str, percent: float, price: float | None = None, *, reason: str | None = None, tag: str | None = None
) -> Any:
    """Trade to hold `percent` (0..1) of the portfolio's total value at the execution price."""
    return _run().order("target_percent", security, percent, price, _label(reason, tag))


def order_target(
    security: str, amount: float, price: float | None = None, *, reason: str | None = None, tag: str | None = None
) -> Any:
    """JoinQuant's name for `order_target_shares`."""
    return order_target_shares(security, amount, price, reason=reason, tag=tag)


def order(
    security: str, amount: float, price: float | None = None, *, reason: str | None = None, tag: str | None = None
) -> Any:
    """JoinQuant's name for `order_shares`."""
    return order_shares(security, amount, price, reason=reason, tag=tag)


def _label(reason: str | None, tag: str | None) -> str | None:
    """The order's own label: `reason=` or its alias `tag=` (not two different ones); checked by the run."""
    if reason is not None and tag is not None and reason != tag:
        raise ValueError("give an order's label as reason= or tag=, not both")
    return reason if reason is not None else tag


def cancel_order(order: Any) -> None:
    """Cancel an open order (an `Order` or its id)."""
    _run().cancel(order)


def get_open_orders() -> dict:
    """The orders not yet done, by id."""
    return _run().open_orders()


def history(security: str, count: int, field: str = "close", end_dt: Any = None) -> Any:
    """The last `count` values of `field` up to the current bar (a read-only numpy array, oldest first);
    an `end_dt` after the current bar is refused (no look-ahead)."""
    return _run().history(security, count, field, end_dt)


def attribute_history(security: str, count: int, unit: str = "1d", fields: Any = ("close",)) -> dict:
    """JoinQuant's `attribute_history`: a dict field → array of the last `count` bars (`unit` is the run's
    bar size; other units are refused)."""
    return _run().attribute_history(security, count, unit, fields)


def run_daily(func: Any, time: str = "open") -> None:
    """Call `func(context)` every session: at its open (before its orders execute) or at its close."""
    _run().schedule("daily", func, 0, time)


def run_weekly(func: Any, weekday: int, time: str = "open") -> None:
    """Call `func(context)` on the `weekday`-th session of each week (1 = first; -1 = last)."""
    _run().schedule("weekly", func, weekday, time)


def run_monthly(func: Any, monthday: int, time: str = "open") -> None:
    """Call `func(context)` on the `monthday`-th session of each month (1 = first; -1 = last)."""
    _run().schedule("monthly", func, monthday, time)


class _Globals(SimpleNamespace):
    """JoinQuant's `g`: the strategy's own state, emptied at the start of every run (`reset_globals`); one
    run at a time uses it (runs in a process are sequential), as on JoinQuant."""


def reset_globals() -> None:
    """Empty `g` for a new run."""
    g.__dict__.clear()


g = _Globals()

EVENT_API = (
    "order_shares",
    "order_value",
    "order_target_shares",
    "order_target_value",
    "order_target_percent",
    "order_target",
    "order",
    "cancel_order",
    "get_open_orders",
    "history",
    "attribute_history",
    "run_daily",
    "run_weekly",
    "run_monthly",
    "g",
)
