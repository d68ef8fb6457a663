"""`/api/backtests` and `/api/runs`: create backtests, run them on workers, follow progress, read results
and download artifacts. Every POST honours `Idempotency-Key`; another owner's objects are 404."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from backtest import service, sweep
from backtest.config import BacktestEnv, env_of
from backtest.schemas import (
    ArtifactFormat,
    ArtifactType,
    BacktestCreate,
    BacktestCreated,
    BacktestRead,
    CompareRequest,
    Comparison,
    CurvesRead,
    DrawdownPeriod,
    FillRow,
    HeaderLanguage,
    Heatmap,
    OptimizationRead,
    OptimizationResult,
    OrderRow,
    PositionRow,
    ReturnTables,
    RollingRead,
    RunCreate,
    RunDiff,
    RunIds,
    RunRead,
    RunStudy,
    ShareCreate,
    ShareCreated,
    SharedView,
    ShareRead,
    TradeRow,
)
from job_orchestration.sse import sse_response
from platform_core.http import SessionDep, error_responses
from platform_core.pagination import Page, PageDep
from user_auth.deps import Caller, CurrentPrincipal

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
router = APIRouter(tags=["backtests"])
root_router = APIRouter(tags=["shares"])  # served outside /api: the public share pages

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Same key + same body within 24 h → the first response again."),
]
RUN = "/backtests/{backtest_id}/runs/{run_id:uuid}"
# The most polled reads are `async def` handing their blocking work, and the commit of their unit of work, to
# one worker thread themselves (`run_committed`): a sync handler costs FastAPI a second thread hop to validate
# its answer against `response_model`, and the session's exit a third for the commit. The run reads take a
# `Caller`, whose one hop authenticates and counts the caller too (the rate-limit guard's hop, saved).


async def _env(request: Request) -> BacktestEnv:  # pure: no thread hop
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
    response_model_exclude_none=True,
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
    Parameters are validated against the version's schema before anything is queued.

    `mode: grid` (`gridSpec`: lists or `{start, stop, step}` per parameter), `random` or `bayes` (`space`:
    a distribution per parameter, `n`, `seed`) start an optimisation: the answer adds `optimization_id`
    and a `preview` (combinations, rejected with reasons, batches, estimated time). `max_evals`,
    `budget_ms` (of the whole sweep), `early_stop {metric, mode, patience}`, `objective`,
    `concurrency_limit` (default 2) and `batch_size` steer it; `dry_run: true` answers the preview only."""
    return service.submit_runs(session, env, principal, backtest_id, body, idempotency_key=idempotency_key)


StatusQ = Annotated[
    Literal["queued", "running", "succeeded", "failed", "cancelled", "early_stopped"] | None,
    Query(description="Only runs in this status."),
]
RunSortQ = Annotated[
    str | None,
    Query(max_length=60, description="`created_at` or `stats.<metric>`, `-` first for descending: `-stats.sharpe`."),
]
FromQ = Annotated[date | None, Query(alias="from", description="From this date (inclusive).")]
ToQ = Annotated[date | None, Query(alias="to", description="To this date (inclusive).")]


@router.get("/backtests/{backtest_id}/runs", response_model=Page[RunRead], responses=error_responses(401, 404, 422))
def list_backtest_runs(
    backtest_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: StatusQ = None,
    sort: RunSortQ = None,
    created_from: FromQ = None,
    created_to: ToQ = None,
) -> Page[RunRead]:
    """The runs of one backtest, newest first or by `sort` (e.g. `-stats.sharpe`), filtered by status
    and creation date."""
    return service.list_runs(
        session,
        principal,
        page,
        backtest_id=backtest_id,
        status=status,
        sort=sort,
        created_from=created_from,
        created_to=created_to,
    )


@router.get(RUN, response_model=RunRead, responses=error_responses(401, 404))
async def get_run(backtest_id: uuid.UUID, run_id: uuid.UUID, caller: Caller) -> RunRead:
    """A run: status, progress, attempts, queue wait, params, stats, artifacts, manifest and error."""
    return await caller(service.get_run, run_id, backtest_id=backtest_id)


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


