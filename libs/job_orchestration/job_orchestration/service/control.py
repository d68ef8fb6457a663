"""Steering a job: cancel it (queued: at once; running: at its next progress point) or run it again."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from job_orchestration import transitions
from job_orchestration.config import JobsEnv
from job_orchestration.domain import RETRYABLE_BY_USER, EventType, JobStatus
from job_orchestration.repository import JobRow
from job_orchestration.schemas import JobRead
from job_orchestration.service._common import owned
from platform_core.db import on_commit
from platform_core.errors import Conflict
from platform_core.ids import utcnow
from user_auth.principal import Principal

# What a retry clears: the previous run's outcome, timestamps, lease and worker.
_RUN_STATE = (
    "error",
    "result",
    "cancel_requested_at",
    "finished_at",
    "started_at",
    "attempt_started_at",
    "heartbeat_at",
    "enqueued_at",
    "not_before",
    "lease_token",
    "worker_name",
    "worker_pid",
)


def cancel(session: Session, env: JobsEnv, principal: Principal, job_id: uuid.UUID) -> JobRead:
    """Cancel a job: a queued job is cancelled at once; a running job is asked to stop (it stops at its next
    progress point, or is stopped after the grace period). Repeating it is harmless; a job that already
    succeeded or failed is a CONFLICT."""
    row = owned(session, principal, job_id, for_update=True)
    now = utcnow()
    if row.status == JobStatus.QUEUED:
        transitions.finish(
            session,
            env,
            row,
            JobStatus.CANCELLED,
            now,
            message="cancelled before it started",
            by=str(principal.user_id),
        )
        _drop_from_rq(session, env, row)
    elif row.status == JobStatus.RUNNING and row.cancel_requested_at is None:
        row.cancel_requested_at = now
        session.flush()
        transitions.emit(
            session, env, row, EventType.CANCEL_REQUESTED, now, "cancellation requested", by=str(principal.user_id)
        )
    elif row.status not in (JobStatus.RUNNING, JobStatus.CANCELLED):
        raise Conflict(
            f"job already {row.status}; it cannot be cancelled", details={"job_id": str(row.id), "status": row.status}
        )
    return transitions.to_read(row)


def _drop_from_rq(session: Session, env: JobsEnv, row: JobRow) -> None:
    redis, queue, job_id = env.redis, row.queue, str(row.id)
    if redis is None:
        return

    def drop() -> None:
        from rq import Queue
        from rq.serializers import JSONSerializer

        Queue(queue, connection=redis, serializer=JSONSerializer).remove(job_id)

    on_commit(session, drop)


def retry(session: Session, env: JobsEnv, principal: Principal, job_id: uuid.UUID) -> JobRead:
    """Run a failed or cancelled job again from the start (same id, attempts reset); CONFLICT otherwise."""
    row = owned(session, principal, job_id, for_update=True)
    if row.status not in RETRYABLE_BY_USER:
        raise Conflict(
            f"only failed or cancelled jobs can be retried; this one is {row.status}",
            details={"job_id": str(row.id), "status": row.status},
        )
    now = utcnow()
    for name in _RUN_STATE:
        setattr(row, name, None)
    row.status, row.attempts, row.progress, row.progress_message, row.submitted_at = (JobStatus.QUEUED, 0, 0.0, "", now)
    session.flush()
    transitions.emit(session, env, row, EventType.RETRIED, now, "retried by request", by=str(principal.user_id))
    transitions.admit(session, env, row.owner_id, now)
    return transitions.to_read(row)
