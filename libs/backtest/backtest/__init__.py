"""backtest: backtests and their runs on the service, and local runs of the engine (the `quant` core).

Owns the `backtest` schema (backtests pinning a strategy version and a context with a data snapshot; runs,
1:1 with `backtest.run` jobs, with their metrics, manifest and artifact references; idempotency keys;
optimisations with their batch tasks and one result row per combination), the artifact store
(`<data_dir>/artifacts`), the `/api/backtests`, `/api/runs` and `/api/optimizations` routes and
`huice backtest`. Publishes the use cases in `backtest.service` (its `__all__`; `run_backtest` is one
attempt of a run, the `backtest.run` job's work; `run_batch` one batch of a sweep, the `backtest.optimize`
job's), the schemas in `backtest.schemas`, the env in `backtest.config`, and the local runs in
`backtest.local` (engine only, no database). Depends on the quant core and on the published services of
user_auth, market_data, strategy_management and job_orchestration (translated in `gateways`).
"""

# What other contexts may import of backtest (checked by tests/spec/test_architecture.py and the
# import-linter contract "backtest publishes only its surface" in pyproject.toml).
PUBLISHED_MODULES = ("service", "schemas", "config", "engine")