@router.get("/runs", response_model=Page[RunRead], responses=error_responses(401, 422))
def list_runs(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: StatusQ = None,
    strategy_id: Annotated[uuid.UUID | None, Query(description="Only runs of this strategy.")] = None,
    template: Annotated[
        str | None, Query(max_length=100, description="Only runs of a verbatim copy of this built-in template.")
    ] = None,
    sort: RunSortQ = None,
    created_from: FromQ = None,
    created_to: ToQ = None,
) -> Page[RunRead]:
    """All your runs, newest first or by `sort` (`-stats.sharpe`: best first; runs without the metric
    last), filtered by status, strategy, template and creation date (`from`/`to`)."""
    return service.list_runs(
        session,
        principal,
        page,
        status=status,
        strategy_id=strategy_id,
        template=template,
        sort=sort,
        created_from=created_from,
        created_to=created_to,
    )


@router.get("/runs/{run_id}", response_model=RunRead, responses=error_responses(401, 404))
async def get_any_run(run_id: uuid.UUID, caller: Caller) -> RunRead:
    """One of your runs by id alone."""
    return await caller(service.get_run, run_id)


@router.get(
    "/runs/{run_id}/artifacts/{type}",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/csv": {},
                "application/json": {},
                "application/vnd.apache.parquet": {},
                XLSX: {},
                "text/html": {},
            }
        },
        **error_responses(401, 404, 422),
    },
)
def download_artifact(
    run_id: uuid.UUID,
    type: ArtifactType,
    session: SessionDep,
    env: EnvDep,
    principal: CurrentPrincipal,
    format: Annotated[
        ArtifactFormat | None,
        Query(
            description="tables: csv (UTF-8 with BOM, header; the default), json, parquet (the stored file) or "
            "xlsx (typed cells: dates, integers, numbers); the report: html"
        ),
    ] = None,
    headers: Annotated[
        HeaderLanguage, Query(description="csv/xlsx column names: en (the field names) or zh (日期, 代码, 方向 …)")
    ] = "en",
) -> Response:
    """Download an artifact of a succeeded run: `equity`, `trades` (round trips), `orders` (including the
    ones not filled, with the reason), `positions`, `fills`, `logs`, `metrics` (the scalar metrics as a
    table), or `report` — the run's self-contained interactive HTML report (charts inlined, opens offline;
    generated on first request for older runs). Share counts are integers; a daily run filled at the next
    open has no time of day on its orders and fills (the session `date` and its open price)."""
    download = service.artifact(session, env, principal, run_id, type, format, headers=headers)
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

    def job_id() -> uuid.UUID:
        with request.app.state.container.db.transaction() as session:
            return service.run_job_id(session, principal, run_id)

    return await sse_response(request, principal, await run_in_threadpool(job_id))


# --- share links ---------------------------------------------------------------------------------------

Token = Annotated[str, Path(min_length=1, max_length=128, description="The link's token (`hs_...`).")]
PUBLIC_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post(
    "/runs/{run_id}/shares",
    response_model=ShareCreated,
    status_code=201,
    tags=["shares"],
    responses=error_responses(401, 404, 422),
)
def create_share(
    run_id: uuid.UUID, body: ShareCreate, session: SessionDep, env: EnvDep, principal: CurrentPrincipal
) -> ShareCreated:
    """Share one of your succeeded runs read-only: `{"expires_in": "7d", "include": {"trades": true,
    "positions": false}}` → the link (`url`, opens without login) and its `token`, shown only here."""
    return service.create_share(session, env, principal, run_id, body)


