"""Tables of the `market_data` schema and every query on them (private to the context).

- `instruments`, `st_periods`, `calendar_days`: the reference data (sample or Tushare).
- `snapshots` + `snapshot_files` (+ `snapshot_packs`): immutable manifests of the Parquet partitions a read
  sees; `snapshots.layout` is the manifest's format version (1: per-symbol partitions; 2: also the daily
  partitions packed per code prefix, `snapshot_packs`).
- `daily_basic`, `index_weights`: fundamentals per stock and session, and index constituents per weight
  date (Tushare `daily_basic` / `index_weight`, or the sample), read point in time.
- `snapshot_defaults`: the history of the default snapshot (what unpinned reads and new backtests use); the
  newest row is the current default.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    delete,
    distinct,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from platform_core.db import declarative_base

Base = declarative_base("market_data")
metadata = Base.metadata


class Instrument(Base):
    __tablename__ = "instruments"

    symbol: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    exchange: Mapped[str] = mapped_column(String(8))
    board: Mapped[str] = mapped_column(String(16), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    list_date: Mapped[date | None] = mapped_column(Date)
    delist_date: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class StPeriodRow(Base):
    __tablename__ = "st_periods"

    symbol: Mapped[str] = mapped_column(String(16), primary_key=True)
    start_date: Mapped[date] = mapped_column(Date, primary_key=True)
    end_date: Mapped[date | None] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(64))


class CalendarDay(Base):
    __tablename__ = "calendar_days"

    cal_date: Mapped[date] = mapped_column(Date, primary_key=True)
    is_open: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(16))


class Snapshot(Base):
    __tablename__ = "snapshots"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    files: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(BigInteger)
    coverage: Mapped[dict[str, Any]] = mapped_column(JSONB)
    layout: Mapped[int] = mapped_column(Integer, server_default=text("1"))


class SnapshotFile(Base):
    __tablename__ = "snapshot_files"

    snapshot_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    freq: Mapped[str] = mapped_column(String(8), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(16), primary_key=True)
    path: Mapped[str] = mapped_column(String(255))
    content_hash: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    first_date: Mapped[date | None] = mapped_column(Date)
    last_date: Mapped[date | None] = mapped_column(Date)
    covered_start: Mapped[date] = mapped_column(Date)
    covered_end: Mapped[date] = mapped_column(Date)


class SnapshotPack(Base):
    __tablename__ = "snapshot_packs"

    snapshot_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    freq: Mapped[str] = mapped_column(String(8), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(16), primary_key=True)
    path: Mapped[str] = mapped_column(String(255))
    content_hash: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(BigInteger)
    symbols: Mapped[int] = mapped_column(Integer)
    members_hash: Mapped[str] = mapped_column(String(64))


class SnapshotDefault(Base):
    __tablename__ = "snapshot_defaults"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    snapshot_id: Mapped[str] = mapped_column(String(40), ForeignKey("snapshots.id", ondelete="CASCADE"), index=True)
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(16))  # published | explicit | migrated
    set_by: Mapped[str | None] = mapped_column(String(64))


class DailyBasic(Base):
    __tablename__ = "daily_basic"

    symbol: Mapped[str] = mapped_column(String(16), primary_key=True)
    trade_date: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
    close: Mapped[float | None] = mapped_column(Float)
    pe: Mapped[float | None] = mapped_column(Float)
    pb: Mapped[float | None] = mapped_column(Float)
    ps: Mapped[float | None] = mapped_column(Float)
    dv_ratio: Mapped[float | None] = mapped_column(Float)
    total_mv: Mapped[float | None] = mapped_column(Float)
    circ_mv: Mapped[float | None] = mapped_column(Float)
    turnover_rate: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))


class IndexWeight(Base):
    __tablename__ = "index_weights"

    index_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    trade_date: Mapped[date] = mapped_column(Date, primary_key=True)
    con_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    weight: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))


# --- instruments ---------------------------------------------------------------------------------------


def upsert_instruments(session: Session, rows: list[dict[str, Any]], *, keep_other_sources: bool) -> None:
    """Insert or update; with `keep_other_sources` a row of another source (Tushare over sample) is kept."""
    if not rows:
        return
    stmt = insert(Instrument).values(rows)
    updates = {c: stmt.excluded[c] for c in ("name", "exchange", "board", "kind", "list_date", "delist_date", "source")}
    where = Instrument.source == stmt.excluded.source if keep_other_sources else None
    session.execute(
        stmt.on_conflict_do_update(index_elements=["symbol"], set_={**updates, "updated_at": func.now()}, where=where)
    )


def instruments_by_symbol(session: Session, symbols: Iterable[str]) -> dict[str, Instrument]:
    rows = session.scalars(select(Instrument).where(Instrument.symbol.in_(list(symbols))))
    return {row.symbol: row for row in rows}


def count_instruments(session: Session, *, source: str | None = None) -> int:
    stmt = select(func.count()).select_from(Instrument)
    if source is not None:
        stmt = stmt.where(Instrument.source == source)
    return session.scalar(stmt) or 0


def all_symbols(session: Session, *, kind: str | None = None, source: str | None = None) -> list[str]:
    stmt = select(Instrument.symbol).order_by(Instrument.symbol)
    if kind is not None:
        stmt = stmt.where(Instrument.kind == kind)
    if source is not None:
        stmt = stmt.where(Instrument.source == source)
    return list(session.scalars(stmt))


def search_instruments(
    session: Session,
    *,
    q: str | None,
    board: str | None,
    exchange: str | None,
    kind: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Instrument], int]:
    stmt = select(Instrument)
    if q:
        pattern = f"%{q.strip()}%"
        stmt = stmt.where(or_(Instrument.symbol.ilike(pattern), Instrument.name.ilike(pattern)))
    for column, value in ((Instrument.board, board), (Instrument.exchange, exchange), (Instrument.kind, kind)):
        if value is not None:
            stmt = stmt.where(column == value)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = session.scalars(stmt.order_by(Instrument.symbol).limit(limit).offset(offset))
    return list(items), total


def replace_st_periods(session: Session, symbols: list[str], rows: list[dict[str, Any]]) -> None:
    session.execute(delete(StPeriodRow).where(StPeriodRow.symbol.in_(symbols)))
    if rows:
        session.execute(insert(StPeriodRow).values(rows).on_conflict_do_nothing())


def st_periods(session: Session, symbols: Iterable[str]) -> list[StPeriodRow]:
    stmt = select(StPeriodRow).where(StPeriodRow.symbol.in_(list(symbols)))
    return list(session.scalars(stmt.order_by(StPeriodRow.symbol, StPeriodRow.start_date)))


# --- calendar ------------------------------------------------------------------------------------------


def upsert_calendar(session: Session, rows: list[dict[str, Any]], *, overwrite: bool) -> None:
    if not rows:
        return
    stmt = insert(CalendarDay)
    if overwrite:
        stmt = stmt.on_conflict_do_update(
            index_elements=["cal_date"], set_={"is_open": stmt.excluded.is_open, "source": stmt.excluded.source}
        )
    else:
        stmt = stmt.on_conflict_do_nothing()
    session.execute(stmt, rows)


def calendar_range(session: Session) -> tuple[date | None, date | None, str | None]:
    """First and last stored day and the stored sources joined by `+` (sorted), in one statement."""
    first, last, sources = session.execute(
        select(
            func.min(CalendarDay.cal_date),
            func.max(CalendarDay.cal_date),
            func.array_agg(distinct(CalendarDay.source)),
        )
    ).one()
    if first is None:
        return None, None, None
    return first, last, "+".join(sorted(sources))


def open_days(session: Session, start: date, end: date) -> list[date]:
    stmt = select(CalendarDay.cal_date).where(CalendarDay.is_open.is_(True), CalendarDay.cal_date.between(start, end))
    return list(session.scalars(stmt.order_by(CalendarDay.cal_date)))


def calendar_days_between(session: Session, start: date, end: date, *, source: str | None = None) -> int:
    stmt = select(func.count()).where(CalendarDay.cal_date.between(start, end))
    if source is not None:
        stmt = stmt.where(CalendarDay.source == source)
    return session.scalar(stmt) or 0


# --- snapshots -----------------------------------------------------------------------------------------


def add_snapshot(
    session: Session, snapshot: dict[str, Any], files: list[dict[str, Any]], packs: Iterable[dict[str, Any]] = ()
) -> Snapshot:
    row = Snapshot(**snapshot)
    session.add(row)
    session.flush()
    for chunk in range(0, len(files), 2000):
        session.execute(insert(SnapshotFile).values(files[chunk : chunk + 2000]))
    if packs:
        session.execute(insert(SnapshotPack).values(list(packs)))
    return row


def get_snapshot(session: Session, snapshot_id: str) -> Snapshot | None:
    return session.get(Snapshot, snapshot_id)


def latest_snapshot(session: Session, *, source: str | None = None) -> Snapshot | None:
    stmt = select(Snapshot)
    if source is not None:
        stmt = stmt.where(Snapshot.source == source)
    return session.scalars(stmt.order_by(Snapshot.created_at.desc(), Snapshot.id.desc()).limit(1)).first()


def list_snapshots(session: Session, *, limit: int, offset: int) -> tuple[list[Snapshot], int]:
    total = session.scalar(select(func.count()).select_from(Snapshot)) or 0
    stmt = select(Snapshot).order_by(Snapshot.created_at.desc(), Snapshot.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(stmt)), total


def snapshot_files(
    session: Session, snapshot_id: str, *, freq: str | None = None, symbols: Iterable[str] | None = None
) -> list[SnapshotFile]:
    stmt = select(SnapshotFile).where(SnapshotFile.snapshot_id == snapshot_id)
    if freq is not None:
        stmt = stmt.where(SnapshotFile.freq == freq)
    if symbols is not None:
        stmt = stmt.where(SnapshotFile.symbol.in_(list(symbols)))
    return list(session.scalars(stmt.order_by(SnapshotFile.freq, SnapshotFile.symbol)))


def snapshot_packs(session: Session, snapshot_id: str, *, freq: str | None = None) -> list[SnapshotPack]:
    stmt = select(SnapshotPack).where(SnapshotPack.snapshot_id == snapshot_id)
    if freq is not None:
        stmt = stmt.where(SnapshotPack.freq == freq)
    return list(session.scalars(stmt.order_by(SnapshotPack.freq, SnapshotPack.bucket)))


def current_default(session: Session) -> Snapshot | None:
    """The default snapshot: the one named by the newest `snapshot_defaults` row."""
    stmt = (
        select(Snapshot)
        .join(SnapshotDefault, SnapshotDefault.snapshot_id == Snapshot.id)
        .order_by(SnapshotDefault.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def set_default(session: Session, snapshot_id: str, *, at: datetime, reason: str, set_by: str | None) -> None:
    session.add(SnapshotDefault(snapshot_id=snapshot_id, set_at=at, reason=reason, set_by=set_by))
    session.flush()


def default_record(session: Session) -> SnapshotDefault | None:
    """The newest `snapshot_defaults` row (how the current default became the default)."""
    return session.scalars(select(SnapshotDefault).order_by(SnapshotDefault.id.desc()).limit(1)).first()


# --- fundamentals and index constituents --------------------------------------------------------------

BASIC_COLUMNS = ("close", "pe", "pb", "ps", "dv_ratio", "total_mv", "circ_mv", "turnover_rate")


def _copy_in(session: Session, table: str, columns: tuple[str, ...], rows: list[dict[str, Any]], conflict: str) -> None:
    """`rows` into `market_data.<table>`: COPY into a temporary table, then one INSERT … ON CONFLICT `conflict`
    (~10^5 rows a second, where a multi-row INSERT spends its time compiling parameters)."""
    staging = f"_{table}_in"
    session.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE market_data.{table}) ON COMMIT DELETE ROWS"))
    session.execute(text(f"TRUNCATE {staging}"))
    cursor = session.connection().connection.driver_connection.cursor()
    with cursor.copy(f"COPY {staging} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(tuple(row.get(c) for c in columns))
    names = ", ".join(columns)
    session.execute(text(f"INSERT INTO market_data.{table} ({names}) SELECT {names} FROM {staging} {conflict}"))


def upsert_daily_basic(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert or update daily_basic rows."""
    if rows:
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in (*BASIC_COLUMNS, "source"))
        columns = ("symbol", "trade_date", *BASIC_COLUMNS, "source")
        _copy_in(session, "daily_basic", columns, rows, f"ON CONFLICT (symbol, trade_date) DO UPDATE SET {updates}")


