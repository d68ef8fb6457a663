"""Point-in-time reference: index constituents as of a session, the listed universe of a session, and the
fundamentals (`daily_basic`) of stocks per session — what a backtest universe and a selection read.

Members of an index on a session are those of the newest `index_weight` date on or before it; the listed
universe of a session holds every stock listed by then and not yet delisted (delisted stocks are included
while they traded); fundamentals of a session are that session's `daily_basic` row, published after its
close — a strategy deciding at a close sees that close's values and never a later one.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
from sqlalchemy.orm import Session

from market_data import repository as repo
from market_data.schemas import FundamentalsRead, IndexMember, IndexMembersRead, UniverseRead
from market_data.service._common import clean_symbols
from market_data.service.reference import validate_symbols
from platform_core.errors import InvalidInput, NotFound
from quant.fundamentals import FUNDAMENTAL_FIELDS, join_fundamentals

FUNDAMENTAL_COLUMNS = FUNDAMENTAL_FIELDS  # one list with the strategies' `FIELDS` (quant.fundamentals)
_KNOWN_WITHIN = timedelta(days=31)  # how far back a filter looks for the newest daily_basic row
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
    return _basics(session, validate_symbols(session, clean_symbols(symbols)), start, end)


def _basics(session: Session, codes: list[str], start: date, end: date) -> pl.DataFrame:
    rows = repo.daily_basic(session, codes, start, end, FUNDAMENTAL_COLUMNS)
    return pl.DataFrame(rows, schema=FUNDAMENTALS_SCHEMA, orient="row")


def fundamentals_view(session: Session, symbols: list[str], start: date, end: date) -> FundamentalsRead:
    """`fundamentals` as rows (the API's JSON and `huice data fundamentals --json`)."""
    frame = fundamentals(session, symbols, start, end)
    return FundamentalsRead(start=start, end=end, columns=frame.columns, rows=frame.to_dicts())


def universe_membership(
    session: Session,
    *,
    index: str | None,
    start: date,
    end: date,
    boards: list[str] | None = None,
    exclude_st: bool = False,
    min_listed_sessions: int = 0,
    min_float_value: float | None = None,
    min_turnover: float | None = None,
) -> pl.DataFrame:
    """Published: (date, symbol) of every stock in the universe on every session of [start, end], point in
    time — the members of `index` as of each session (None: every listed stock), restricted to `boards`,
    without stocks under risk warning (ST/*ST) on that session with `exclude_st`, only once listed for
    at least `min_listed_sessions` sessions, and with `min_float_value` (CNY) / `min_turnover` (% of the
    float) only on the sessions whose newest daily_basic row (on or before the session, as known at its
    close) reaches them — a stock without a row then is left out. NOT_FOUND when the index has no
    constituents in the window."""
    from market_data.service.reference import trading_sessions

    sessions = trading_sessions(session, start, end)
    days = pl.DataFrame({"date": sessions}, schema={"date": pl.Date})
    if index is not None:
        code = index.strip().upper()
        if repo.index_weight_date(session, code, end) is None:
            index_members(session, code, end)  # the NOT_FOUND naming what to sync
        frame = _index_rows(session, code, days, start, end)
    else:
        frame = _listed_rows(session, days, start, end)
    frame = _filtered(session, frame, sessions, boards, exclude_st, min_listed_sessions)
    return _size_filtered(session, frame, min_float_value, min_turnover)


def _size_filtered(
    session: Session, frame: pl.DataFrame, min_float_value: float | None, min_turnover: float | None
) -> pl.DataFrame:
    """The rows whose stock's newest daily_basic on or before the row's date has `circ_mv` (10,000 CNY) ×
    10,000 ≥ `min_float_value` and `turnover_rate` ≥ `min_turnover`."""
    if (min_float_value is None and min_turnover is None) or not frame.height:
        return frame
    first, last = frame["date"].min(), frame["date"].max()
    basics = _basics(session, frame["symbol"].unique().to_list(), first - _KNOWN_WITHIN, last)
    known = join_fundamentals(frame, basics, ("circ_mv", "turnover_rate"))
    keep = pl.lit(True)
    if min_float_value is not None:
        keep &= (pl.col("circ_mv") * 10_000 >= min_float_value).fill_null(False)
    if min_turnover is not None:
        keep &= (pl.col("turnover_rate") >= min_turnover).fill_null(False)
    return known.filter(keep).select(frame.columns)


_PAIR = {"date": pl.Date, "symbol": pl.Utf8}


def _index_rows(session: Session, code: str, days: pl.DataFrame, start: date, end: date) -> pl.DataFrame:
    """(date, symbol) of the members of `code` on each session: those of its newest weight date on or before."""
    dates = repo.index_weight_dates(session, code, start, end)
    weights = pl.DataFrame({"weight_date": dates}, schema={"weight_date": pl.Date})
    of_day = days.join_asof(weights, left_on="date", right_on="weight_date", strategy="backward")
    members = pl.DataFrame(
        repo.index_constituents_on(session, code, dates), schema={"weight_date": pl.Date, "symbol": pl.Utf8},
        orient="row",
    )  # fmt: skip
    return of_day.drop_nulls("weight_date").join(members, on="weight_date").select(list(_PAIR))


def _listed_rows(session: Session, days: pl.DataFrame, start: date, end: date) -> pl.DataFrame:
    """(date, symbol) of every stock listed on each session (listed by then, not yet delisted)."""
    listed = pl.DataFrame(
        repo.listed_between(session, start, end),
        schema={"symbol": pl.Utf8, "list_date": pl.Date, "delist_date": pl.Date},
        orient="row",
    )
    alive = (pl.col("list_date") <= pl.col("date")) & (
        pl.col("delist_date").is_null() | (pl.col("delist_date") > pl.col("date"))
    )
    return days.join(listed, how="cross").filter(alive).select(list(_PAIR))


def _filtered(
    session: Session,
    frame: pl.DataFrame,
    sessions: list[date],
    boards: list[str] | None,
    exclude_st: bool,
    min_listed_sessions: int,
) -> pl.DataFrame:
    symbols = frame["symbol"].unique().to_list()
    instruments = repo.instruments_by_symbol(session, symbols)  # a member without a reference row stays in
    if boards:
        frame = frame.filter(pl.col("symbol").is_in([s for s, i in instruments.items() if i.board in boards]))
    if exclude_st:
        periods = pl.DataFrame(
            [(p.symbol, p.start_date, p.end_date) for p in repo.st_periods(session, symbols)],
            schema={"symbol": pl.Utf8, "st_start": pl.Date, "st_end": pl.Date},
            orient="row",
        )
        under = (pl.col("date") >= pl.col("st_start")) & (
            pl.col("st_end").is_null() | (pl.col("date") <= pl.col("st_end"))
        )
        flagged = frame.join(periods, on="symbol").filter(under).select("date", "symbol").unique()
        frame = frame.join(flagged, on=["date", "symbol"], how="anti")
    if min_listed_sessions > 0 and frame.height:
        first = {s: i.list_date for s, i in instruments.items() if i.list_date is not None}
        frame = _listed_long_enough(session, frame, first, sessions[-1], min_listed_sessions)
    return frame.sort("date", "symbol")


def _listed_long_enough(
    session: Session, frame: pl.DataFrame, first: dict[str, date], end: date, needed: int
) -> pl.DataFrame:
    """The rows whose stock had traded `needed` sessions since its listing by the row's date (by the stored
    calendar; a stock without a list date never qualifies)."""
    days = repo.open_days(session, min(first.values(), default=end), end)
    position = pl.DataFrame({"date": days, "at": range(len(days))}, schema={"date": pl.Date, "at": pl.Int64})
    day_index = np.array(days, dtype="datetime64[D]")
    listed = pl.DataFrame(
        {
            "symbol": list(first),
            "listed_at": np.searchsorted(day_index, np.array(list(first.values()), dtype="datetime64[D]")),
        },
        schema={"symbol": pl.Utf8, "listed_at": pl.Int64},
    )
    keyed = frame.join(position, on="date", how="left").join(listed, on="symbol", how="left")
    keep = (pl.col("at") - pl.col("listed_at") >= needed).fill_null(False)
    return keyed.filter(keep).select(frame.columns)
