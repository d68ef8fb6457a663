"""Dual moving-average cross, event-driven: the port of `ma_cross`.

The same rule as the vectorised `ma_cross` — hold 1/N of the portfolio in a symbol while the fast simple
moving average of its close is above the slow one, nothing otherwise — written as an event-driven
strategy: on every bar it compares the two averages up to that bar and orders a target percent when the
signal changes. Its orders, fills and equity are bit-identical to `ma_cross`'s (a test pins it).
"""

from quant.sdk import ParamError, order_target_percent, param

PARAMS = [
    param("fast", int, default=10, min=2, max=200, step=5, description="fast SMA window (bars)"),
    param("slow", int, default=30, min=3, max=400, step=10, description="slow SMA window (bars)"),
]


def check_params(params: dict) -> None:
    """The fast SMA must be shorter than the slow one (grids skip other combinations)."""
    if params["fast"] >= params["slow"]:
        raise ParamError("fast", "must be smaller than slow")


def initialize(context) -> None:
    """Every symbol starts flat; a symbol's share is 1 / the number of symbols."""
    context.share = 1.0 / len(context.universe)
    context.weight = dict.fromkeys(context.universe, 0.0)


def handle_bar(context, bar) -> None:
    """Order the symbol's target percent when its signal changes."""
    fast, slow = context.params["fast"], context.params["slow"]
    for symbol in bar:
        on = context.sma(symbol, fast) > context.sma(symbol, slow)
        weight = on * context.share
        if weight != context.weight[symbol]:
            context.weight[symbol] = weight
            order_target_percent(symbol, weight)