def daily_basic(
    session: Session, symbols: list[str], start: date, end: date, columns: tuple[str, ...]
) -> list[tuple[Any, ...]]:
    """(symbol, trade_date, *columns) rows, by symbol and date (plain tuples: a market-wide read holds millions)."""
    fields = [DailyBasic.symbol, DailyBasic.trade_date, *(getattr(DailyBasic, c) for c in columns)]
    stmt = select(*fields).where(DailyBasic.symbol.in_(symbols), DailyBasic.trade_date.between(start, end))
    return [tuple(r) for r in session.execute(stmt.order_by(DailyBasic.symbol, DailyBasic.trade_date))]


def basic_dates(session: Session, start: date, end: date, *, source: str) -> set[date]:
    """The sessions in [start, end] that hold daily_basic rows of `source`."""
    stmt = (
        select(DailyBasic.trade_date)
        .where(DailyBasic.trade_date.between(start, end), DailyBasic.source == source)
        .distinct()
    )
    return set(session.scalars(stmt))


def replace_index_weights(
    session: Session, index_code: str, start: date, end: date, rows: list[dict[str, Any]]
) -> None:
    """The weights of `index_code` for weight dates in [start, end] become `rows`."""
    session.execute(
        delete(IndexWeight).where(IndexWeight.index_code == index_code, IndexWeight.trade_date.between(start, end))
    )
    if rows:
        columns = ("index_code", "trade_date", "con_code", "weight", "source")
        _copy_in(session, "index_weights", columns, rows, "ON CONFLICT DO NOTHING")