@router.get("/shares", response_model=Page[ShareRead], tags=["shares"], responses=error_responses(401))
def list_shares(session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Page[ShareRead]:
    """Your share links, newest first: status (active, expired, revoked), expiry and visits."""
    return service.list_shares(session, principal, page)


@router.delete("/shares/{share_id}", response_model=ShareRead, tags=["shares"], responses=error_responses(401, 404))
def revoke_share(share_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> ShareRead:
    """Revoke a link (repeating is harmless): it answers 404 from now on."""
    return service.revoke_share(session, principal, share_id)


@router.get(
    "/shared/{token}",
    response_class=Response,
    tags=["shares"],
    responses={200: {"model": SharedView, "description": "the shared run's data"}, **error_responses(404, 429, 503)},
)
def shared_data(token: Token, request: Request, session: SessionDep, env: EnvDep) -> Response:
    """The data of a shared run, without login: metrics, curves, return tables, drawdown periods, fees, and
    trades/positions if included. Never the source, raw bars or anything else of the owner's. A revoked,
    expired or unknown link is 404; views are rate-limited per link and per address."""
    view = service.shared_view(session, env, token, client=_client(request))
    return Response(content=view.model_dump_json(), media_type="application/json", headers=PUBLIC_HEADERS)


@root_router.get(
    "/s/{token}",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}, **error_responses(404, 429, 503)},
)
def shared_page(token: Token, request: Request, session: SessionDep, env: EnvDep) -> HTMLResponse:
    """The report of a shared run, without login (a self-contained page; no request leaves it)."""
    from backtest.report import content_security_policy

    html = service.shared_report(session, env, token, client=_client(request))
    headers = {**PUBLIC_HEADERS, "Content-Security-Policy": content_security_policy()}
    return HTMLResponse(content=html, headers=headers)


# --- studying results --------------------------------------------------------------------------------------

SortQ = Annotated[
    str | None, Query(max_length=200, description="Columns, comma-separated, `-` for descending: `-pnl,symbol`.")
]
SymbolQ = Annotated[str | None, Query(max_length=2000, description="One code or several, comma-separated.")]
SideQ = Annotated[Literal["buy", "sell"] | None, Query(description="buy or sell.")]


def _query(page, sort, symbol, start, end, side=None, status=None, reason=None) -> service.PageQuery:
    return service.PageQuery(
        sort=sort,
        symbol=symbol,
        start=start,
        end=end,
        side=side,
        status=status,
        reason=reason,
        limit=page.limit,
        offset=page.offset,
    )


PAGE_ERRORS = error_responses(401, 404, 422)


@router.get("/runs/{run_id}/trades", response_model=Page[TradeRow], responses=PAGE_ERRORS)
def run_trades(
    run_id: uuid.UUID,
    session: SessionDep,
    env: EnvDep,
    principal: CurrentPrincipal,
    page: PageDep,
    sort: SortQ = None,
    symbol: SymbolQ = None,
    start: FromQ = None,
    end: ToQ = None,
) -> Page[TradeRow]:
    """A page of the run's round trips; `from`/`to` select by exit date; sort on any column."""
    return service.page_trades(session, env, principal, run_id, _query(page, sort, symbol, start, end))


@router.get("/runs/{run_id}/orders", response_model=Page[OrderRow], responses=PAGE_ERRORS)
def run_orders(
    run_id: uuid.UUID,
    session: SessionDep,
    env: EnvDep,
    principal: CurrentPrincipal,
    page: PageDep,
    sort: SortQ = None,
    symbol: SymbolQ = None,
    start: FromQ = None,
    end: ToQ = None,
    side: SideQ = None,
    status: Annotated[Literal["filled", "partial", "rejected"] | None, Query()] = None,
    reason: Annotated[str | None, Query(max_length=60, description="e.g. INSUFFICIENT_CASH, LIMIT_UP.")] = None,
) -> Page[OrderRow]:
    """A page of the run's orders, blocked ones with their reason; filter by status and reason."""
    query = _query(page, sort, symbol, start, end, side, status, reason)
    return service.page_orders(session, env, principal, run_id, query)


@router.get("/runs/{run_id}/fills", response_model=Page[FillRow], responses=PAGE_ERRORS)
def run_fills(
    run_id: uuid.UUID,
    session: SessionDep,
    env: EnvDep,
    principal: CurrentPrincipal,
    page: PageDep,
    sort: SortQ = None,
    symbol: SymbolQ = None,
    start: FromQ = None,
    end: ToQ = None,
    side: SideQ = None,
) -> Page[FillRow]:
    """A page of the run's fills with the fee breakdown (commission, stamp duty, transfer fee)."""
    return service.page_fills(session, env, principal, run_id, _query(page, sort, symbol, start, end, side))


