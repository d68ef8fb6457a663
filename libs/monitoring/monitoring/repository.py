"""The `monitoring` schema: alert state (one row per rule), the history of alert transitions, and the
persisted maintenance schedules. Private to the context."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Float, Identity, Index, Integer, String, Uuid, func, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from platform_core.db import declarative_base

SCHEMA = "monitoring"
Base = declarative_base(SCHEMA)
metadata = Base.metadata

TS = DateTime(timezone=True)


class AlertStateRow(Base):
    __tablename__ = "alert_states"

    rule: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[str] = mapped_column(String(10))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str] = mapped_column(String(500))
    since: Mapped[datetime] = mapped_column(TS)
    evaluated_at: Mapped[datetime] = mapped_column(TS)


class AlertEventRow(Base):
    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    rule: Mapped[str] = mapped_column(String(40))
    transition: Mapped[str] = mapped_column(String(10))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(TS)

    __table_args__ = (Index("ix_alert_events_at", "at"),)


class ScheduleRow(Base):
    __tablename__ = "schedules"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    kind: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    interval_s: Mapped[int | None] = mapped_column(Integer)
    daily_at: Mapped[str | None] = mapped_column(String(5))
    enabled: Mapped[bool] = mapped_column(Boolean)
    next_run_at: Mapped[datetime] = mapped_column(TS)
    last_run_at: Mapped[datetime | None] = mapped_column(TS)
    last_job_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    updated_at: Mapped[datetime] = mapped_column(TS)


# --- alerts ----------------------------------------------------------------------------------------------


def alert_states(session: Session, *, lock: bool = False) -> dict[str, AlertStateRow]:
    stmt = select(AlertStateRow)
    if lock:
        stmt = stmt.with_for_update()
    return {row.rule: row for row in session.execute(stmt).scalars()}


def add(session: Session, row: Base) -> Any:
    session.add(row)
    session.flush()
    return row


def alert_events(session: Session, *, limit: int, offset: int) -> tuple[Sequence[AlertEventRow], int]:
    total = session.execute(select(func.count()).select_from(AlertEventRow)).scalar_one()
    rows = (
        session.execute(
            select(AlertEventRow).order_by(AlertEventRow.at.desc(), AlertEventRow.id.desc()).limit(limit).offset(offset)
        )
        .scalars()
        .all()
    )
    return rows, int(total)


# --- schedules -------------------------------------------------------------------------------------------


def ensure_schedule(session: Session, values: dict[str, Any]) -> None:
    """Insert a schedule unless it exists; an existing one keeps its next run, its kind/period are updated."""
    stmt = insert(ScheduleRow).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"],
        set_={
            "kind": stmt.excluded.kind,
            "payload": stmt.excluded.payload,
            "interval_s": stmt.excluded.interval_s,
            "daily_at": stmt.excluded.daily_at,
            "enabled": stmt.excluded.enabled,
        },
    )
    session.execute(stmt)


def schedules(session: Session) -> Sequence[ScheduleRow]:
    return session.execute(select(ScheduleRow).order_by(ScheduleRow.name)).scalars().all()


def due_schedules(session: Session, now: datetime) -> Sequence[ScheduleRow]:
    """Enabled schedules due at `now`, locked (SKIP LOCKED: another process's tick takes the others)."""
    stmt = (
        select(ScheduleRow)
        .where(ScheduleRow.enabled.is_(True), ScheduleRow.next_run_at <= now)
        .order_by(ScheduleRow.next_run_at)
        .with_for_update(skip_locked=True)
    )
    return session.execute(stmt).scalars().all()


def lock_alerts(session: Session) -> None:
    """One alert evaluation at a time across every process (released at transaction end)."""
    session.execute(select(func.pg_advisory_xact_lock(func.hashtext("monitoring.alerts"))))
