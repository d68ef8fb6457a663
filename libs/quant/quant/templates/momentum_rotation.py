"""Cross-sectional momentum rotation.

Every `rebalance` sessions, ranks the universe by its `lookback`-bar return and holds the `top_n`
best with equal weights (1 / top_n each); the others are sold. Only the stocks in the universe on the
rebalance session (`in_universe`, point in time for an index / all selection) are ranked, so the top N
are N members. Rows are emitted only on rebalance bars — the engine carries the targets forward.
Sensible ranges: lookback 20..120, top_n 1..10, rebalance 5..60.
"""

import polars as pl

from backtest.engine.sdk import param, pct_change, top_n

PARAMS = [
    param("lookback", int, default=20, min=1, max=500, description="momentum window (bars)"),
    param("top_n", int, default=5, min=1, max=100, description="number of symbols held"),
    param("rebalance", int, default=20, min=1, max=250, description="sessions between rebalances"),
]


def generate(bars: pl.DataFrame, params: dict) -> pl.DataFrame:
    """Equal weights on the top-N members by trailing return, on rebalance bars only."""
    scored = bars.with_columns(pct_change(params["lookback"]).alias("mom"))
    stamps = scored.select(pl.col("ts").unique().sort())
    rebal = stamps.with_row_index("i").filter(pl.col("i") >= params["lookback"])
    rebal = rebal.filter((pl.col("i") - params["lookback"]) % params["rebalance"] == 0).select("ts")
    picks = scored.join(rebal, on="ts")
    return picks.select("ts", "symbol", top_n("mom", params["top_n"], descending=True).alias("weight"))
