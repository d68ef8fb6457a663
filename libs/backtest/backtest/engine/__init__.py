"""The engine's former home, kept only as an alias: the engine is the `quant` package now.

Stored strategy sources import the SDK as `backtest.engine.sdk`, which is `quant.sdk` (the same module
object, see `sdk.py` here). `quant.strategy.load_strategy` registers that name too, so it resolves where
this package is not installed (a notebook with only `quant`, the confined runner).
"""
