"""Cross-sectional momentum rotation.

Every `rebalance` sessions, ranks the universe by its `lookback`-bar return and holds the `top_n`
best with equal weights (1 / top_n each); the others are sold. Rows are emitted only on rebalance
bars — the engine carries the targets forward. Sensible ranges: lookback 20..120, top_n 1..10,
rebalance 5..60.
"""

import polars as pl

from backtest.engine.sdk import param, pct_change

PARAMS = [
    param("lookback", int, default=20, min=1, max=500, description="momentum window (bars)"),
    param("top_n", int, default=5, min=1, max=100, description="number of symbols held"),
    param("rebalance", int, default=20, min=1, max=250, description="sessions between rebalances"),
]


def generate(bars: pl.DataFrame, params: dict) -> pl.DataFrame:
    """Equal weights on the top-N symbols by trailing return, on rebalance bars only."""
    scored = bars.with_columns(pct_change(params["lookback"]).alias("mom"))
    stamps = scored.select(pl.col("ts").unique().sort())
    rebal = stamps.with_row_index("i").filter(pl.col("i") >= params["lookback"])
    rebal = rebal.filter((pl.col("i") - params["lookback"]) % params["rebalance"] == 0).select("ts")
    picks = scored.join(rebal, on="ts").with_columns(
        pl.col("mom").fill_nan(None).rank("ordinal", descending=True).over("ts").alias("rank")
    )
    weight = pl.when(pl.col("mom").is_not_null() & (pl.col("rank") <= params["top_n"]))
    return picks.select("ts", "symbol", weight.then(1.0 / params["top_n"]).otherwise(0.0).alias("weight"))
