"""The use cases of monitoring — the functions the faces (API, CLI, the maintenance jobs) call.

Every function takes the caller's session (it flushes, never commits) and the context's `MonitoringEnv`
(`monitoring.config.env_of(container)`); those the faces call for a person take the principal and are
for administrators only (FORBIDDEN otherwise).

- summary (`summary`): `summary` — the operations summary over a window; `build_summary` for the stream.
- metrics (`metrics`): `render_metrics`, `check_metrics_token` — the Prometheus exposition.
- alerts (`alerts`): `evaluate_alerts` (the scheduled job), `evaluate_now`, `list_alerts`.
- schedules (`schedules`): `run_due` (the tick), `ensure_schedules`, `schedules`, and the scheduled
  work `run_retention` and `tushare_refresh`.
"""

from monitoring.service.alerts import evaluate_alerts, evaluate_now, list_alerts
from monitoring.service.metrics import check_metrics_token, render_metrics
from monitoring.service.schedules import (
    ensure_schedules,
    run_due,
    run_retention,
    schedule_states,
    schedules,
    tushare_refresh,
)
from monitoring.service.summary import build_summary, summary

__all__ = [
    "build_summary",
    "check_metrics_token",
    "ensure_schedules",
    "evaluate_alerts",
    "evaluate_now",
    "list_alerts",
    "render_metrics",
    "run_due",
    "run_retention",
    "schedule_states",
    "schedules",
    "summary",
    "tushare_refresh",
]
