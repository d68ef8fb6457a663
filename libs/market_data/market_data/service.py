"""Read use cases and the published service of the market-data context.

Published for other contexts (exact names): `get_bars`, `get_instruments`, `trading_sessions`,
`latest_snapshot`, `get_benchmark`, `validate_symbols`. Bars come as the polars frame of
`spec/BarFrameContract.md`; a pinned `snapshot_id` reads exactly that snapshot's files, so reruns see
identical data. Market data is not owned by a user: reads take no principal (the faces authenticate).
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import polars as pl
from sqlalchemy.orm import Session

from market_data import repository as repo
from market_data.calendars import XSHG_FIRST, XSHG_LAST, require_within, xshg_between
from market_data.config import current
from market_data.domain import Adjust, Freq, adjust_bars, parse_symbol
from market_data.schemas import (
    BarsRead,
    CalendarRead,
    CoverageRead,
    InstrumentDetail,
    InstrumentRead,
    SnapshotDetail,
    SnapshotRead,
    StPeriodRead,
)
from platform_core.errors import InvalidInput, NotFound
from platform_core.pagination import Page, PageParams
from quant.contract import INSTRUMENT_SCHEMA

NO_DATA_HINT = "no market data loaded: run `huice data load-sample` or `huice data sync`"


# --- validation ----------------------------------------------------------------------------------------


def parse_freq(freq: str) -> Freq:
    try:
        return Freq(freq)
    except ValueError:
        allowed = [f.value for f in Freq]
        raise InvalidInput(
            f"unsupported frequency {freq!r}; use one of {allowed}", field="freq", details={"allowed": allowed}
        ) from None


def parse_adjust(adjust: str) -> Adjust:
    try:
        return Adjust(adjust)
    except ValueError:
        allowed = [a.value for a in Adjust]
        raise InvalidInput(
            f"unsupported adjustment {adjust!r}; use one of {allowed}", field="adjust", details={"allowed": allowed}
        ) from None


def unique_symbols(symbols: list[str]) -> list[str]:
    """The codes trimmed and upper-cased, in order; INVALID_INPUT naming the codes given more than once."""
    cleaned = [s.strip().upper() for s in symbols if s and s.strip()]
    duplicates = [s for s, n in Counter(cleaned).items() if n > 1]
    if duplicates:
        raise InvalidInput(
            f"duplicate symbols: {', '.join(duplicates)}", field="symbols", details={"duplicates": duplicates}
        )
    return cleaned


def validate_symbols(session: Session, symbols: list[str]) -> list[str]:
    """The codes, trimmed and upper-cased, in order; INVALID_INPUT naming every code given twice, every
    malformed (`600000.XX`) and every unknown (`999999.SH`) code."""
    cleaned = unique_symbols(symbols)
    if not cleaned:
        raise InvalidInput("at least one symbol is required", field="symbols")
    malformed = [s for s in cleaned if parse_symbol(s) is None]
    known = repo.instruments_by_symbol(session, [s for s in cleaned if s not in malformed])
    unknown = [s for s in cleaned if s not in malformed and s not in known]
    if malformed or unknown:
        bad = malformed + unknown
        raise InvalidInput(
            f"unknown or malformed symbols: {', '.join(bad)}",
            field="symbols",
            details={"malformed": malformed, "unknown": unknown},
        )
    return cleaned


# --- calendar ------------------------------------------------------------------------------------------


def calendar_bounds(session: Session) -> tuple[date, date, str]:
    first, last, source = repo.calendar_range(session)
    if first is None or last is None or source is None:
        return XSHG_FIRST, XSHG_LAST, "xshg"
    return first, last, source


def trading_sessions(session: Session, start: date, end: date) -> list[date]:
    """Trading days in [start, end]: the stored calendar (Tushare `trade_cal` or XSHG as loaded), else
    XSHG directly. INVALID_INPUT when start > end or the range leaves the calendar's known years."""
    first, last, source = repo.calendar_range(session)
    if first is None or last is None:
        return xshg_between(start, end)
    require_within(start, end, first, last, source=source or "stored")
    return repo.open_days(session, start, end)


def calendar(session: Session, start: date, end: date) -> CalendarRead:
    sessions = trading_sessions(session, start, end)
    return CalendarRead(start=start, end=end, source=calendar_bounds(session)[2], sessions=sessions)


# --- instruments ---------------------------------------------------------------------------------------


def _instrument_read(row: repo.Instrument) -> InstrumentRead:
    return InstrumentRead.model_validate(row, from_attributes=True)


def get_instruments(session: Session, symbols: list[str]) -> pl.DataFrame:
    """The instrument frame of the contract (symbol, name, exchange, board, list_date, delist_date)."""
    symbols = validate_symbols(session, symbols)
    rows = repo.instruments_by_symbol(session, symbols)
    data = [{k: getattr(rows[s], k) for k in INSTRUMENT_SCHEMA} for s in symbols]
    return pl.DataFrame(data, schema=INSTRUMENT_SCHEMA).sort("symbol")


def search_instruments(
    session: Session,
    *,
    page: PageParams,
    q: str | None = None,
    board: str | None = None,
    exchange: str | None = None,
    kind: str | None = None,
) -> Page[InstrumentRead]:
    items, total = repo.search_instruments(
        session, q=q, board=board, exchange=exchange, kind=kind, limit=page.limit, offset=page.offset
    )
    return Page[InstrumentRead](
        items=[_instrument_read(i) for i in items], total=total, limit=page.limit, offset=page.offset
    )


