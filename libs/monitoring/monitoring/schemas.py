"""Published schemas of monitoring: the summary, alerts and their history, evaluations, schedules."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from backtest.schemas import BacktestCounts
from job_orchestration.schemas import KindStats, LatestJob, QueueStats
from market_data.schemas import DataFreshness
from monitoring.domain import AlertRule, AlertState, Transition
from strategy_management.schemas import StrategyCounts
from user_auth.schemas import UserCounts


class AlertRead(BaseModel):
    """The current state of one alert rule."""

    model_config = ConfigDict(from_attributes=True)

    rule: AlertRule
    state: AlertState
    value: float | None
    threshold: float | None
    message: str
    since: datetime = Field(description="When the rule entered this state.")
    evaluated_at: datetime


class AlertEventRead(BaseModel):
    """A firing or resolved transition of a rule."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    rule: AlertRule
    transition: Transition
    value: float | None
    threshold: float | None
    message: str
    at: datetime


class AlertsRead(BaseModel):
    """Every rule's state, and the transitions newest first."""

    states: list[AlertRead]
    events: list[AlertEventRead]
    total_events: int


class Verdict(BaseModel):
    rule: AlertRule
    firing: bool
    value: float | None
    threshold: float | None
    message: str


class EvaluationReport(BaseModel):
    """One evaluation of the alert rules: what each rule saw, what changed, how many admins were mailed."""

    evaluated_at: datetime
    verdicts: list[Verdict]
    transitions: list[AlertEventRead]
    notified: int = Field(description="Messages queued to the admin mailbox.")


class DataSummary(BaseModel):
    """Data freshness (market_data) and the last scheduled Tushare refresh (its job) and how it ended."""

    freshness: DataFreshness
    last_sync: LatestJob | None


class Summary(BaseModel):
    """The operations summary: every figure from the context that owns it."""

    generated_at: datetime
    window: str
    window_s: int
    users: UserCounts
    strategies: StrategyCounts
    backtests: BacktestCounts
    runs: KindStats = Field(description="Runs (`backtest.run` jobs): by status now, timings over the window.")
    jobs: QueueStats = Field(description="Every job: queue depth, live workers, queue wait, failure rate.")
    workers_alive: int | None = Field(description="job_orchestration's one definition (None: Redis unreachable).")
    data: DataSummary
    optimisations_running: int | None = Field(description="Parameter sweeps queued or running now.")
    share_link_visits: int | None = Field(description="Visits of every share link so far (分享链接访问量).")
    absent: dict[str, str] = Field(description="Figures not available, and why.")
    alerts_firing: list[AlertRead]


class ScheduleRead(BaseModel):
    """A persisted maintenance schedule (its jobs are ordinary jobs, listed in `/api/jobs`)."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    kind: str
    payload: dict[str, Any]
    interval_s: int | None
    daily_at: str | None = Field(description="HH:MM Asia/Shanghai for daily schedules.")
    enabled: bool
    next_run_at: datetime
    last_run_at: datetime | None
    last_job_id: uuid.UUID | None


class RetentionReport(BaseModel):
    idempotency_keys: int = Field(description="Expired idempotency keys deleted.")
    job_events: int = Field(description="Events of finished jobs older than the retention deleted.")
