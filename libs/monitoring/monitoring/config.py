"""Settings of monitoring (`HUICE_MONITOR_*`, plus `HUICE_METRICS_TOKEN`) and the
bundle (`MonitoringEnv`) its services run with.

`MonitoringSettings`: the metrics token, the alert thresholds, the maintenance schedules, the stream
interval, the error tracking (HUICE_SENTRY_DSN). `MonitoringEnv` = settings + the database and data directory + the
envs of the contexts it reads (their services take them) + this process's HTTP request metrics; the
composition app builds it once (`build_env`) and keeps it in `container.extras["monitoring"]`; faces
reach it with `env_of(container)`. Nothing is read at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from platform_core.settings import HuiceSettings

if TYPE_CHECKING:
    from backtest.config import BacktestEnv
    from job_orchestration.config import JobsEnv
    from market_data.config import MarketDataEnv
    from monitoring.telemetry import HttpMetrics
    from platform_core.db import Database
    from user_auth.config import AuthEnv


class MonitoringSettings(HuiceSettings):
    """What operators tune: who may scrape `/metrics`, when an alert fires, when maintenance runs."""

    model_config = SettingsConfigDict(
        env_prefix="HUICE_MONITOR_", env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    metrics_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("HUICE_METRICS_TOKEN", "metrics_token"),
        description="Bearer token `/metrics` requires (401 without it); unset = `/metrics` is open to whoever "
        "reaches the API's bind address (HUICE_API_HOST, 127.0.0.1 by default).",
    )
    alert_window: str = Field("1h", description="Window of the alert figures (queue wait p95, failure rate).")
    alert_queue_wait_p95_s: float | None = Field(
        300.0, gt=0, description="Alert when the queue wait p95 of the window is above this (s); unset = off."
    )
    alert_failure_rate: float | None = Field(
        0.25, ge=0, le=1, description="Alert when failed / finished jobs of the window is above this; unset = off."
    )
    alert_failure_min_jobs: int = Field(
        5, ge=1, description="Finished jobs the window needs before the failure-rate rule judges."
    )
    alert_no_worker: bool = Field(True, description="Alert when no worker is alive.")
    alert_data_stale_sessions: int | None = Field(
        3,
        ge=0,
        description="Alert when the newest Tushare daily bar is more than this many sessions old (only with a "
        "Tushare token: sample data never refreshes); unset = off.",
    )
    alert_disk_used_pct: float | None = Field(
        90.0, gt=0, le=100, description="Alert when the data directory's disk is fuller than this (%); unset = off."
    )
    alert_interval_s: int = Field(60, ge=5, description="How often the alert rules are evaluated (a schedule).")
    retention_interval_s: int = Field(86400, ge=60, description="How often retention runs (a schedule).")
    job_events_days: int = Field(30, ge=1, description="Job events of finished jobs older than this are deleted.")
    tushare_refresh_at: str = Field(
        "16:30",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Daily Tushare refresh time (Asia/Shanghai, after the close); only with a Tushare token.",
    )
    tushare_refresh_days: int = Field(10, ge=1, le=366, description="Calendar days the daily refresh fetches back.")
    stream_interval_s: float = Field(
        5.0,
        gt=0,
        description="Longest gap between summaries on `/api/monitor/stream` (a job's state change pushes one at once).",
    )
    stream_debounce_s: float = Field(
        0.25,
        ge=0,
        le=10,
        description="After a job's state change, how long the stream waits for more before it pushes a summary.",
    )
    sentry_dsn: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("HUICE_SENTRY_DSN", "sentry_dsn"),
        description="Sentry DSN: unexpected errors of the API and worker processes are reported there, redacted "
        "(no tokens, passwords, headers, bodies or strategy source); unset = no error tracking.",
    )
    sentry_environment: str | None = Field(
        None,
        validation_alias=AliasChoices("HUICE_SENTRY_ENVIRONMENT", "sentry_environment"),
        description="Sentry `environment` of the events; unset = HUICE_ENV.",
    )

    @field_validator("sentry_dsn")
    @classmethod
    def _a_sentry_dsn(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        from sentry_sdk.utils import BadDsn, Dsn

        try:
            Dsn(value.get_secret_value().strip())
        except BadDsn as exc:
            raise ValueError(f"HUICE_SENTRY_DSN is not a Sentry DSN ({exc})") from None
        return SecretStr(value.get_secret_value().strip())


@dataclass
class MonitoringEnv:
    """What monitoring's services need beyond the session: settings, the database (the schedule tick opens
    its own transactions), the data directory (disk rule), the envs of the contexts whose services it
    calls, and this process's HTTP request metrics."""

    settings: MonitoringSettings
    db: Database
    data_dir: Path
    auth: AuthEnv
    market: MarketDataEnv
    jobs: JobsEnv
    backtest: BacktestEnv
    http: HttpMetrics


def build_env(
    settings: MonitoringSettings,
    db: Database,
    data_dir: Path,
    *,
    auth: AuthEnv,
    market: MarketDataEnv,
    jobs: JobsEnv,
    backtest: BacktestEnv,
) -> MonitoringEnv:
    """Build the bundle once at start-up (the composition app's `wire_monitoring` calls this)."""
    from monitoring.telemetry import HttpMetrics

    return MonitoringEnv(
        settings=settings,
        db=db,
        data_dir=Path(data_dir),
        auth=auth,
        market=market,
        jobs=jobs,
        backtest=backtest,
        http=HttpMetrics(),
    )


def env_of(container: Any) -> MonitoringEnv:
    """The `MonitoringEnv` of a composition root (API, CLI, worker or test container)."""
    env = container.extras.get("monitoring")
    if not isinstance(env, MonitoringEnv):
        from platform_core.errors import InternalError

        raise InternalError("monitoring is not wired into this container")
    return env
