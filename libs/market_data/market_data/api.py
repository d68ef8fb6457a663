"""HTTP face of market data under `/api/market`: every route needs a signed-in caller; sync and check are
for administrators. Each route is one service call."""

from __future__ import annotations

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
    InstrumentDetail,
    InstrumentRead,
    SnapshotDetail,
    SnapshotRead,
    SyncRequest,
    SyncResult,
)
from platform_core.http import SessionDep, error_responses
from platform_core.pagination import Page, PageDep
from user_auth.deps import AdminPrincipal, CurrentPrincipal


def _env(request: Request) -> MarketDataEnv:
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
    snapshot_id: Annotated[str | None, Query(description="Pin a data snapshot (default: the newest).")] = None,
    format: Annotated[Literal["json", "csv"], Query(description="`csv` returns text/csv.")] = "json",
) -> BarsRead | PlainTextResponse:
    """Bars in the bar-frame contract (spec/BarFrameContract.md); unknown or malformed codes are named in
    the INVALID_INPUT error."""
    args = {"freq": freq, "start": start, "end": end, "adjust": adjust, "snapshot_id": snapshot_id}
    if format == "csv":
        text = service.bars_csv(session, env, _symbols(symbols), **args, bom=True)
        return PlainTextResponse(text, media_type="text/csv")
    return service.bars_view(session, env, _symbols(symbols), **args)


@router.get("/coverage", summary="Coverage", responses=error_responses(404))
def get_coverage(
    principal: CurrentPrincipal,
    session: SessionDep,
    freq: str | None = None,
    symbol: str | None = None,
    snapshot_id: str | None = None,
) -> list[CoverageRead]:
    """Per frequency and symbol: the dates a snapshot (default: the newest) holds."""
    return service.coverage(session, snapshot_id=snapshot_id, freq=freq, symbol=symbol)


@router.get("/snapshots", summary="List snapshots")
def list_snapshots(principal: CurrentPrincipal, session: SessionDep, page: PageDep) -> Page[SnapshotRead]:
    """Data snapshots, newest first; each is immutable and can be pinned by a backtest."""
    return service.list_snapshots(session, page=page)


@router.get("/snapshots/{snapshot_id}", summary="Snapshot detail", responses=error_responses(404))
def get_snapshot(snapshot_id: str, principal: CurrentPrincipal, session: SessionDep) -> SnapshotDetail:
    """One snapshot with every partition it holds."""
    return service.get_snapshot(session, snapshot_id)


@router.post("/sync", summary="Sync from Tushare (admin)", responses=error_responses(403, 502))
def sync(body: SyncRequest, principal: AdminPrincipal, session: SessionDep, env: EnvDep) -> SyncResult:
    """Fetch what is missing from Tushare Pro, store it and record a snapshot. Runs in the request: for long
    syncs use `huice data sync` on the server."""
    with service.make_client(env) as client:
        return service.sync(
            session,
            env,
            client=client,
            symbols=body.symbols,
            all_symbols=body.all,
            freq=body.freq,
            start=body.start,
            end=body.end,
            mode=body.mode,
        )


@router.post("/check", summary="Integrity check (admin)", responses=error_responses(403, 404))
def check(body: CheckRequest, principal: AdminPrincipal, session: SessionDep, env: EnvDep) -> CheckReport:
    """OHLC consistency, non-negative volume, prices inside limits, duplicate and missing sessions."""
    return service.check(session, env, symbols=body.symbols, freq=body.freq, snapshot_id=body.snapshot_id)
