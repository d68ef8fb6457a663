"""State transitions of a job, shared by the services, the attempt (`attempt`) and the reaper (internal).

Every transition records an event row and publishes it on `runs.{job_id}` after commit; every transition
that frees a slot admits the owner's next waiting jobs, which RQ receives after commit.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy.orm import Session

from job_orchestration import repository as repo
from job_orchestration.config import JobsEnv
from job_orchestration.domain import TERMINAL, EventType, JobStatus, backoff_seconds
from job_orchestration.repository import JobEventRow, JobRow
from job_orchestration.schemas import JobError, JobEvent, JobRead
from platform_core.db import on_commit

log = logging.getLogger("job_orchestration")

RUN_FUNCTION = "job_orchestration.jobs.run"
FAILURE_TTL_S = 86400


def channel(job_id: uuid.UUID | str) -> str:
    return f"runs.{job_id}"


def to_read(row: JobRow) -> JobRead:
    wait = (row.started_at - row.submitted_at).total_seconds() if row.started_at else None
    return JobRead(
        id=row.id,
        kind=row.kind,
        owner_id=row.owner_id,
        status=JobStatus(row.status),
        priority=row.queue,
        progress=row.progress,
        progress_message=row.progress_message,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        budget_s=row.budget_s,
        cancel_requested=row.cancel_requested_at is not None,
        payload=row.payload,
        result=row.result,
        error=JobError(**row.error) if row.error else None,
        parent_id=row.parent_id,
        idempotency_key=row.idempotency_key,
        submitted_at=row.submitted_at,
        enqueued_at=row.enqueued_at,
        started_at=row.started_at,
        attempt_started_at=row.attempt_started_at,
        heartbeat_at=row.heartbeat_at,
        finished_at=row.finished_at,
        retry_at=row.not_before if row.status == JobStatus.QUEUED else None,
        queue_wait_s=round(wait, 3) if wait is not None else None,
    )


def event_read(row: JobEventRow) -> JobEvent:
    return JobEvent(
        id=row.id,
        job_id=row.job_id,
        type=row.type,
        status=row.status,
        progress=row.progress,
        message=row.message,
        attempt=row.attempt,
        data=row.data,
        at=row.created_at,
    )


def emit(
    session: Session,
    env: JobsEnv,
    row: JobRow,
    type_: EventType,
    now: datetime,
    message: str = "",
    **data: Any,
) -> JobEvent:
    """Persist an event of `row` and publish it on `runs.{job_id}` once the transaction commits."""
    event = event_read(
        repo.add_event(
            session,
            JobEventRow(
                job_id=row.id,
                type=str(type_),
                status=row.status,
                progress=row.progress,
                message=message[:500],
                attempt=row.attempts,
                data=_jsonable(data),
                created_at=now,
            ),
        )
    )
    publish_after_commit(session, env, event)
    return event


def publish_committed(env: JobsEnv, event: JobEvent) -> None:
    """Publish an event whose write has committed (a statement that was its own transaction) on
    `runs.{job_id}` now; like an after-commit hook, a failure is logged and never undoes the write."""
    if env.redis is None:
        return
    try:
        env.redis.publish(channel(event.job_id), event.model_dump_json())
    except Exception:
        log.exception("event of job %s not published", event.job_id)


def publish_after_commit(session: Session, env: JobsEnv, event: JobEvent) -> None:
    """Publish a persisted event on `runs.{job_id}` once the transaction commits."""
    redis = env.redis
    if redis is not None:
        body = event.model_dump_json()
        on_commit(session, lambda: redis.publish(channel(event.job_id), body))


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data, default=str))


_HELD: ContextVar[list[Callable[[], None]] | None] = ContextVar("job_orchestration_held_deliveries", default=None)


def enqueue_after_commit(session: Session, env: JobsEnv, row: JobRow) -> None:
    """Hand the job to RQ once the transaction commits (RQ job id = job id) — or, when a running job
    submitted it (`held_deliveries`), once that job has concluded."""
    redis = env.redis
    if redis is None:
        return
    job_id, queue, budget = str(row.id), row.queue, row.budget_s
    timeout = int(budget + env.settings.cancel_grace_s + 2 * env.settings.lease_timeout_s + 30)
    held = _HELD.get()
    deliver = lambda: enqueue_now(redis, job_id, queue, timeout)  # noqa: E731
    on_commit(session, deliver if held is None else lambda: held.append(deliver))


@contextmanager
def held_deliveries() -> Iterator[None]:
    """Around one attempt of a job (`attempt.execute`): the jobs it submits (a sweep's next batches, the
    owner's jobs it admits) are handed to RQ when the block ends — after the attempt has recorded its
    outcome — not when their own transaction commits, so that no job it starts overlaps its end (a sweep
    with a concurrency limit of 1 runs its batches one after another, end to start). A delivery that
    fails here, or never runs because the work-horse died first, is a queued job the queue does not
    know: the reaper re-enqueues it (`service.reaper`, after `HUICE_JOBS_ENQUEUE_GRACE_S`)."""
    held: list[Callable[[], None]] = []
    token = _HELD.set(held)
    try:
        yield
    finally:
        _HELD.reset(token)
        for deliver in held:
            try:
                deliver()
            except Exception as exc:  # the reaper hands it over later
                log.warning("a job's delivery after its submitter ended failed: %s", type(exc).__name__)


def enqueue_now(redis: Any, job_id: str, queue: str, timeout: int) -> None:
    Queue(queue, connection=redis, serializer=JSONSerializer).enqueue_call(
        func=RUN_FUNCTION,
        args=(job_id,),
        job_id=job_id,
        timeout=timeout,
        result_ttl=0,
        failure_ttl=FAILURE_TTL_S,
        description=f"huice job {job_id}",
    )


def admit(
    session: Session,
    env: JobsEnv,
    owner_id: uuid.UUID,
    now: datetime,
    exclude: frozenset[uuid.UUID] = frozenset(),
    *,
    locked: bool = False,
) -> list[uuid.UUID]:
    """Hand the owner's due waiting jobs to RQ while the owner is under its concurrency limit. `locked`: the
    transaction holds the owner's lock already (`repo.owner_lock`, in an earlier statement of it)."""
    if not locked:
        repo.lock_owner(session, owner_id)
    candidates = [r for r in repo.waiting(session, owner_id, now, limit=50) if r.id not in exclude]
    if not candidates:
        return []
    limit = _limit(env, candidates[0].owner_plan)
    free = limit - repo.count_active(session, owner_id)
    admitted = []
    for row in candidates[: max(0, free)]:
        row.enqueued_at = now
        row.not_before = None
        session.flush()
        emit(session, env, row, EventType.ENQUEUED, now)
        enqueue_after_commit(session, env, row)
        admitted.append(row.id)
    return admitted


def _limit(env: JobsEnv, plan: str) -> int:
    if plan == "admin":
        return env.settings.admin_limit
    return env.settings.limit_for(plan)


def finish(
    session: Session,
    env: JobsEnv,
    row: JobRow,
    status: JobStatus,
    now: datetime,
    *,
    message: str = "",
    result: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
    **data: Any,
) -> None:
    """Move `row` to a terminal status, drop its lease and admit the owner's next jobs."""
    assert status in TERMINAL
    row.status = status
    row.finished_at = now
    row.lease_token = None
    row.not_before = None
    if status == JobStatus.SUCCEEDED:
        row.progress = 100.0
        row.result = result
        row.error = None
    if error is not None:
        row.error = error
    session.flush()
    event_type = {JobStatus.SUCCEEDED: EventType.SUCCEEDED, JobStatus.FAILED: EventType.FAILED}.get(
        status, EventType.CANCELLED
    )
    emit(session, env, row, event_type, now, message or (error or {}).get("message", ""), **data)
    admit(session, env, row.owner_id, now, exclude=frozenset({row.id}))
    if status in (JobStatus.FAILED, JobStatus.CANCELLED):
        _ended_hook(session, env, row, status)


def _ended_hook(session: Session, env: JobsEnv, row: JobRow, status: JobStatus) -> None:
    """The kind's `on_ended`, in a savepoint: its failure is logged and never undoes the job's end."""
    kind = env.registry.get(row.kind)
    if kind is None or kind.on_ended is None:
        return
    try:
        with session.begin_nested():
            kind.on_ended(session, row.id, row.owner_id, dict(row.payload or {}), str(status))
    except Exception:  # the hook is the owner's code: the job's end stands whatever it does
        log.exception("on_ended hook of %s failed for job %s", row.kind, row.id)


def retry_later(
    session: Session, env: JobsEnv, row: JobRow, now: datetime, error: dict[str, Any], reason: str
) -> datetime:
    """Put a running job back in the queue after the backoff of its attempt number (a transient failure)."""
    settings = env.settings
    delay = backoff_seconds(row.attempts, base=settings.retry_base_s, cap=settings.retry_max_s)
    due = now + timedelta(seconds=delay)
    row.status = JobStatus.QUEUED
    row.lease_token = None
    row.enqueued_at = None
    row.not_before = due
    row.error = error
    session.flush()
    emit(
        session,
        env,
        row,
        EventType.RETRYING,
        now,
        error.get("message", ""),
        reason=reason,
        retry_at=due.isoformat(),
        next_attempt=row.attempts + 1,
    )
    admit(session, env, row.owner_id, now, exclude=frozenset({row.id}))
    return due
