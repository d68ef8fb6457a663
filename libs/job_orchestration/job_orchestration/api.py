"""`/api/jobs`: a caller's jobs (admins: every job), cancel, retry, live events; queue stats for admins."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from job_orchestration import service
from job_orchestration.config import JobsEnv, env_of
from job_orchestration.domain import JobStatus
from job_orchestration.schemas import DiagSubmit, JobEvent, JobRead, QueueStats, ReapReport
from job_orchestration.sse import sse_response
from platform_core.http import SessionDep, error_responses
from platform_core.pagination import Page, PageDep
from user_auth.deps import AdminPrincipal, CurrentPrincipal


async def _env(request: Request) -> JobsEnv:  # pure: no thread hop
    return env_of(request.app.state.container)


EnvDep = Annotated[JobsEnv, Depends(_env)]

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("", response_model=Page[JobRead], responses=error_responses(401))
def list_jobs(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
    kind: Annotated[str | None, Query(description="Only jobs of this kind, e.g. `backtest.run`.")] = None,
) -> Page[JobRead]:
    """Your jobs, newest first (admins see every job)."""
    return service.list_jobs(session, principal, status=status, kind=kind, page=page)


@router.get("/stats", response_model=QueueStats, responses=error_responses(401, 403))
def queue_stats(session: SessionDep, env: EnvDep, principal: AdminPrincipal) -> QueueStats:
    """Queue depth per queue, running jobs, live workers, queue wait p50/p95 and failure rate (admins)."""
    return service.stats(session, env)


@router.post("/reap", response_model=ReapReport, responses=error_responses(401, 403))
def reap(session: SessionDep, env: EnvDep, principal: AdminPrincipal) -> ReapReport:
    """Run one reaper pass now: dead workers, overrun budgets, jobs lost by Redis, waiting jobs (admins)."""
    return service.reap(session, env)


@router.post("/diag", response_model=JobRead, status_code=201, responses=error_responses(401, 403, 422))
def submit_diagnostic(body: DiagSubmit, session: SessionDep, env: EnvDep, principal: AdminPrincipal) -> JobRead:
    """Submit a diagnostic job (`diag.sleep`, `diag.fail`, `diag.progress`) to check the workers (admins)."""
    return service.submit(
        session, env, principal, kind=body.kind, payload=body.payload, priority=body.priority, budget_s=body.budget_s
    )


@router.get("/{job_id:uuid}", response_model=JobRead, responses=error_responses(401, 404))
def get_job(job_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> JobRead:
    """One job: status, progress, attempts, timestamps, error and result."""
    return service.get(session, principal, job_id)


@router.post("/{job_id}/cancel", response_model=JobRead, responses=error_responses(401, 404, 409))
def cancel_job(job_id: uuid.UUID, session: SessionDep, env: EnvDep, principal: CurrentPrincipal) -> JobRead:
    """Cancel: a queued job at once; a running job stops at its next progress point (or is stopped after
    a grace period). Repeating is harmless; a job that already succeeded or failed is 409 CONFLICT."""
    return service.cancel(session, env, principal, job_id)


@router.post("/{job_id}/retry", response_model=JobRead, responses=error_responses(401, 404, 409))
def retry_job(job_id: uuid.UUID, session: SessionDep, env: EnvDep, principal: CurrentPrincipal) -> JobRead:
    """Run a failed or cancelled job again from the start (409 CONFLICT otherwise)."""
    return service.retry(session, env, principal, job_id)


@router.get("/{job_id}/events/log", response_model=list[JobEvent], responses=error_responses(401, 404))
def job_event_log(
    job_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    after: Annotated[int | None, Query(ge=0, description="Only events after this id.")] = None,
) -> list[JobEvent]:
    """The job's persisted events, in order."""
    return service.events(session, principal, job_id, after)


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **error_responses(401, 404)},
)
async def job_events(job_id: uuid.UUID, request: Request, principal: CurrentPrincipal) -> StreamingResponse:
    """Server-sent events of the job (`id`, `event` = type, `data` = JobEvent JSON); resume with
    `Last-Event-ID`. The stream ends after the job succeeds, fails or is cancelled."""
    return await sse_response(request, principal, job_id)
