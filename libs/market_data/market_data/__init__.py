"""market_data — the market data huice backtests on, and nothing else.

Owns the Tushare Pro HTTP adapter (`tushare`), the Parquet bar store under `<data_dir>/market` (`store`),
the trading calendar (Tushare `trade_cal` or XSHG, `calendars`), the instrument reference with boards and
ST periods, immutable data snapshots (PostgreSQL schema `market_data`), integrity checks, and the
deterministic synthetic sample dataset (`sample`, labelled `source: sample`).

Publishes: the use cases in `service` (for other contexts `get_bars`, `get_benchmark`, `get_instruments`,
`trading_sessions`, `validate_symbols`, `default_snapshot`, `latest_snapshot`, `get_snapshot`, `coverage`,
`index_members`, `listed_universe`, `fundamentals` — bars as the polars frame of
`spec/BarFrameContract.md`), the schemas in `schemas`, and in `config` the `MarketDataEnv` the env-taking
services need (`build_env`, `env_of`) with the `SyncJobs` port the app fills; the `/api/market` router
(`api`), the `huice data` CLI (`cli`) and the `market_data.sync` job handler (`jobs`) for the composition
app. Also owns point-in-time fundamentals (`daily_basic`) and index constituents (`index_weight`).

Depends on platform_core, quant (the bar contract and the board/limit rules) and user_auth (the API's
principals).
"""

# What other contexts may import of market_data (checked by tests/spec/test_architecture.py and the
# import-linter contract "market_data publishes only its surface" in pyproject.toml).
PUBLISHED_MODULES = ("service", "schemas", "config")
