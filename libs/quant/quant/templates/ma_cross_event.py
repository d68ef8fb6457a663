"""Moving-average cross with an 8% stop-loss and a trailing take-profit (JoinQuant style).

Buys a symbol with an equal share of the portfolio when its fast SMA crosses above the slow one. A held
symbol is sold when the averages cross back, when its price falls `stop_loss` (8%) below the average
cost, or — once its gain has reached `take_profit` (10%) — when the price falls `trailing` (5%) below the
highest close since the entry. Exits sell only what T+1 allows (`closeable_amount`); an exit blocked by a
limit-down board stays open and is retried by the engine. Written as on JoinQuant: `initialize(context)`,
`handle_data(context, data)`, the global `g`, `order_target` / `order_target_percent`. The stop-loss and
take-profit exits carry their reason (`order_target(symbol, 0, reason="STOP_LOSS")`): the orders' `tag`.
"""

from quant.sdk import ParamError, g, order_target, order_target_percent, param

PARAMS = [
    param("fast", int, default=5, min=2, max=200, step=5, description="fast SMA window (bars)"),
    param("slow", int, default=20, min=3, max=400, step=10, description="slow SMA window (bars)"),
    param("stop_loss", float, default=0.08, min=0.01, max=0.5, description="exit at this loss from the average cost"),
    param("take_profit", float, default=0.10, min=0.01, max=2.0, description="gain that arms the trailing exit"),
    param(
        "trailing", float, default=0.05, min=0.01, max=0.5, description="exit at this fall from the peak, once armed"
    ),
]


def check_params(params: dict) -> None:
    """The fast SMA must be shorter than the slow one (grids skip other combinations)."""
    if params["fast"] >= params["slow"]:
        raise ParamError("fast", "must be smaller than slow")


def initialize(context) -> None:
    """An equal share per symbol; no peaks and no signals yet."""
    g.share = 1.0 / len(context.universe)
    g.peak = {}
    g.above = {}


def handle_data(context, data) -> None:
    """Exits first (stop-loss, trailing take-profit, cross down), then entries on a cross up."""
    p = context.params
    for symbol in data:
        fast, slow = context.sma(symbol, p["fast"]), context.sma(symbol, p["slow"])
        above, was_above = fast > slow, g.above.get(symbol, False)
        g.above[symbol] = above
        position = context.portfolio.positions[symbol]
        if position.closeable_amount > 0:
            price = position.price
            peak = g.peak[symbol] = max(g.peak.get(symbol, price), price)
            if price <= position.avg_cost * (1 - p["stop_loss"]):  # stop-loss
                order_target(symbol, 0, reason="STOP_LOSS")
            elif peak >= position.avg_cost * (1 + p["take_profit"]) and price <= peak * (1 - p["trailing"]):
                order_target(symbol, 0, reason="TAKE_PROFIT")  # trailing take-profit
            elif not above:
                order_target(symbol, 0)
        elif position.quantity == 0 and above and not was_above:
            g.peak.pop(symbol, None)
            order_target_percent(symbol, g.share)
