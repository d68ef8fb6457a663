"""Reference data: symbol validation, the trading calendar, instruments (search, detail, the contract frame)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import date

import polars as pl
from sqlalchemy.orm import Session

from market_data import repository as repo
from market_data.calendars import XSHG_FIRST, XSHG_LAST, require_within, xshg_between
from market_data.domain import parse_symbol
from market_data.schemas import CalendarRead, InstrumentDetail, InstrumentRead, StPeriodRead
from market_data.service._common import clean_symbols, coverage_read
from platform_core.errors import InvalidInput, NotFound
from platform_core.pagination import Page, PageParams
from quant.contract import INSTRUMENT_SCHEMA

# --- symbols -------------------------------------------------------------------------------------------


def validate_symbols(
    session: Session, symbols: list[str], *, known: Mapping[str, repo.Instrument] | None = None
) -> list[str]:
    """The codes, trimmed, upper-cased and de-duplicated in order; INVALID_INPUT naming every malformed
    (`600000.XX`) or unknown (`999999.SH`) code. `known`: the instrument rows already read for them
    (`known_instruments`), else they are read here."""
    cleaned = clean_symbols(symbols)
    if not cleaned:
        raise InvalidInput("at least one symbol is required", field="symbols")
    malformed = [s for s in cleaned if parse_symbol(s) is None]
    if known is None:
        known = repo.instruments_by_symbol(session, [s for s in cleaned if s not in malformed])
    unknown = [s for s in cleaned if s not in malformed and s not in known]
    if malformed or unknown:
        bad = malformed + unknown
        hints = _suggestions(session, malformed, unknown)
        hint = "; did you mean " + ", ".join(f"{c} → {' or '.join(m)}" for c, m in hints.items()) + "?" if hints else ""
        details = {"malformed": malformed, "unknown": unknown, **({"did_you_mean": hints} if hints else {})}
        raise InvalidInput(f"unknown or malformed symbols: {', '.join(bad)}{hint}", field="symbols", details=details)
    return cleaned


def known_instruments(session: Session, *groups: list[str]) -> dict[str, repo.Instrument]:
    """The instrument rows of every well-formed code of `groups`, in one statement (for `validate_symbols`
    and `instrument_frame` of each group)."""
    codes = {s for group in groups for s in clean_symbols(group) if parse_symbol(s) is not None}
    return repo.instruments_by_symbol(session, sorted(codes))


def _suggestions(session: Session, malformed: list[str], unknown: list[str]) -> dict[str, list[str]]:
    """Likely meant codes: for a bare one the listed instruments with that number (`600010` → `600010.SH`),
    for an unknown one those a digit or so off (`600011.SH` → `600010.SH`, `600110.SH`); none when nothing is
    close."""
    everything = repo.all_symbols(session)
    by_number: dict[str, list[str]] = {}
    for code in everything:
        by_number.setdefault(code.split(".")[0], []).append(code)
    hints: dict[str, list[str]] = {}
    for code in malformed:
        if code.split(".")[0] in by_number:
            hints[code] = by_number[code.split(".")[0]]
    for code in unknown:
        close = sorted(difflib.get_close_matches(code, everything, n=3, cutoff=0.85))
        if close:
            hints[code] = close
    return hints


# --- calendar ------------------------------------------------------------------------------------------


def calendar_bounds(session: Session) -> tuple[date, date, str]:
    """First and last day of the stored calendar and its source (XSHG's known years when none is stored)."""
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
    """The sessions in [start, end] with the calendar's source (`tushare` or `xshg`)."""
    sessions = trading_sessions(session, start, end)
    return CalendarRead(start=start, end=end, source=calendar_bounds(session)[2], sessions=sessions)


# --- instruments ---------------------------------------------------------------------------------------


def _instrument_read(row: repo.Instrument) -> InstrumentRead:
    return InstrumentRead.model_validate(row, from_attributes=True)


def get_instruments(session: Session, symbols: list[str]) -> pl.DataFrame:
    """The instrument frame of the contract (symbol, name, exchange, board, list_date, delist_date)."""
    rows = repo.instruments_by_symbol(session, clean_symbols(symbols))
    return instrument_frame(validate_symbols(session, symbols, known=rows), rows)


def instrument_frame(symbols: list[str], rows: Mapping[str, repo.Instrument]) -> pl.DataFrame:
    """The instrument frame of validated `symbols` from their rows."""
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
    """Instruments whose code or name contains `q`, filtered by board, exchange or kind."""
    items, total = repo.search_instruments(
        session, q=q, board=board, exchange=exchange, kind=kind, limit=page.limit, offset=page.offset
    )
    return Page[InstrumentRead](
        items=[_instrument_read(i) for i in items], total=total, limit=page.limit, offset=page.offset
    )


def instrument_detail(session: Session, symbol: str) -> InstrumentDetail:
    """One instrument with its ST periods and what the default snapshot holds for it; NOT_FOUND if unknown."""
    code = symbol.strip().upper()
    row = repo.instruments_by_symbol(session, [code]).get(code)
    if row is None:
        raise NotFound(f"instrument {code} not found", details={"symbol": code})
    snapshot = repo.current_default(session)
    files = repo.snapshot_files(session, snapshot.id, symbols=[code]) if snapshot else []
    return InstrumentDetail(
        **_instrument_read(row).model_dump(),
        st_periods=[StPeriodRead.model_validate(p, from_attributes=True) for p in repo.st_periods(session, [code])],
        coverage=[coverage_read(f) for f in files],
    )