def instrument_detail(session: Session, symbol: str) -> InstrumentDetail:
    code = symbol.strip().upper()
    row = repo.instruments_by_symbol(session, [code]).get(code)
    if row is None:
        raise NotFound(f"instrument {code} not found", details={"symbol": code})
    snapshot = repo.latest_snapshot(session)
    files = repo.snapshot_files(session, snapshot.id, symbols=[code]) if snapshot else []
    return InstrumentDetail(
        **_instrument_read(row).model_dump(),
        st_periods=[StPeriodRead.model_validate(p, from_attributes=True) for p in repo.st_periods(session, [code])],
        coverage=[CoverageRead.model_validate(f, from_attributes=True) for f in files],
    )


# --- snapshots -----------------------------------------------------------------------------------------


def _snapshot_read(row: repo.Snapshot) -> SnapshotRead:
    return SnapshotRead.model_validate(row, from_attributes=True)


def resolve_snapshot(session: Session, snapshot_id: str | None) -> repo.Snapshot:
    if snapshot_id is not None:
        row = repo.get_snapshot(session, snapshot_id)
        if row is None:
            raise NotFound(f"snapshot {snapshot_id} not found", details={"snapshot_id": snapshot_id})
        return row
    row = repo.latest_snapshot(session)
    if row is None:
        raise NotFound(NO_DATA_HINT)
    return row


def latest_snapshot(session: Session) -> SnapshotRead:
    """The newest data snapshot (what an unpinned read sees); NOT_FOUND when nothing is loaded."""
    return _snapshot_read(resolve_snapshot(session, None))


def get_snapshot(session: Session, snapshot_id: str) -> SnapshotDetail:
    row = resolve_snapshot(session, snapshot_id)
    files = repo.snapshot_files(session, row.id)
    return SnapshotDetail(
        **_snapshot_read(row).model_dump(),
        partitions=[CoverageRead.model_validate(f, from_attributes=True) for f in files],
    )


def list_snapshots(session: Session, *, page: PageParams) -> Page[SnapshotRead]:
    items, total = repo.list_snapshots(session, limit=page.limit, offset=page.offset)
    return Page[SnapshotRead](
        items=[_snapshot_read(s) for s in items], total=total, limit=page.limit, offset=page.offset
    )


def coverage(
    session: Session, *, snapshot_id: str | None = None, freq: str | None = None, symbol: str | None = None
) -> list[CoverageRead]:
    """Partitions of a snapshot (default: the newest): per frequency and symbol, the dates held."""
    row = resolve_snapshot(session, snapshot_id)
    freq_value = parse_freq(freq).value if freq else None
    symbols = [symbol.strip().upper()] if symbol else None
    files = repo.snapshot_files(session, row.id, freq=freq_value, symbols=symbols)
    return [CoverageRead.model_validate(f, from_attributes=True) for f in files]


# --- bars ----------------------------------------------------------------------------------------------


def get_bars(
    session: Session,
    *,
    symbols: list[str],
    freq: str,
    start: date,
    end: date,
    adjust: str = "qfq",
    snapshot_id: str | None = None,
) -> pl.DataFrame:
    """Bars of `symbols` in [start, end] as the contract frame, sorted by symbol then ts.

    `adjust`: `none` (raw), `qfq` (anchored at each symbol's last session on or before `end`), `hfq`.
    INVALID_INPUT for unknown/malformed codes (each named), unsupported freq/adjust, start > end or dates
    outside the calendar; NOT_FOUND for an unknown snapshot or when nothing is loaded."""
    frame, _ = read_bars(
        session, symbols=symbols, freq=freq, start=start, end=end, adjust=adjust, snapshot_id=snapshot_id
    )
    return frame


def read_bars(
    session: Session,
    *,
    symbols: list[str],
    freq: str,
    start: date,
    end: date,
    adjust: str,
    snapshot_id: str | None,
) -> tuple[pl.DataFrame, repo.Snapshot]:
    freq_value, adjust_value = parse_freq(freq), parse_adjust(adjust)
    first, last, source = calendar_bounds(session)
    require_within(start, end, first, last, source=source)
    symbols = validate_symbols(session, symbols)
    snapshot = resolve_snapshot(session, snapshot_id)
    files = repo.snapshot_files(session, snapshot.id, freq=freq_value.value, symbols=symbols)
    stored = current().store.read([f.path for f in files], start, end)
    return adjust_bars(stored, adjust_value, end), snapshot


def get_benchmark(
    session: Session, symbol: str, start: date, end: date, snapshot_id: str | None = None
) -> pl.DataFrame:
    """A benchmark index (e.g. `000300.SH`) as a contract frame of daily bars (prices unadjusted)."""
    return get_bars(
        session, symbols=[symbol], freq=Freq.DAILY.value, start=start, end=end, adjust="none", snapshot_id=snapshot_id
    )


def bars_view(
    session: Session,
    query_symbols: list[str],
    *,
    freq: str,
    start: date,
    end: date,
    adjust: str,
    snapshot_id: str | None,
) -> BarsRead:
    frame, snapshot = read_bars(
        session, symbols=query_symbols, freq=freq, start=start, end=end, adjust=adjust, snapshot_id=snapshot_id
    )
    return BarsRead(
        snapshot_id=snapshot.id,
        source=snapshot.source,
        freq=freq,
        adjust=adjust,
        start=start,
        end=end,
        columns=frame.columns,
        rows=frame.to_dicts(),
    )


def bars_csv(
    session: Session,
    query_symbols: list[str],
    *,
    freq: str,
    start: date,
    end: date,
    adjust: str,
    snapshot_id: str | None,
) -> str:
    frame, _ = read_bars(
        session, symbols=query_symbols, freq=freq, start=start, end=end, adjust=adjust, snapshot_id=snapshot_id
    )
    return frame.write_csv()