@router.get("/runs/{run_id}/positions", response_model=Page[PositionRow], responses=PAGE_ERRORS)
def run_positions(
    run_id: uuid.UUID,
    session: SessionDep,
    env: EnvDep,
    principal: CurrentPrincipal,
    page: PageDep,
    sort: SortQ = None,
    symbol: SymbolQ = None,
    start: FromQ = None,
    end: ToQ = None,
) -> Page[PositionRow]:
    """A page of the run's end-of-day positions with average cost, unrealised P&L and weight."""
    return service.page_positions(session, env, principal, run_id, _query(page, sort, symbol, start, end))


@router.get("/runs/{run_id}/curves", response_model=CurvesRead, responses=PAGE_ERRORS)
def run_curves(
    run_id: uuid.UUID,
    session: SessionDep,
    env: EnvDep,
    principal: CurrentPrincipal,
    start: FromQ = None,
    end: ToQ = None,
    points: Annotated[int, Query(description="About this many points (10–10000), MinMaxLTTB.")] = 1000,
) -> CurvesRead:
    """Equity, cash, market value, drawdown and the benchmark's equity (rebased to the initial cash) on
    the same timestamps, within `from`..`to`, downsampled to about `points` keeping every extreme."""
    return service.run_curves(session, env, principal, run_id, start=start, end=end, points=points)


@router.get("/runs/{run_id}/drawdowns", response_model=list[DrawdownPeriod], responses=PAGE_ERRORS)
def run_drawdowns(
    run_id: uuid.UUID,
    session: SessionDep,
    env: EnvDep,
    principal: CurrentPrincipal,
    top: Annotated[int, Query(description="How many periods (1–100), deepest first.")] = 5,
) -> list[DrawdownPeriod]:
    """The deepest drawdown periods: peak, trough, recovery (or null), depth and length in sessions."""
    return service.drawdown_periods(session, env, principal, run_id, top=top)


@router.get("/runs/{run_id}/returns", response_model=ReturnTables, responses=PAGE_ERRORS)
def run_returns(run_id: uuid.UUID, session: SessionDep, env: EnvDep, principal: CurrentPrincipal) -> ReturnTables:
    """Monthly and yearly returns of the strategy, the benchmark and the excess."""
    return service.return_tables(session, env, principal, run_id)


@router.get("/runs/{run_id}/rolling", response_model=RollingRead, responses=PAGE_ERRORS)
def run_rolling(
    run_id: uuid.UUID,
    session: SessionDep,
    env: EnvDep,
    principal: CurrentPrincipal,
    window: Annotated[int, Query(description="Window in sessions.")] = 60,
) -> RollingRead:
    """Rolling Sharpe, volatility and beta over `window` sessions."""
    return service.rolling(session, env, principal, run_id, window=window)


@router.get("/runs/{run_id}/study", response_model=RunStudy, responses=PAGE_ERRORS)
def run_study(
    run_id: uuid.UUID,
    session: SessionDep,
    env: EnvDep,
    principal: CurrentPrincipal,
    top: Annotated[int, Query(description="Drawdown periods to list (1–100).")] = 5,
) -> RunStudy:
    """Drawdown periods, return tables and trade and day statistics in one answer."""
    return service.run_study(session, env, principal, run_id, top=top)


@router.post(
    "/compare",
    response_model=Comparison,
    responses={200: {"content": {"text/csv": {}}}, **error_responses(401, 404, 422)},
)
def compare(
    body: CompareRequest,
    session: SessionDep,
    env: EnvDep,
    principal: CurrentPrincipal,
    format: Annotated[Literal["json", "csv"], Query(description="json, or csv of the aligned curves")] = "json",
) -> Comparison | Response:
    """Compare 2–10 of your runs on one calendar: curves rebased to 1, the intersection window, metrics
    side by side and the correlation matrix of daily returns."""
    comparison = service.compare_runs(session, env, principal, body.run_ids)
    if format == "csv":
        return Response(
            content=service.compare_csv(comparison),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="comparison.csv"'},
        )
    return comparison


