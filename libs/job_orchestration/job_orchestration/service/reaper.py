"""Upkeep of the job runtime: admit waiting jobs, reap dead and lost ones.

`reap` finds jobs whose heartbeat stopped (dead worker) and retries or fails them, fails attempts that
overran their budget, re-enqueues queued jobs that Redis lost, and admits waiting jobs. The
`maintenance.MaintenanceLoop` runs `dispatch` and `reap` periodically; several loops may run at once (an
advisory lock lets one pass run at a time, rows are taken with SKIP LOCKED).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.job import JobStatus as RQStatus
from rq.serializers import JSONSerializer
from sqlalchemy.orm import Session

from job_orchestration import repository as repo
from job_orchestration import transitions
from job_orchestration.config import JobsEnv
from job_orchestration.domain import EventType, JobStatus, budget_error, worker_lost_error
from job_orchestration.schemas import ReapReport
from platform_core.ids import utcnow

log = logging.getLogger("job_orchestration.reaper")

_GONE = {RQStatus.FINISHED, RQStatus.FAILED, RQStatus.STOPPED, RQStatus.CANCELED}


def dispatch(session: Session, env: JobsEnv, now: datetime | None = None) -> list[uuid.UUID]:
    """Admit the due waiting jobs of every owner (limits permitting); RQ receives them after commit."""
    now = now or utcnow()
    admitted: list[uuid.UUID] = []
    for owner_id in repo.owners_waiting(session, now):
        admitted.extend(transitions.admit(session, env, owner_id, now))
    return admitted


def reap(session: Session, env: JobsEnv, now: datetime | None = None) -> ReapReport:
    """One reaper pass (see module doc). Returns what it did; `skipped` when another process is reaping."""
    now = now or utcnow()
    if not repo.try_lock_maintenance(session):
        return ReapReport(skipped=True)
    report = ReapReport()
    _reap_overrun(session, env, now, report)
    _reap_dead(session, env, now, report)
    _reenqueue_lost(session, env, now, report)
    report.dispatched = dispatch(session, env, now)
    compact_counts(session)
    return report


def compact_counts(session: Session) -> int:
    """Fold the jobs-by-status tally (kept by triggers) into one row per kind and status, so counting by
    status reads a few rows; the reaper does it every pass. Returns how many delta rows were folded."""
    return repo.compact_status_tally(session)


def _reap_dead(session: Session, env: JobsEnv, now: datetime, report: ReapReport) -> None:
    before = now - timedelta(seconds=env.settings.lease_timeout_s)
    for row in repo.dead_leases(session, before):
        log.warning("job %s lost its worker (last heartbeat %s)", row.id, row.heartbeat_at)
        if row.cancel_requested_at is not None:
            transitions.finish(session, env, row, JobStatus.CANCELLED, now, message="cancelled (worker gone)")
            report.cancelled.append(row.id)
        elif row.attempts >= row.max_attempts:
            transitions.finish(session, env, row, JobStatus.FAILED, now, error=worker_lost_error(row.attempts))
            report.failed.append(row.id)
        else:
            transitions.retry_later(session, env, row, now, worker_lost_error(row.attempts), "worker_lost")
            report.retried.append(row.id)


def _reap_overrun(session: Session, env: JobsEnv, now: datetime, report: ReapReport) -> None:
    """Attempts past budget + grace whose worker could not stop them itself."""
    slack = env.settings.cancel_grace_s + env.settings.lease_timeout_s
    for row in repo.running(session):
        started = row.attempt_started_at or now
        if (now - started).total_seconds() > row.budget_s + slack:
            transitions.finish(session, env, row, JobStatus.FAILED, now, error=budget_error(row.budget_s))
            report.failed.append(row.id)


def _reenqueue_lost(session: Session, env: JobsEnv, now: datetime, report: ReapReport) -> None:
    """Queued jobs handed to RQ that Redis no longer knows (restart without persistence, flush)."""
    before = now - timedelta(seconds=env.settings.enqueue_grace_s)
    rows = repo.dispatched_before(session, before)
    if not rows:
        return
    redis = env.redis
    jobs = Job.fetch_many([str(r.id) for r in rows], connection=redis, serializer=JSONSerializer)
    for row, job in zip(rows, jobs, strict=True):
        if job is not None and job.get_status(refresh=False) not in _GONE and _in_redis_queue(redis, job):
            continue
        row.enqueued_at = now
        session.flush()
        transitions.emit(session, env, row, EventType.REQUEUED, now, "re-enqueued: the queue had lost the job")
        transitions.enqueue_after_commit(session, env, row)
        report.reenqueued.append(row.id)


def _in_redis_queue(redis: Redis, job: Job) -> bool:
    """Waiting in its queue, or being worked on (started registry)."""
    if job.get_status(refresh=False) in (RQStatus.STARTED, RQStatus.SCHEDULED, RQStatus.DEFERRED):
        return True
    queue = Queue(job.origin, connection=redis, serializer=JSONSerializer)
    return redis.lpos(queue.key, job.id) is not None
