"""monitoring: what an operator watches — the operations summary, Prometheus metrics, alerts and the
scheduled maintenance of the platform.

Owns the `monitoring` schema: alert state (one row per rule: firing or not, since when) and the history
of firing/resolved transitions, and the persisted schedules of the maintenance jobs (when each is due
next, which job it last submitted). Owns no figure: every number comes from the context that owns it,
through its published service functions — users (user_auth), strategies, versions and template usage
(strategy_management), data freshness (market_data), queues, workers and job statistics
(job_orchestration: the one definition of a live worker and of queue wait), backtests and runs
(backtest). Optimisations and share-link visits are reported as absent until backtest publishes them.

Publishes the use cases in `service` (summary, build_summary, render_metrics, check_metrics_token,
evaluate_alerts, evaluate_now, list_alerts, run_due, ensure_schedules, schedules, schedule_states,
run_retention, tushare_refresh), the schemas in `schemas`, and in `config` the `MonitoringEnv` they run
with (`build_env`, `env_of`). For the composition app only: `telemetry.HttpMetrics` (fed by its request
middleware), `api.metrics_router` and `api.stream_socket`, `jobs.handlers` and `jobs.ScheduleLoop`, and
`errortracking.init_error_tracking` (optional Sentry with the platform's redaction, HUICE_SENTRY_DSN).

Depends on platform_core, user_auth, market_data, strategy_management, job_orchestration and backtest
(their services and schemas only): it sits on the floor above backtest. Nothing imports monitoring but
the composition app.
"""

# What other contexts may import of monitoring (checked by tests/spec/test_architecture.py and the
# import-linter contract "monitoring publishes only its surface" in pyproject.toml).
PUBLISHED_MODULES = ("service", "schemas", "config")
