"""Use cases of the job runtime for other contexts and the faces: submit, cancel, retry, get, list, events.

Services take the caller's session, flush and never commit. Owners see only their own jobs (another
owner's job is NOT_FOUND); admins see every job. RQ receives a job only after the transaction commits.
Queue statistics and the reaper live in `maintenance` and are re-exported here.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from job_orchestration import core
from job_orchestration import repository as repo
from job_orchestration.domain import RETRYABLE_BY_USER, EventType, JobStatus, Priority
from job_orchestration.maintenance import dispatch, reap, stats
from job_orchestration.registry import current
from job_orchestration.repository import JobRow
from job_orchestration.schemas import JobEvent, JobRead
from platform_core.db import on_commit
from platform_core.errors import Conflict, InvalidInput, NotFound
from platform_core.ids import new_id, utcnow
from platform_core.pagination import Page, PageParams
from user_auth.principal import Principal

__all__ = ["cancel", "dispatch", "events", "get", "list_jobs", "reap", "retry", "stats", "submit"]

MAX_PAYLOAD_BYTES = 65_536


def _owner(principal_or_owner: Principal | uuid.UUID, plan: str | None) -> tuple[uuid.UUID, str]:
    if isinstance(principal_or_owner, uuid.UUID):
        return principal_or_owner, plan or "free"
    if principal_or_owner.is_admin:
        return principal_or_owner.user_id, "admin"
    return principal_or_owner.user_id, plan or str(principal_or_owner.plan)


def _scope(principal: Principal) -> uuid.UUID | None:
    """The owner filter of every read: none for admins."""
    return None if principal.is_admin else principal.user_id


def _checked_payload(payload: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise InvalidInput("payload must be a JSON object", field="payload")
    try:
        encoded = json.dumps(payload)
    except (TypeError, ValueError):
        raise InvalidInput("payload must be JSON (ids and plain values only)", field="payload") from None
    if len(encoded) > MAX_PAYLOAD_BYTES:
        raise InvalidInput(f"payload larger than {MAX_PAYLOAD_BYTES} bytes; pass ids, not data", field="payload")
    return json.loads(encoded)


def submit(
    session: Session,
    principal_or_owner: Principal | uuid.UUID,
    *,
    kind: str,
    payload: dict[str, Any],
    priority: str | None = None,
    idempotency_key: str | None = None,
    parent_id: uuid.UUID | None = None,
    budget_s: int | None = None,
    plan: str | None = None,
) -> JobRead:
    """Create a job inside the caller's transaction; RQ receives it after the commit.

    `priority` picks the queue (high/default/low; default: the kind's queue). A repeated `idempotency_key`
    of the same owner returns the existing job (CONFLICT if it names another kind). The job waits in
    PostgreSQL while its owner is at the plan's concurrency limit.
    """
    registry = current()
    spec = registry.get(kind)
    if spec is None:
        raise InvalidInput(f"unknown job kind {kind!r}", field="kind", details={"known": registry.kinds()})
    try:
        queue = Priority(priority) if priority is not None else spec.queue
    except ValueError:
        raise InvalidInput("priority must be high, default or low", field="priority") from None
    if budget_s is not None and budget_s < 1:
        raise InvalidInput("budget_s must be at least 1 second", field="budget_s")
    owner_id, owner_plan = _owner(principal_or_owner, plan)
    body = _checked_payload(payload)
    if idempotency_key is not None:
        existing = repo.by_idempotency_key(session, owner_id, idempotency_key)
        if existing is not None:
            if existing.kind != kind:
                raise Conflict(
                    "idempotency key already used for another kind of job",
                    details={"job_id": str(existing.id), "kind": existing.kind},
                )
            return core.to_read(existing)
    now = utcnow()
    row = JobRow(
        id=new_id(),
        kind=kind,
        owner_id=owner_id,
        owner_plan=owner_plan,
        payload=body,
        status=JobStatus.QUEUED,
        queue=str(queue),
        progress=0.0,
        progress_message="",
        attempts=0,
        max_attempts=spec.max_attempts,
        budget_s=budget_s or spec.budget_s,
        submitted_at=now,
        parent_id=parent_id,
        idempotency_key=idempotency_key,
    )
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict("a job with this idempotency key is being created") from None
    core.emit(session, registry, row, EventType.SUBMITTED, now, priority=str(queue))
    core.admit(session, registry, owner_id, now)
    return core.to_read(row)


def _owned(session: Session, principal: Principal, job_id: uuid.UUID, *, for_update: bool = False) -> JobRow:
    row = repo.get_owned(session, job_id, _scope(principal), for_update=for_update)
    if row is None:
        raise NotFound("job not found", details={"job_id": str(job_id)})
    return row


def get(session: Session, principal: Principal, job_id: uuid.UUID) -> JobRead:
    """One job of the caller (any job for admins); NOT_FOUND otherwise."""
    return core.to_read(_owned(session, principal, job_id))


def get_many(session: Session, principal: Principal, job_ids: list[uuid.UUID]) -> dict[uuid.UUID, JobRead]:
    """Several of the caller's jobs at once (for listings of things backed by jobs); others are left out."""
    if not job_ids:
        return {}
    return {row.id: core.to_read(row) for row in repo.get_many_owned(session, job_ids, _scope(principal))}


def list_jobs(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    kind: str | None = None,
    page: PageParams | None = None,
) -> Page[JobRead]:
    """The caller's jobs (every job for admins), newest first, optionally by status and kind."""
    page = page or PageParams()
    if status is not None and status not in {s.value for s in JobStatus}:
        raise InvalidInput(f"unknown status {status!r}", field="status")
    rows, total = repo.list_jobs(
        session, _scope(principal), status=status, kind=kind, limit=page.limit, offset=page.offset
    )
    return Page[JobRead](items=[core.to_read(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


def cancel(session: Session, principal: Principal, job_id: uuid.UUID) -> JobRead:
    """Cancel a job: a queued job is cancelled at once; a running job is asked to stop (it stops at its next
    progress point, or is stopped after the grace period). Repeating it is harmless; a job that already
    succeeded or failed is a CONFLICT."""
    registry = current()
    row = _owned(session, principal, job_id, for_update=True)
    now = utcnow()
    if row.status == JobStatus.QUEUED:
        core.finish(
            session,
            registry,
            row,
            JobStatus.CANCELLED,
            now,
            message="cancelled before it started",
            by=str(principal.user_id),
        )
        _drop_from_rq(session, registry, row)
    elif row.status == JobStatus.RUNNING and row.cancel_requested_at is None:
        row.cancel_requested_at = now
        session.flush()
        core.emit(
            session, registry, row, EventType.CANCEL_REQUESTED, now, "cancellation requested", by=str(principal.user_id)
        )
    elif row.status not in (JobStatus.RUNNING, JobStatus.CANCELLED):
        raise Conflict(
            f"job already {row.status}; it cannot be cancelled", details={"job_id": str(row.id), "status": row.status}
        )
    return core.to_read(row)


def _drop_from_rq(session: Session, registry: Any, row: JobRow) -> None:
    redis, queue, job_id = registry.redis, row.queue, str(row.id)
    if redis is None:
        return

    def drop() -> None:
        from rq import Queue
        from rq.serializers import JSONSerializer

        Queue(queue, connection=redis, serializer=JSONSerializer).remove(job_id)

    on_commit(session, drop)


def retry(session: Session, principal: Principal, job_id: uuid.UUID) -> JobRead:
    """Run a failed or cancelled job again from the start (same id, attempts reset); CONFLICT otherwise."""
    registry = current()
    row = _owned(session, principal, job_id, for_update=True)
    if row.status not in RETRYABLE_BY_USER:
        raise Conflict(
            f"only failed or cancelled jobs can be retried; this one is {row.status}",
            details={"job_id": str(row.id), "status": row.status},
        )
    now = utcnow()
    for name in (
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
    ):
        setattr(row, name, None)
    row.status, row.attempts, row.progress, row.progress_message, row.submitted_at = (JobStatus.QUEUED, 0, 0.0, "", now)
    session.flush()
    core.emit(session, registry, row, EventType.RETRIED, now, "retried by request", by=str(principal.user_id))
    core.admit(session, registry, row.owner_id, now)
    return core.to_read(row)


def events(session: Session, principal: Principal, job_id: uuid.UUID, after_id: int | None = None) -> list[JobEvent]:
    """The job's events in order (those after `after_id` when given)."""
    _owned(session, principal, job_id)
    return [core.event_read(e) for e in repo.events_after(session, job_id, after_id)]