@router.get("/runs/{run_id}/diff/{other_id}", response_model=RunDiff, responses=error_responses(401, 404, 422))
def diff(
    run_id: uuid.UUID, other_id: uuid.UUID, session: SessionDep, env: EnvDep, principal: CurrentPrincipal
) -> RunDiff:
    """Why two runs differ: manifest, strategy source, first differing session, metric deltas."""
    return service.diff_runs(session, env, principal, run_id, other_id)


# --- optimisations -------------------------------------------------------------------------------------

OPT = "/optimizations/{optimization_id:uuid}"


@router.get("/optimizations", response_model=Page[OptimizationRead], responses=error_responses(401, 404))
def list_optimizations(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    backtest_id: Annotated[uuid.UUID | None, Query(description="Only the sweeps of this backtest.")] = None,
) -> Page[OptimizationRead]:
    """Your optimisations, newest first."""
    return service.list_optimizations(session, principal, page, backtest_id=backtest_id)


@router.get(OPT, response_model=OptimizationRead, responses=error_responses(401, 404))
def get_optimization(
    optimization_id: uuid.UUID, session: SessionDep, env: EnvDep, principal: CurrentPrincipal
) -> OptimizationRead:
    """A sweep: status, evaluated / total, budget used, best so far, the stop reason, ETA, its batches
    (with their time breakdown) and the overfitting diagnostics (deflated Sharpe ratio, PBO)."""
    return service.get_optimization(session, env, principal, optimization_id)


SWEEP_POLL_SECONDS = 0.5


@router.get(
    OPT + "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **error_responses(401, 404)},
)
async def optimization_events(
    optimization_id: uuid.UUID, request: Request, principal: CurrentPrincipal
) -> StreamingResponse:
    """Server-sent events of a sweep: `snapshot` (the state on connecting), `progress` (evaluated, failed or
    the best so far changed), `status` (queued → running), and the terminal `succeeded | failed | cancelled |
    early_stopped`, after which the stream ends. Each event's data is the sweep's state (status, evaluated,
    total, failed, progress, best, eta_ms, reason); the state is read from PostgreSQL every half second, so a
    reconnect simply starts from a new snapshot."""
    import asyncio
    import json

    container = request.app.state.container

    def snapshot() -> dict:
        with container.db.transaction() as session:
            read = service.get_optimization(session, env_of(container), principal, optimization_id)
        return read.model_dump(mode="json", include=set(sweep.EVENT_FIELDS))

    first = await run_in_threadpool(snapshot)  # NOT_FOUND → the usual envelope, before streaming

    async def stream():
        previous, now, seq, idle = None, first, 0, 0.0
        while True:
            for kind in sweep.sweep_events(previous, now):
                seq += 1
                yield f"id: {seq}\nevent: {kind}\ndata: {json.dumps(now)}\n\n"
                if kind in sweep.TERMINAL:
                    return
            if await request.is_disconnected():
                return
            await asyncio.sleep(SWEEP_POLL_SECONDS)
            idle = idle + SWEEP_POLL_SECONDS if previous == now else 0.0
            if idle >= 15.0:
                idle = 0.0
                yield ": keep-alive\n\n"
            previous, now = now, await run_in_threadpool(snapshot)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


@router.get(
    OPT + "/results",
    response_model=Page[OptimizationResult],
    responses={200: {"content": {"text/csv": {}, XLSX: {}}}, **error_responses(401, 404, 422)},
)
def optimization_results(
    optimization_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    sort: Annotated[
        str | None, Query(max_length=40, description="A metric or parameter (default: the objective).")
    ] = None,
    order: Annotated[str | None, Query(pattern="^(asc|desc)$", description="asc | desc (default: best first).")] = None,
    filter: Annotated[list[str] | None, Query(description="`metric:gt|ge|lt|le|eq:value`, repeatable.")] = None,
    status: Annotated[str | None, Query(pattern="^(succeeded|failed)$")] = None,
    format: Annotated[
        str, Query(pattern="^(json|csv|xlsx)$", description="json (paged), csv or xlsx (every row).")
    ] = "json",
) -> Page[OptimizationResult] | Response:
    """One row per evaluated combination: params, every summary metric, status and error; sorted, filtered,
    paged (Top-N: `limit=N`), or all of them as CSV (UTF-8 with BOM) or an Excel sheet."""
    query = {"sort": sort, "order": order, "filters": filter, "status": status}
    if format in ("csv", "xlsx"):
        content = service.results_csv(session, principal, optimization_id, **query, fmt=format)
        return Response(
            content=content,
            media_type="text/csv; charset=utf-8" if format == "csv" else XLSX,
            headers={"Content-Disposition": f'attachment; filename="{optimization_id}-results.{format}"'},
        )
    return service.optimization_results(session, principal, optimization_id, page, **query)


