"""Submitting a job: checks, idempotency, the row and its admission (RQ receives it after the commit)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from job_orchestration import repository as repo
from job_orchestration import transitions
from job_orchestration.config import JobsEnv
from job_orchestration.domain import EventType, JobStatus, Priority
from job_orchestration.repository import JobRow
from job_orchestration.schemas import JobRead
from platform_core.errors import Conflict, InvalidInput
from platform_core.ids import new_id, utcnow
from user_auth.principal import Principal

MAX_PAYLOAD_BYTES = 65_536


def _owner(principal_or_owner: Principal | uuid.UUID, plan: str | None) -> tuple[uuid.UUID, str]:
    if isinstance(principal_or_owner, uuid.UUID):
        return principal_or_owner, plan or "free"
    if principal_or_owner.is_admin:
        return principal_or_owner.user_id, "admin"
    return principal_or_owner.user_id, plan or str(principal_or_owner.plan)


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
    env: JobsEnv,
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
    spec = env.registry.get(kind)
    if spec is None:
        raise InvalidInput(f"unknown job kind {kind!r}", field="kind", details={"known": env.registry.kinds()})
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
            return transitions.to_read(existing)
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
        budget_s=budget_s or spec.budget_s or env.settings.default_budget_s,
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
    transitions.emit(session, env, row, EventType.SUBMITTED, now, priority=str(queue))
    transitions.admit(session, env, owner_id, now)
    return transitions.to_read(row)
