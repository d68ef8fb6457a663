"""`/api/backtests` and `/api/runs`: create backtests, run them on workers, follow progress, read results
and download artifacts. Every POST honours `Idempotency-Key`; another owner's objects are 404."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from backtest import service
from backtest.config import BacktestEnv, env_of
from backtest.schemas import (
    ArtifactFormat,
    ArtifactType,
    BacktestCreate,
    BacktestCreated,
    BacktestRead,
    RunCreate,
    RunIds,
    RunRead,
)
from job_orchestration.sse import sse_response
from platform_core.http import SessionDep, error_responses
from platform_core.pagination import Page, PageDep
from user_auth.deps import CurrentPrincipal

router = APIRouter(tags=["backtests"])

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Same key + same body within 24 h → the first response again."),
]
RUN = "/backtests/{backtest_id}/runs/{run_id:uuid}"


def _env(request: Request) -> BacktestEnv:
    return env_of(request.app.state.container)


EnvDep = Annotated[BacktestEnv, Depends(_env)]


@router.post(
    "/backtests",
    response_model=BacktestCreated,
    status_code=201,
    responses=error_responses(401, 404, 409, 422, 429),
)
def create_backtest(
    body: BacktestCreate,
    session: SessionDep,
    env: EnvDep,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> BacktestCreated:
    """Create a backtest: a strategy (`strategyRef`: `version_id`, `strategy_id` = its latest version, or
    `template` + `params`) and a context (universe, frequency 1d/5min/15min, window, data snapshot,
    cash, rules, benchmark). Codes, window, data coverage, parameters and a dry run are checked first."""
    return service.create_backtest(session, env, principal, body, idempotency_key=idempotency_key)


@router.get("/backtests", response_model=Page[BacktestRead], responses=error_responses(401))
def list_backtests(session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Page[BacktestRead]:
    """Your backtests, newest first."""
    return service.list_backtests(session, principal, page)


@router.get("/backtests/{backtest_id}", response_model=BacktestRead, responses=error_responses(401, 404))
def get_backtest(backtest_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> BacktestRead:
    """One backtest with its pinned strategy version and data snapshot."""
    return service.get_backtest(session, principal, backtest_id)


@router.post(
    "/backtests/{backtest_id}/runs",
    response_model=RunIds,
    status_code=201,
    responses=error_responses(401, 404, 409, 422),
)
def submit_runs(
    backtest_id: uuid.UUID,
    body: RunCreate,
    session: SessionDep,
    env: EnvDep,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> RunIds:
    """Queue a run (`mode: single`) with `params` (merged over the backtest's), `budget_ms` and `priority`.
    Parameters are validated against the version's schema before anything is queued."""
    return service.submit_runs(session, env, principal, backtest_id, body, idempotency_key=idempotency_key)


@router.get("/backtests/{backtest_id}/runs", response_model=Page[RunRead], responses=error_responses(401, 404))
def list_backtest_runs(
    backtest_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> Page[RunRead]:
    """The runs of one backtest, newest first."""
    return service.list_runs(session, principal, page, backtest_id=backtest_id)


@router.get(RUN, response_model=RunRead, responses=error_responses(401, 404))
def get_run(backtest_id: uuid.UUID, run_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> RunRead:
    """A run: status, progress, attempts, queue wait, params, stats, artifacts, manifest and error."""
    return service.get_run(session, principal, run_id, backtest_id=backtest_id)


@router.post(RUN + ":cancel", status_code=204, response_class=Response, responses=error_responses(401, 404, 409))
def cancel_run(
    backtest_id: uuid.UUID,
    run_id: uuid.UUID,
    session: SessionDep,
    env: EnvDep,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Cancel a run (idempotent): a queued run at once, a running one at its next progress point. A run
    that already succeeded or failed is 409 CONFLICT."""
    service.cancel_run(session, env, principal, run_id, backtest_id=backtest_id, idempotency_key=idempotency_key)
    return Response(status_code=204)


@router.post(RUN + ":rerun", response_model=RunIds, status_code=201, responses=error_responses(401, 404, 409))
def rerun(
    backtest_id: uuid.UUID,
    run_id: uuid.UUID,
    session: SessionDep,
    env: EnvDep,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> RunIds:
    """Run again with the same version, params, rules and data snapshot: identical metrics and artifacts."""
    return service.rerun(session, env, principal, run_id, backtest_id=backtest_id, idempotency_key=idempotency_key)


@router.get("/runs", response_model=Page[RunRead], responses=error_responses(401))
def list_runs(session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Page[RunRead]:
    """All your runs, newest first."""
    return service.list_runs(session, principal, page)


@router.get("/runs/{run_id}", response_model=RunRead, responses=error_responses(401, 404))
def get_any_run(run_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> RunRead:
    """One of your runs by id alone."""
    return service.get_run(session, principal, run_id)


@router.get(
    "/runs/{run_id}/artifacts/{type}",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}, "application/json": {}, "application/vnd.apache.parquet": {}}},
        **error_responses(401, 404, 422),
    },
)
def download_artifact(
    run_id: uuid.UUID,
    type: ArtifactType,
    session: SessionDep,
    env: EnvDep,
    principal: CurrentPrincipal,
    format: Annotated[ArtifactFormat, Query(description="csv (UTF-8, header), json or parquet")] = "csv",
) -> Response:
    """Download an artifact of a succeeded run: `equity`, `trades` (round trips), `orders` (including the
    ones not filled, with the reason), `positions`, `fills` or `logs`."""
    download = service.artifact(session, env, principal, run_id, type, format)
    return Response(
        content=download.content,
        media_type=download.media_type,
        headers={"Content-Disposition": f'attachment; filename="{download.filename}"'},
    )


@router.get(
    "/runs/{run_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **error_responses(401, 404)},
)
async def run_events(run_id: uuid.UUID, request: Request, principal: CurrentPrincipal) -> StreamingResponse:
    """Server-sent events of a run (submitted, enqueued, started, progress, succeeded | failed | cancelled);
    resume with `Last-Event-ID`. The stream ends after the run's terminal event."""
    from starlette.concurrency import run_in_threadpool

    def job_id() -> uuid.UUID:
        with request.app.state.container.db.transaction() as session:
            return service.run_job_id(session, principal, run_id)

    return await sse_response(request, principal, await run_in_threadpool(job_id))
