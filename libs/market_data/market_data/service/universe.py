"""Point-in-time reference: index constituents as of a session, the listed universe of a session, and the
fundamentals (`daily_basic`) of stocks per session — what a backtest universe and a selection read.

Members of an index on a session are those of the newest `index_weight` date on or before it; the listed
universe of a session holds every stock listed by then and not yet delisted (delisted stocks are included
while they traded); fundamentals of a session are that session's `daily_basic` row, published after its
close — a strategy deciding at a close sees that close's values and never a later one.
"""

from __future__ import annotations

from datetime import date

import polars as pl
from sqlalchemy.orm import Session

from market_data import repository as repo
from market_data.schemas import FundamentalsRead, IndexMember, IndexMembersRead, UniverseRead
from market_data.service._common import clean_symbols
from market_data.service.reference import validate_symbols
from platform_core.errors import InvalidInput, NotFound

FUNDAMENTAL_COLUMNS = ("pe", "pb", "ps", "dv_ratio", "total_mv", "circ_mv", "turnover_rate")
FUNDAMENTALS_SCHEMA = {"symbol": pl.Utf8, "date": pl.Date, **dict.fromkeys(FUNDAMENTAL_COLUMNS, pl.Float64)}


def index_members(session: Session, index_code: str, on: date) -> IndexMembersRead:
    """The constituents of `index_code` (e.g. `000300.SH`) as of session `on`; NOT_FOUND when no weights
    are stored on or before it (sync `index_weight`, or load the sample)."""
    code = index_code.strip().upper()
    weight_date = repo.index_weight_date(session, code, on)
    if weight_date is None:
        raise NotFound(
            f"no constituents of {code} on or before {on}: sync index_weight (huice data sync --dataset "
            "index_weight) or load the sample",
            details={"index_code": code, "on": on.isoformat()},
        )
    rows = repo.index_constituents(session, code, weight_date)
    return IndexMembersRead(
        index_code=code,
        on=on,
        weight_date=weight_date,
        members=[IndexMember(symbol=r.con_code, weight=r.weight) for r in rows],
    )


def listed_universe(session: Session, on: date) -> UniverseRead:
    """Every stock listed on session `on` (listed by then, not delisted by then)."""
    return UniverseRead(on=on, symbols=[i.symbol for i in repo.listed_on(session, on)])


def fundamentals(session: Session, symbols: list[str], start: date, end: date) -> pl.DataFrame:
    """Published: the `daily_basic` rows of `symbols` for the sessions in [start, end] as a frame (symbol,
    date, pe, pb, ps, dv_ratio, total_mv, circ_mv, turnover_rate), sorted by symbol and date; a session
    without a row (suspended, not synced) has none. INVALID_INPUT naming unknown codes."""
    if start > end:
        raise InvalidInput(f"start {start} is after end {end}", details={"start": str(start), "end": str(end)})
    codes = validate_symbols(session, clean_symbols(symbols))
    rows = repo.daily_basic(session, codes, start, end)
    data = {name: [getattr(r, name) for r in rows] for name in FUNDAMENTAL_COLUMNS}
    return pl.DataFrame(
        {"symbol": [r.symbol for r in rows], "date": [r.trade_date for r in rows], **data}, schema=FUNDAMENTALS_SCHEMA
    )


def fundamentals_view(session: Session, symbols: list[str], start: date, end: date) -> FundamentalsRead:
    """`fundamentals` as rows (the API's JSON and `huice data fundamentals --json`)."""
    frame = fundamentals(session, symbols, start, end)
    return FundamentalsRead(start=start, end=end, columns=frame.columns, rows=frame.to_dicts())
