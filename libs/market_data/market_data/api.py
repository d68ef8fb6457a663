"""HTTP face of market data under `/api/market`: every route needs a signed-in caller; sync and check are
for administrators. Each route is one service call."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse

from market_data import service
from market_data.config import MarketDataEnv, env_of
from market_data.schemas import (
    BarsRead,
    CalendarRead,
    CheckReport,
    CheckRequest,
    CoverageRead,
    DefaultSnapshotRead,
    DefaultSnapshotSet,
    FundamentalsRead,
    IndexMembersRead,
    InstrumentDetail,
    InstrumentRead,
    SnapshotDetail,
    SnapshotRead,
    SyncJobRead,
    SyncRequest,
    UniverseRead,
)
from platform_core.http import SessionDep, error_responses
from platform_core.pagination import Page, PageDep
from user_auth.deps import AdminPrincipal, CurrentPrincipal


async def _env(request: Request) -> MarketDataEnv:  # pure: no thread hop
    return env_of(request.app.state.container)


EnvDep = Annotated[MarketDataEnv, Depends(_env)]

router = APIRouter(prefix="/market", tags=["market data"], responses=error_responses(401, 422))


def _symbols(raw: str) -> list[str]:
    return [s for s in (part.strip() for part in raw.split(",")) if s]


@router.get("/instruments", summary="Search instruments")
def list_instruments(
    principal: CurrentPrincipal,
    session: SessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(description="Part of the code or the name.")] = None,
    board: Annotated[Literal["main", "chinext", "star", "bse", "index"] | None, Query()] = None,
    exchange: Annotated[Literal["SSE", "SZSE", "BSE"] | None, Query()] = None,
    kind: Annotated[Literal["stock", "index"] | None, Query()] = None,
) -> Page[InstrumentRead]:
    """Instruments by code or name, filtered by board, exchange or kind (stock / index)."""
    return service.search_instruments(session, page=page, q=q, board=board, exchange=exchange, kind=kind)


@router.get("/instruments/{symbol}", summary="Instrument detail", responses=error_responses(404))
def get_instrument(symbol: str, principal: CurrentPrincipal, session: SessionDep) -> InstrumentDetail:
    """One instrument with its ST periods and what the newest snapshot holds for it."""
    return service.instrument_detail(session, symbol)


@router.get("/calendar", summary="Trading calendar")
def get_calendar(principal: CurrentPrincipal, session: SessionDep, start: date, end: date) -> CalendarRead:
    """Trading sessions in [start, end] (Tushare `trade_cal` when synced, else XSHG up to 2026-12-31)."""
    return service.calendar(session, start, end)


@router.get(
    "/bars",
    summary="Bars (JSON or CSV)",
    responses={**error_responses(404), 200: {"content": {"application/json": {}, "text/csv": {}}}},
    response_model=BarsRead,
)
def get_bars(
    principal: CurrentPrincipal,
    session: SessionDep,
    env: EnvDep,
    symbols: Annotated[str, Query(description="Comma-separated codes, e.g. `600000.SH,000001.SZ`.")],
    start: date,
    end: date,
    freq: Annotated[str, Query(description="`1d`, `5min` or `15min`.")] = "1d",
    adjust: Annotated[
        str, Query(description="`none`, `qfq` (anchored at `end`), `hfq` or `qfq_pit` (anchored at `start`).")
    ] = "qfq",
    snapshot_id: Annotated[str | None, Query(description="Pin a data snapshot (default: the default one).")] = None,
    format: Annotated[Literal["json", "csv"], Query(description="`csv` returns text/csv.")] = "json",
) -> BarsRead | PlainTextResponse:
    """Bars in the bar-frame contract (spec/BarFrameContract.md); unknown or malformed codes are named in
    the INVALID_INPUT error."""
    args = {"freq": freq, "start": start, "end": end, "adjust": adjust, "snapshot_id": snapshot_id}
    if format == "csv":
        text = service.bars_csv(session, env, _symbols(symbols), **args, bom=True)
        return PlainTextResponse(text, media_type="text/csv")
    return service.bars_view(session, env, _symbols(symbols), **args)


@router.get(
    "/indices/{index_code}/members", summary="Index constituents as of a session", responses=error_responses(404)
)
def get_index_members(
    index_code: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    on: Annotated[date, Query(description="The session (point in time).")],
) -> IndexMembersRead:
    """The constituents of an index (`000300.SH`, `000905.SH`, `000906.SH`, `000852.SH`, `000016.SH`, ...) as
    of `on`: those of the newest `index_weight` date on or before it, with their weights."""
    return service.index_members(session, index_code, on)


@router.get("/universe", summary="Stocks listed on a session")
def get_universe(
    principal: CurrentPrincipal, session: SessionDep, on: Annotated[date, Query(description="The session.")]
) -> UniverseRead:
    """Every stock listed on `on` (delisted stocks are included on the sessions they traded)."""
    return service.listed_universe(session, on)


@router.get("/fundamentals", summary="Fundamentals (daily_basic)")
def get_fundamentals(
    principal: CurrentPrincipal,
    session: SessionDep,
    symbols: Annotated[str, Query(description="Comma-separated codes.")],
    start: date,
    end: date,
) -> FundamentalsRead:
    """PE, PB, PS, dividend yield, total and float market value, turnover per stock and session (each known
    after that session's close)."""
    return service.fundamentals_view(session, _symbols(symbols), start, end)


@router.get("/coverage", summary="Coverage", responses=error_responses(404))
def get_coverage(
    principal: CurrentPrincipal,
    session: SessionDep,
    freq: str | None = None,
    symbol: str | None = None,
    snapshot_id: str | None = None,
) -> list[CoverageRead]:
    """Per frequency and symbol: the dates a snapshot (default: the default snapshot) holds."""
    return service.coverage(session, snapshot_id=snapshot_id, freq=freq, symbol=symbol)


@router.get("/snapshots", summary="List snapshots")
def list_snapshots(principal: CurrentPrincipal, session: SessionDep, page: PageDep) -> Page[SnapshotRead]:
    """Data snapshots, newest first; each is immutable and can be pinned by a backtest. The one new backtests
    use by default has `is_default` (see `GET /api/market/snapshots/default` for the rule)."""
    return service.list_snapshots(session, page=page)


@router.get("/snapshots/default", summary="The default snapshot", responses=error_responses(404))
def get_default_snapshot(principal: CurrentPrincipal, session: SessionDep) -> DefaultSnapshotRead:
    """The snapshot unpinned reads and new backtests use, how it became the default, and the rule that moves
    it: a published snapshot becomes the default only when it covers everything the current default covers;
    otherwise an administrator names it (`PUT`). A partial sync never changes it."""
    return service.default_snapshot_detail(session)


@router.put("/snapshots/default", summary="Name the default snapshot (admin)", responses=error_responses(403, 404))
def put_default_snapshot(
    body: DefaultSnapshotSet, principal: AdminPrincipal, session: SessionDep
) -> DefaultSnapshotRead:
    """Make `snapshot_id` the snapshot new backtests and unpinned reads use from now (runs already pinned
    keep theirs)."""
    return service.set_default_snapshot(session, body.snapshot_id, set_by=str(principal.user_id))


@router.get("/snapshots/{snapshot_id}", summary="Snapshot detail", responses=error_responses(404))
def get_snapshot(snapshot_id: str, principal: CurrentPrincipal, session: SessionDep) -> SnapshotDetail:
    """One snapshot with every partition it holds."""
    return service.get_snapshot(session, snapshot_id)


@router.post("/sync", summary="Sync from Tushare as a job (admin)", status_code=202, responses=error_responses(403))
def sync(body: SyncRequest, principal: AdminPrincipal, session: SessionDep, env: EnvDep) -> SyncJobRead:
    """Queue a `market_data.sync` job that fetches what is missing from Tushare Pro, stores it and records a
    snapshot (the default one only by the default-snapshot rule). Answers at once with the job: follow it on
    `GET /api/jobs/{job_id}/events` (SSE: partitions done/total, calls, rows, the current quota wait and the
    ETA as the progress message's JSON) or `GET /api/market/sync/{job_id}`; cancel or retry it with
    `/api/jobs/{job_id}:cancel|:retry` — a retry or a new sync resumes from the partitions already staged.
    INVALID_INPUT (dates, symbols, frequency, no token) before anything is queued."""
    return service.submit_sync(session, env, principal, body)


@router.get("/sync/{job_id}", summary="A sync job (admin)", responses=error_responses(403, 404))
def get_sync(job_id: uuid.UUID, principal: AdminPrincipal, session: SessionDep, env: EnvDep) -> SyncJobRead:
    """A sync job: status, the latest progress report and, once finished, the result or the error."""
    return service.sync_job(session, env, job_id)


@router.post("/check", summary="Integrity check (admin)", responses=error_responses(403, 404))
def check(body: CheckRequest, principal: AdminPrincipal, session: SessionDep, env: EnvDep) -> CheckReport:
    """OHLC consistency, non-negative volume, prices inside limits, duplicate and missing sessions."""
    return service.check(session, env, symbols=body.symbols, freq=body.freq, snapshot_id=body.snapshot_id)
