"""Reading jobs: one, several, a page of them, and a job's events (owners see their own, admins all)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from job_orchestration import repository as repo
from job_orchestration import transitions
from job_orchestration.domain import JobStatus
from job_orchestration.schemas import JobEvent, JobRead
from job_orchestration.service._common import owned, scope
from platform_core.errors import InvalidInput, NotFound
from platform_core.pagination import Page, PageParams
from user_auth.principal import Principal


def get(session: Session, principal: Principal, job_id: uuid.UUID) -> JobRead:
    """One job of the caller (any job for admins); NOT_FOUND otherwise."""
    return transitions.to_read(owned(session, principal, job_id))


def with_job(stmt: Select, job_id: Any) -> repo.WithJob:
    """For `get_with`, built once (at import): `stmt` selects another context's row (its own filters, the
    owner's among them, as bind parameters), `job_id` is the column of that row naming its job."""
    return repo.with_job(stmt, job_id)


def get_with(
    session: Session, principal: Principal, joined: repo.WithJob, params: dict[str, Any]
) -> tuple[Any, JobRead] | None:
    """An object of another context backed by a job, read with its job in one round trip: `joined` from
    `with_job`, `params` its select's bind parameters. None when the select finds nothing; NOT_FOUND, as
    `get`, when the job is not the caller's."""
    row = repo.first_with_job(session, joined, params, scope(principal))
    if row is None:
        return None
    *entity, job = row
    if job is None:
        raise NotFound("job not found", details={"job_id": str(getattr(entity[0], "job_id", None))})
    return entity[0], transitions.to_read(job)


def get_many(session: Session, principal: Principal, job_ids: list[uuid.UUID]) -> dict[uuid.UUID, JobRead]:
    """Several of the caller's jobs at once (for listings of things backed by jobs); others are left out."""
    if not job_ids:
        return {}
    return {row.id: transitions.to_read(row) for row in repo.get_many_owned(session, job_ids, scope(principal))}


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
        session, scope(principal), status=status, kind=kind, limit=page.limit, offset=page.offset
    )
    return Page[JobRead](
        items=[transitions.to_read(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


def events(session: Session, principal: Principal, job_id: uuid.UUID, after_id: int | None = None) -> list[JobEvent]:
    """The job's events in order (those after `after_id` when given)."""
    owned(session, principal, job_id)
    return [transitions.event_read(e) for e in repo.events_after(session, job_id, after_id)]
