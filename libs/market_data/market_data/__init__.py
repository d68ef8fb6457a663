"""market_data: everything about market data — and nothing else — for huice.

Owns the Tushare Pro HTTP adapter (`tushare`), the Parquet bar store under `<data_dir>/market` (`store`),
the trading calendar (Tushare `trade_cal` or XSHG), the instrument reference with boards and ST periods,
immutable data snapshots (PostgreSQL schema `market_data`), integrity checks, and the deterministic
synthetic sample dataset (`sample`, labelled `source: sample`).

Publishes (`market_data.service`): `get_bars`, `get_instruments`, `trading_sessions`, `latest_snapshot`,
`get_benchmark`, `validate_symbols` — bars as the polars frame of `spec/BarFrameContract.md` — and the
`/api/market` router and `huice data` CLI. Depends on `platform_core` and `user_auth` (API principals).
"""
