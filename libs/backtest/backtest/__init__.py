"""backtest: the vectorised A-share engine (`backtest.engine`, a pure library) and backtest runs on the service.

Owns the `backtest` schema (backtests pinning a strategy version and a context with a data snapshot; runs,
1:1 with `backtest.run` jobs, with their metrics, manifest and artifact references; idempotency keys), the
artifact store (`<data_dir>/artifacts`), the `/api/backtests` + `/api/runs` routers and `huice backtest`.
Publishes the service functions in `backtest.service` and the schemas in `backtest.schemas`. Depends on the
published services of user_auth, market_data, strategy_management and job_orchestration (`gateways`).
"""