def index_weight_date(session: Session, index_code: str, on: date) -> date | None:
    """The newest weight date of `index_code` on or before `on`."""
    stmt = select(func.max(IndexWeight.trade_date)).where(
        IndexWeight.index_code == index_code, IndexWeight.trade_date <= on
    )
    return session.scalar(stmt)


def index_constituents(session: Session, index_code: str, weight_date: date) -> list[IndexWeight]:
    stmt = select(IndexWeight).where(IndexWeight.index_code == index_code, IndexWeight.trade_date == weight_date)
    return list(session.scalars(stmt.order_by(IndexWeight.con_code)))


def listed_between(session: Session, start: date, end: date) -> list[tuple[str, date, date | None]]:
    """(symbol, list_date, delist_date) of the stocks listed on some day of [start, end]."""
    stmt = select(Instrument.symbol, Instrument.list_date, Instrument.delist_date).where(
        Instrument.kind == "stock",
        Instrument.list_date <= end,
        or_(Instrument.delist_date.is_(None), Instrument.delist_date > start),
    )
    return [tuple(r) for r in session.execute(stmt.order_by(Instrument.symbol))]


def index_weight_dates(session: Session, index_code: str, start: date, end: date) -> list[date]:
    """The weight dates of `index_code` in [start, end] and the newest one before `start`, ascending."""
    before = index_weight_date(session, index_code, start)
    stmt = select(IndexWeight.trade_date).where(
        IndexWeight.index_code == index_code, IndexWeight.trade_date.between(before or start, end)
    )
    return sorted(set(session.scalars(stmt.distinct())))


def index_constituents_on(session: Session, index_code: str, dates: list[date]) -> list[tuple[date, str]]:
    """(weight date, con_code) of `index_code` on each of `dates`."""
    stmt = select(IndexWeight.trade_date, IndexWeight.con_code).where(
        IndexWeight.index_code == index_code, IndexWeight.trade_date.in_(dates)
    )
    return [tuple(r) for r in session.execute(stmt)]


def listed_on(session: Session, on: date) -> list[Instrument]:
    """Stocks listed on `on`: list date on or before it, not delisted by then."""
    stmt = select(Instrument).where(
        Instrument.kind == "stock",
        Instrument.list_date <= on,
        or_(Instrument.delist_date.is_(None), Instrument.delist_date > on),
    )
    return list(session.scalars(stmt.order_by(Instrument.symbol)))