@router.get(OPT + "/heatmap", response_model=Heatmap, responses=error_responses(401, 404, 422))
def optimization_heatmap(
    optimization_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    x: Annotated[str, Query(max_length=100)],
    y: Annotated[str, Query(max_length=100)],
    metric: Annotated[str | None, Query(max_length=40)] = None,
) -> Heatmap:
    """The matrix of a parameter-performance heatmap: `z[i][j]` at y = `y_values[i]`, x = `x_values[j]`,
    null where nothing was evaluated, other parameters aggregated by the best."""
    return service.optimization_heatmap(session, principal, optimization_id, x=x, y=y, metric=metric)


@router.get(
    OPT + "/report",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}, **error_responses(401, 404, 422)},
)
def optimization_report(
    optimization_id: uuid.UUID,
    session: SessionDep,
    env: EnvDep,
    principal: CurrentPrincipal,
    x: Annotated[str | None, Query(max_length=100, description="Heatmap x parameter (default: the first).")] = None,
    y: Annotated[str | None, Query(max_length=100, description="Heatmap y parameter (default: the second).")] = None,
    metric: Annotated[str | None, Query(max_length=40, description="Heatmap metric (default: the objective).")] = None,
) -> Response:
    """The sweep's self-contained HTML report (charts inlined, opens offline, no request leaves it): the
    parameter heatmap of `x` × `y`, the Top-N table, status, budget, stop reason and the diagnostics
    (deflated Sharpe ratio, PBO) — the data of this sweep's `/heatmap`, `/results` and read."""
    from backtest.report import content_security_policy

    filename, media_type, content = service.sweep_report(
        session, env, principal, optimization_id, x=x, y=y, metric=metric
    )
    headers = {
        "Content-Disposition": f'inline; filename="{filename}"',
        "Content-Security-Policy": content_security_policy(),
    }
    return Response(content=content, media_type=media_type, headers=headers)


@router.post(
    OPT + "/shares",
    response_model=ShareCreated,
    status_code=201,
    tags=["shares"],
    responses=error_responses(401, 404, 422),
)
def create_sweep_share(
    optimization_id: uuid.UUID, body: ShareCreate, session: SessionDep, env: EnvDep, principal: CurrentPrincipal
) -> ShareCreated:
    """Share the report of one of your sweeps read-only, by the rules of a run's link (`expires_in`
    required): the link's page `/s/<token>` opens the sweep's report without login."""
    return service.create_sweep_share(session, env, principal, optimization_id, body)


@router.post(OPT + ":cancel", status_code=204, response_class=Response, responses=error_responses(401, 404, 409))
def cancel_optimization(
    optimization_id: uuid.UUID, session: SessionDep, env: EnvDep, principal: CurrentPrincipal
) -> Response:
    """Stop every remaining evaluation (idempotent); finished rows are kept. A sweep that already ended
    otherwise is 409 CONFLICT."""
    service.cancel_optimization(session, env, principal, optimization_id)
    return Response(status_code=204)


@router.post(
    OPT + "/results/{index}:promote",
    response_model=RunIds,
    response_model_exclude_none=True,
    status_code=201,
    responses=error_responses(401, 404, 422),
)
def promote(
    optimization_id: uuid.UUID, index: int, session: SessionDep, env: EnvDep, principal: CurrentPrincipal
) -> RunIds:
    """A full single run (every artifact) of one evaluated combination's params."""
    return service.promote(session, env, principal, optimization_id, index)
