"""Tables of strategy_management (schema `strategy_management`) and every query. Private to the context.

Every query that reaches a strategy starts from its owner, so another owner's strategy is simply not found.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from platform_core.db import declarative_base
from platform_core.ids import new_id, utcnow

SCHEMA = "strategy_management"
Base = declarative_base(SCHEMA)
metadata = Base.metadata


class StrategyRow(Base):
    __tablename__ = "strategies"
    __table_args__ = (UniqueConstraint("owner_id", "name"), Index("ix_strategies_owner_id", "owner_id"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    owner_id: Mapped[uuid.UUID] = mapped_column()
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, server_default=text("''"))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(40)), server_default=text("'{}'::varchar[]"))
    archived: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    version_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class VersionRow(Base):
    __tablename__ = "strategy_versions"
    __table_args__ = (
        UniqueConstraint("strategy_id", "number"),
        Index("ix_strategy_versions_strategy_id", "strategy_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    strategy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.strategies.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    params_schema: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, server_default=text("'{}'::jsonb"))
    content_hash: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReferenceRow(Base):
    __tablename__ = "strategy_references"

    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.strategy_versions.id", ondelete="CASCADE"), primary_key=True
    )
    ref: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


SORTS = {
    "name": StrategyRow.name.asc(),
    "-name": StrategyRow.name.desc(),
    "created_at": StrategyRow.created_at.asc(),
    "-created_at": StrategyRow.created_at.desc(),
    "updated_at": StrategyRow.updated_at.asc(),
    "-updated_at": StrategyRow.updated_at.desc(),
}


def get_strategy(
    session: Session, owner_id: uuid.UUID, strategy_id: uuid.UUID, *, lock: bool = False
) -> StrategyRow | None:
    query = select(StrategyRow).where(StrategyRow.owner_id == owner_id, StrategyRow.id == strategy_id)
    return session.scalar(query.with_for_update() if lock else query)


def strategy_by_name(session: Session, owner_id: uuid.UUID, name: str) -> StrategyRow | None:
    return session.scalar(select(StrategyRow).where(StrategyRow.owner_id == owner_id, StrategyRow.name == name))


def list_strategies(
    session: Session,
    owner_id: uuid.UUID,
    *,
    q: str | None,
    tag: str | None,
    archived: bool | None,
    sort: str,
    limit: int,
    offset: int,
) -> tuple[list[StrategyRow], int]:
    query = select(StrategyRow).where(StrategyRow.owner_id == owner_id)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(StrategyRow.name.ilike(pattern), StrategyRow.description.ilike(pattern)))
    if tag:
        query = query.where(StrategyRow.tags.contains([tag]))
    if archived is not None:
        query = query.where(StrategyRow.archived.is_(archived))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(SORTS[sort], StrategyRow.id).limit(limit).offset(offset)).all()
    return list(rows), total


def add(session: Session, row: Any) -> None:
    session.add(row)
    session.flush()


def latest_version(session: Session, strategy_id: uuid.UUID) -> VersionRow | None:
    return session.scalar(
        select(VersionRow).where(VersionRow.strategy_id == strategy_id).order_by(VersionRow.number.desc()).limit(1)
    )


def latest_versions(session: Session, strategies: list[StrategyRow]) -> dict[uuid.UUID, VersionRow]:
    keys = [(s.id, s.version_count) for s in strategies if s.version_count]
    if not keys:
        return {}
    rows = session.scalars(select(VersionRow).where(tuple_(VersionRow.strategy_id, VersionRow.number).in_(keys)))
    return {r.strategy_id: r for r in rows}


def version_by_number(session: Session, strategy_id: uuid.UUID, number: int) -> VersionRow | None:
    return session.scalar(select(VersionRow).where(VersionRow.strategy_id == strategy_id, VersionRow.number == number))


def owned_version(session: Session, owner_id: uuid.UUID, version_id: uuid.UUID) -> VersionRow | None:
    return session.scalar(
        select(VersionRow)
        .join(StrategyRow, StrategyRow.id == VersionRow.strategy_id)
        .where(VersionRow.id == version_id, StrategyRow.owner_id == owner_id)
    )


def list_versions(session: Session, strategy_id: uuid.UUID, limit: int, offset: int) -> tuple[list[VersionRow], int]:
    total = session.scalar(select(func.count()).where(VersionRow.strategy_id == strategy_id)) or 0
    rows = session.scalars(
        select(VersionRow)
        .where(VersionRow.strategy_id == strategy_id)
        .order_by(VersionRow.number.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def add_reference(session: Session, version_id: uuid.UUID, ref: str) -> None:
    if session.get(ReferenceRow, (version_id, ref)) is None:
        add(session, ReferenceRow(version_id=version_id, ref=ref))


def reference_count(session: Session, strategy_id: uuid.UUID) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(ReferenceRow)
            .join(VersionRow, VersionRow.id == ReferenceRow.version_id)
            .where(VersionRow.strategy_id == strategy_id)
        )
        or 0
    )


def delete_strategy(session: Session, row: StrategyRow) -> None:
    session.delete(row)
    session.flush()


# --- operations figures (monitoring) --------------------------------------------------------------------


def strategy_counts(session: Session) -> tuple[int, int, int]:
    """(strategies, archived strategies, versions) across every owner."""
    strategies, archived = session.execute(
        select(func.count(), func.count().filter(StrategyRow.archived.is_(True)))
    ).one()
    versions = session.execute(select(func.count()).select_from(VersionRow)).scalar_one()
    return int(strategies), int(archived), int(versions)


def template_origins(session: Session) -> dict[str, int]:
    """Strategies whose first version was copied from a template, by template name."""
    name = VersionRow.meta["template"].astext
    stmt = (
        select(name, func.count())
        .where(VersionRow.number == 1, VersionRow.meta["origin"].astext == "template")
        .group_by(name)
    )
    return {str(template): int(count) for template, count in session.execute(stmt).all()}
