"""Tables of the backtest context (schema `backtest`) and every query. Private to the context.

Every query that reaches a backtest, run or idempotency record starts from its owner, so another owner's
object is simply not found.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from platform_core.db import declarative_base

SCHEMA = "backtest"
Base = declarative_base(SCHEMA)
metadata = Base.metadata

TS = DateTime(timezone=True)


class BacktestRow(Base):
    """A backtest: strategy version + context (universe, frequency, window, pinned snapshot, rules)."""

    __tablename__ = "backtests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column()
    strategy_id: Mapped[uuid.UUID] = mapped_column()
    version_id: Mapped[uuid.UUID] = mapped_column()
    strategy_name: Mapped[str] = mapped_column(String(100))
    version_number: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(80))
    universe: Mapped[list[str]] = mapped_column(JSONB)
    frequency: Mapped[str] = mapped_column(String(10))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    adjust: Mapped[str] = mapped_column(String(10))
    data_source: Mapped[str] = mapped_column(String(20))
    snapshot_id: Mapped[str] = mapped_column(String(100))
    initial_cash: Mapped[float] = mapped_column(Float)
    rules: Mapped[dict[str, Any]] = mapped_column(JSONB)
    benchmark: Mapped[str | None] = mapped_column(String(20))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    notes: Mapped[str] = mapped_column(Text, server_default=text("''"))
    created_at: Mapped[datetime] = mapped_column(TS)

    __table_args__ = (Index("ix_backtests_owner_created", "owner_id", text("created_at DESC")),)


class RunRow(Base):
    """One execution of a backtest with one parameter set; 1:1 with a job of job_orchestration."""

    __tablename__ = "runs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column()
    backtest_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.backtests.id", ondelete="CASCADE"))
    job_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    priority: Mapped[str] = mapped_column(String(10))
    budget_s: Mapped[int] = mapped_column(Integer)
    rerun_of: Mapped[uuid.UUID | None] = mapped_column()
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    artifacts: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(TS)
    completed_at: Mapped[datetime | None] = mapped_column(TS)

    __table_args__ = (
        Index("ix_runs_owner_created", "owner_id", text("created_at DESC")),
        Index("ix_runs_backtest_created", "backtest_id", text("created_at DESC")),
    )


class IdempotencyRow(Base):
    """The first response to a POST carrying an `Idempotency-Key`, per owner (kept 24 h)."""

    __tablename__ = "idempotency_keys"

    owner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(TS)


# --- backtests -----------------------------------------------------------------------------------------


def add(session: Session, row: Any) -> Any:
    session.add(row)
    session.flush()
    return row


def get_backtest(session: Session, owner_id: uuid.UUID, backtest_id: uuid.UUID) -> BacktestRow | None:
    return session.scalar(select(BacktestRow).where(BacktestRow.owner_id == owner_id, BacktestRow.id == backtest_id))


def list_backtests(session: Session, owner_id: uuid.UUID, limit: int, offset: int) -> tuple[list[BacktestRow], int]:
    where = BacktestRow.owner_id == owner_id
    total = session.scalar(select(func.count()).select_from(BacktestRow).where(where)) or 0
    rows = session.scalars(
        select(BacktestRow)
        .where(where)
        .order_by(BacktestRow.created_at.desc(), BacktestRow.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


# --- runs ----------------------------------------------------------------------------------------------


def get_run(session: Session, owner_id: uuid.UUID, run_id: uuid.UUID, *, for_update: bool = False) -> RunRow | None:
    query = select(RunRow).where(RunRow.owner_id == owner_id, RunRow.id == run_id)
    return session.scalar(query.with_for_update() if for_update else query)


def list_runs(
    session: Session, owner_id: uuid.UUID, limit: int, offset: int, *, backtest_id: uuid.UUID | None = None
) -> tuple[list[RunRow], int]:
    where = [RunRow.owner_id == owner_id]
    if backtest_id is not None:
        where.append(RunRow.backtest_id == backtest_id)
    total = session.scalar(select(func.count()).select_from(RunRow).where(*where)) or 0
    rows = session.scalars(
        select(RunRow).where(*where).order_by(RunRow.created_at.desc(), RunRow.id.desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def backtests_by_id(session: Session, owner_id: uuid.UUID, ids: set[uuid.UUID]) -> dict[uuid.UUID, BacktestRow]:
    if not ids:
        return {}
    rows = session.scalars(select(BacktestRow).where(BacktestRow.owner_id == owner_id, BacktestRow.id.in_(ids)))
    return {r.id: r for r in rows}


# --- idempotency ---------------------------------------------------------------------------------------


def claim_key(session: Session, owner_id: uuid.UUID, key: str, request_hash: str, now: datetime) -> bool:
    """Insert the key's record; False when it already exists. A concurrent claim of the same key waits
    on the unique index until the first transaction ends, then sees its record."""
    result = session.execute(
        insert(IdempotencyRow)
        .values(owner_id=owner_id, key=key, request_hash=request_hash, created_at=now)
        .on_conflict_do_nothing(index_elements=["owner_id", "key"])
        .returning(IdempotencyRow.key)
    )
    return result.first() is not None


def get_key(session: Session, owner_id: uuid.UUID, key: str) -> IdempotencyRow | None:
    return session.scalar(
        select(IdempotencyRow)
        .where(IdempotencyRow.owner_id == owner_id, IdempotencyRow.key == key)
        .execution_options(populate_existing=True)
    )


def purge_keys(session: Session, owner_id: uuid.UUID, before: datetime) -> int:
    """Forget the owner's keys older than `before`."""
    result = session.execute(
        delete(IdempotencyRow).where(IdempotencyRow.owner_id == owner_id, IdempotencyRow.created_at < before)
    )
    return result.rowcount or 0


# --- operations figures and retention (monitoring) ------------------------------------------------------


def counts(session: Session) -> tuple[int, int]:
    """(backtests, runs) across every owner."""
    backtests = session.execute(select(func.count()).select_from(BacktestRow)).scalar_one()
    runs = session.execute(select(func.count()).select_from(RunRow)).scalar_one()
    return int(backtests), int(runs)


def purge_expired_keys(session: Session, before: datetime) -> int:
    """Forget every owner's idempotency keys older than `before`."""
    result = session.execute(delete(IdempotencyRow).where(IdempotencyRow.created_at < before))
    return result.rowcount or 0
