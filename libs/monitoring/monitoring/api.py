"""`/api/monitor`: the operations summary, its live stream, the alerts and the schedules (admins); and
`metrics_router`: `/metrics` in the Prometheus text format (the composition app mounts it at the root).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketState

from job_orchestration.sse import job_changes
from monitoring import service
from monitoring.config import MonitoringEnv, env_of
from monitoring.domain import DEFAULT_WINDOW, WINDOWS, window_seconds
from monitoring.schemas import AlertsRead, EvaluationReport, ScheduleRead, Summary
from monitoring.service.metrics import CONTENT_TYPE
from platform_core.http import SessionDep, error_responses
from platform_core.pagination import PageDep
from user_auth.deps import AdminPrincipal


async def _env(request: Request) -> MonitoringEnv:  # pure: no thread hop
    return env_of(request.app.state.container)


EnvDep = Annotated[MonitoringEnv, Depends(_env)]
WindowQuery = Annotated[
    str, Query(description=f"The window of the timings and rates: {', '.join(WINDOWS)}.", max_length=10)
]

router = APIRouter(prefix="/monitor", tags=["monitoring"])
_DISCONNECT_CHECK_S = 0.5  # how often a waiting stream looks whether its client left


@router.get("/summary", response_model=Summary, responses=error_responses(401, 403, 422))
def summary(
    session: SessionDep, env: EnvDep, principal: AdminPrincipal, window: WindowQuery = DEFAULT_WINDOW
) -> Summary:
    """Users, strategies, backtests and runs, queues, workers, data freshness and firing alerts (admins)."""
    return service.summary(session, env, principal, window=window)


@router.get("/alerts", response_model=AlertsRead, responses=error_responses(401, 403, 422))
def alerts(session: SessionDep, principal: AdminPrincipal, page: PageDep) -> AlertsRead:
    """Every alert rule's state, and the firing/resolved transitions newest first (admins)."""
    return service.list_alerts(session, principal, page=page)


@router.post("/alerts/evaluate", response_model=EvaluationReport, responses=error_responses(401, 403))
def evaluate(session: SessionDep, env: EnvDep, principal: AdminPrincipal) -> EvaluationReport:
    """Evaluate the alert rules now (the `alerts` schedule does it every HUICE_MONITOR_ALERT_INTERVAL_S)."""
    return service.evaluate_now(session, env, principal)


@router.get("/schedules", response_model=list[ScheduleRead], responses=error_responses(401, 403))
def schedules(session: SessionDep, env: EnvDep, principal: AdminPrincipal) -> list[ScheduleRead]:
    """The persisted maintenance schedules; their jobs are listed in `/api/jobs` (admins)."""
    return service.schedules(session, env, principal)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **error_responses(401, 403, 422)},
)
async def stream(
    request: Request, env: EnvDep, principal: AdminPrincipal, window: WindowQuery = DEFAULT_WINDOW
) -> StreamingResponse:
    """Server-sent events: `event: summary`, `data` = the same JSON as `GET /summary`, at once, then as soon
    as a job changes state (not on progress; debounced by HUICE_MONITOR_STREAM_DEBOUNCE_S) and at the latest
    every HUICE_MONITOR_STREAM_INTERVAL_S (admins)."""
    window_seconds(window)  # INVALID_INPUT before streaming
    return StreamingResponse(
        _events(request, env, window),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _read(env: MonitoringEnv, window: str) -> Summary:
    with env.db.transaction() as session:
        return service.build_summary(session, env, window=window)


async def _summaries(env: MonitoringEnv, window: str, gone: Callable[[], Awaitable[bool]]) -> AsyncIterator[Summary]:
    """The summary at once, then again whenever a job changes (its events, published after each commit,
    debounced by HUICE_MONITOR_STREAM_DEBOUNCE_S) and at the latest every HUICE_MONITOR_STREAM_INTERVAL_S;
    each one built by the same call as `GET /summary`. Ends when `gone()` says the client left."""
    settings = env.settings
    loop = asyncio.get_running_loop()
    async with job_changes(env.jobs) as changes:
        while True:
            yield await run_in_threadpool(_read, env, window)
            due = loop.time() + settings.stream_interval_s
            while (left := due - loop.time()) > 0:
                if await gone():
                    return
                if await changes.changed(min(left, _DISCONNECT_CHECK_S)):
                    await changes.settle(settings.stream_debounce_s)
                    break


async def _events(request: Request, env: MonitoringEnv, window: str) -> AsyncIterator[str]:
    seq = 0
    async for current in _summaries(env, window, request.is_disconnected):
        seq += 1
        yield f"id: {seq}\nevent: summary\ndata: {json.dumps(current.model_dump(mode='json'))}\n\n"


async def stream_socket(websocket: WebSocket) -> None:
    """WebSocket twin of the SSE stream at the same path (`/api/monitor/stream?window=`): the same summary
    JSON at once, on every job change and every interval (admins). Authenticate with `Authorization: Bearer
    <token or API key>`; the socket is closed with 4401 without a valid credential, 4403 for a user who is
    not an admin, 4422 for an unknown window. A plain Starlette endpoint (the app mounts it with
    `SOCKET_PATH`): the HTTP schema edge and the request dependencies do not apply to a socket."""
    window = websocket.query_params.get("window", DEFAULT_WINDOW)
    from platform_core.errors import AppError
    from user_auth import service as users
    from user_auth.config import env_of as auth_env_of

    env = env_of(websocket.app.state.container)
    scheme, _, credential = websocket.headers.get("authorization", "").partition(" ")

    def check() -> None:
        window_seconds(window)
        if scheme.lower() != "bearer" or not credential.strip():
            raise users_unauthorized()
        with env.db.transaction() as session:
            principal, _ = users.authenticate(session, auth_env_of(websocket.app.state.container), credential.strip())
        from monitoring.service._common import require_admin

        require_admin(principal)

    try:
        await run_in_threadpool(check)
    except AppError as exc:
        codes = {"UNAUTHORIZED": 4401, "FORBIDDEN": 4403, "INVALID_INPUT": 4422}
        await websocket.close(code=codes.get(str(exc.code), 4400), reason=exc.message[:120])
        return
    await websocket.accept()

    async def gone() -> bool:
        return websocket.client_state != WebSocketState.CONNECTED

    try:
        async for current in _summaries(env, window, gone):
            await websocket.send_json(current.model_dump(mode="json"))
    except WebSocketDisconnect:
        return


SOCKET_PATH = "/api/monitor/stream"


def users_unauthorized():
    from platform_core.errors import Unauthorized

    return Unauthorized("missing bearer credential")


metrics_router = APIRouter(tags=["monitoring"])


@metrics_router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}}, **error_responses(401)},
)
def metrics(
    session: SessionDep,
    env: EnvDep,
    authorization: Annotated[str | None, Header(description="`Bearer <HUICE_METRICS_TOKEN>` when one is set.")] = None,
) -> Response:
    """Prometheus metrics: HTTP requests of this process; jobs, queues, workers, run durations and alerts
    from PostgreSQL and Redis. With HUICE_METRICS_TOKEN set, `Authorization: Bearer <token>` (else 401)."""
    service.check_metrics_token(env, authorization)
    return Response(service.render_metrics(session, env), media_type=CONTENT_TYPE)
