"""Scheduled maintenance on the job runtime: persisted schedules (`monitoring.schedules`) whose due runs
are submitted as ordinary jobs (listed in `/api/jobs`, with leases, retries and budgets), and the use
cases those jobs run — alert evaluation, retention, the daily Tushare refresh.

Why not RQ's cron or rq-scheduler: job_orchestration keeps PostgreSQL as the source of truth and gives RQ
only "run job X" after the commit; both schedulers enqueue RQ jobs directly (invisible to `/api/jobs`, no
lease, retry or budget) and keep their last-run state in Redis or in the scheduler process. Here the
schedule row and the job it submits are written in one transaction: a due run is submitted exactly once
(rows taken with SKIP LOCKED, an idempotency key per due time), and a restart resumes from the stored
`next_run_at`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from backtest import service as backtests
from job_orchestration import service as jobs
from job_orchestration.schemas import JobRead
from market_data import service as market
from monitoring import repository as repo
from monitoring.config import MonitoringEnv
from monitoring.domain import next_daily
from monitoring.schemas import RetentionReport, ScheduleRead
from monitoring.service._common import require_admin
from monitoring.service.summary import TUSHARE_REFRESH_KIND
from platform_core.ids import utcnow
from user_auth.principal import Principal

EVALUATE_KIND = "monitoring.evaluate_alerts"
RETENTION_KIND = "monitoring.retention"
# The owner of scheduled jobs: no user; admins see its jobs in `/api/jobs` like every job.
SCHEDULER_OWNER = uuid.UUID("00000000-0000-0000-0000-00000000005c")


def definitions(env: MonitoringEnv) -> list[dict[str, Any]]:
    """The schedules and their periods from the settings (the rows keep when each is next due)."""
    s = env.settings
    return [
        {"name": "alerts", "kind": EVALUATE_KIND, "payload": {}, "interval_s": s.alert_interval_s, "daily_at": None},
        {
            "name": "retention",
            "kind": RETENTION_KIND,
            "payload": {},
            "interval_s": s.retention_interval_s,
            "daily_at": None,
            "enabled": True,
        },
        {
            "name": "tushare_refresh",
            "kind": TUSHARE_REFRESH_KIND,
            "payload": {"days": s.tushare_refresh_days},
            "interval_s": None,
            "daily_at": s.tushare_refresh_at,
            "enabled": env.market.settings.tushare_token is not None,
        },
    ]


def _next_after(row: repo.ScheduleRow | dict[str, Any], after: datetime) -> datetime:
    interval = row["interval_s"] if isinstance(row, dict) else row.interval_s
    daily_at = row["daily_at"] if isinstance(row, dict) else row.daily_at
    if interval:
        return after + timedelta(seconds=interval)
    assert daily_at is not None
    return next_daily(after, daily_at)


def ensure_schedules(session: Session, env: MonitoringEnv, now: datetime | None = None) -> None:
    """Create the schedules that do not exist yet (interval ones due at once, daily ones at their next time);
    existing rows keep their next run and take the configured period and enabled flag."""
    now = now or utcnow()
    for d in definitions(env):
        first = now if d["interval_s"] else next_daily(now, d["daily_at"])
        repo.ensure_schedule(
            session, {"enabled": True, **d, "next_run_at": first, "last_run_at": None, "updated_at": now}
        )


def run_due(session: Session, env: MonitoringEnv, now: datetime | None = None) -> list[JobRead]:
    """Submit a job for every schedule due at `now` and move it to its next time (the tick of `huice serve`
    / `huice worker`). Safe to run from many processes at once."""
    now = now or utcnow()
    ensure_schedules(session, env, now)
    submitted = []
    for row in repo.due_schedules(session, now):
        job = jobs.submit(
            session,
            env.jobs,
            SCHEDULER_OWNER,
            kind=row.kind,
            payload=dict(row.payload),
            idempotency_key=f"schedule:{row.name}:{row.next_run_at.isoformat()}",
            plan="admin",
        )
        row.last_run_at = now
        row.last_job_id = job.id
        following = _next_after(row, row.next_run_at)
        # missed periods (everything was stopped) are not caught up: one run now, then the next on time
        row.next_run_at = following if following > now else _next_after(row, now)
        row.updated_at = now
        submitted.append(job)
    session.flush()
    return submitted


def schedules(session: Session, env: MonitoringEnv, principal: Principal) -> list[ScheduleRead]:
    """The persisted schedules (admins)."""
    require_admin(principal)
    ensure_schedules(session, env)
    return [ScheduleRead.model_validate(r) for r in repo.schedules(session)]


def schedule_states(session: Session) -> list[ScheduleRead]:
    """The persisted schedules as they are (for `huice doctor`, an operator's command)."""
    return [ScheduleRead.model_validate(r) for r in repo.schedules(session)]


def run_retention(session: Session, env: MonitoringEnv) -> RetentionReport:
    """Retention: expired idempotency keys (backtest) and old events of finished jobs (job_orchestration)."""
    return RetentionReport(
        idempotency_keys=backtests.purge_idempotency_keys(session, env.backtest),
        job_events=jobs.purge_events(session, older_than_days=env.settings.job_events_days),
    )


def tushare_refresh(
    session: Session, env: MonitoringEnv, *, days: int, today: date | None = None, progress: Any = None
) -> dict[str, Any]:
    """The daily refresh: sync the daily bars of every instrument for the last `days` calendar days from
    Tushare Pro (only what the newest Tushare snapshot lacks). INVALID_INPUT without a token."""
    from platform_core.errors import InvalidInput

    if env.market.settings.tushare_token is None:
        raise InvalidInput("no Tushare token is configured (HUICE_TUSHARE_TOKEN)", field="tushare_token")
    today = today or utcnow().date()
    result = market.sync(
        session,
        env.market,
        client=market.make_client(env.market),
        symbols=None,
        all_symbols=True,
        freq="1d",
        start=today - timedelta(days=days),
        end=today,
        progress=progress,
    )
    return result.model_dump(mode="json")
