"""Value rotation: the cheapest stocks of the universe by price-to-book.

On the first session of every month (of every week with `rebalance` = weekly), and on the window's first
session, holds the `n` stocks with the lowest positive PB as known at that session's close (its
daily_basic, `FIELDS`) with equal weights (1 / n each); the others are sold. Only stocks in the universe
on that session (`in_universe`) are ranked, and a PB of 0 or below (negative book equity) never is; ties go
to the smaller code. Rows are emitted only on rebalance bars — the engine carries the targets forward.
Made for a point-in-time index universe, e.g. `{"index": "000906.SH"}` (CSI 800).
"""

import polars as pl

from quant.sdk import param, top_n

FIELDS = ["pb"]

PARAMS = [
    param("n", int, default=10, min=1, max=500, description="number of stocks held (lowest PB first)"),
    param("rebalance", str, default="monthly", choices=("monthly", "weekly"), description="rebalance period"),
]


def generate(bars: pl.DataFrame, params: dict) -> pl.DataFrame:
    """Equal weights on the `n` lowest-PB members on each period's first session."""
    period = pl.col("ts").dt.truncate("1mo" if params["rebalance"] == "monthly" else "1w")
    stamps = bars.select(pl.col("ts").unique().sort())
    firsts = stamps.filter((period != period.shift(1)).fill_null(True))
    value = pl.when(pl.col("in_universe") & (pl.col("pb") > 0)).then(pl.col("pb"))
    picks = bars.join(firsts, on="ts").with_columns(value.alias("value"))
    return picks.select("ts", "symbol", top_n("value", params["n"]).alias("weight"))
