"""Helpers shared by the use cases: the caller's own strategies and versions, rows → schemas."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from platform_core.errors import NotFound
from strategy_management import repository as repo
from strategy_management.schemas import ParamSchema, StrategyRead, VersionRead, VersionSummary
from user_auth.principal import Principal

NOT_FOUND = "strategy not found"


def owned(session: Session, principal: Principal, strategy_id: uuid.UUID, *, lock: bool = False) -> repo.StrategyRow:
    """One of the caller's strategies; another owner's is NOT_FOUND exactly like a missing one."""
    row = repo.get_strategy(session, principal.user_id, strategy_id, lock=lock)
    if row is None:
        raise NotFound(NOT_FOUND, details={"strategy_id": str(strategy_id)})
    return row


def version_of(session: Session, strategy: repo.StrategyRow, number: int | None) -> repo.VersionRow:
    """Version `number` of `strategy` (the latest when None), NOT_FOUND otherwise."""
    version = (
        repo.latest_version(session, strategy.id)
        if number is None
        else repo.version_by_number(session, strategy.id, number)
    )
    if version is None:
        raise NotFound("version not found", details={"strategy_id": str(strategy.id), "version": number})
    return version


def summary(version: repo.VersionRow | None) -> VersionSummary | None:
    if version is None:
        return None
    return VersionSummary(
        id=version.id,
        number=version.number,
        content_hash=version.content_hash,
        message=str(version.meta.get("message", "")),
        created_at=version.created_at,
    )


def strategy_read(row: repo.StrategyRow, latest: repo.VersionRow | None) -> StrategyRead:
    return StrategyRead(
        id=row.id,
        name=row.name,
        description=row.description,
        tags=list(row.tags),
        archived=row.archived,
        version_count=row.version_count,
        latest_version=summary(latest),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def version_read(version: repo.VersionRow, strategy: repo.StrategyRow) -> VersionRead:
    return VersionRead(
        id=version.id,
        strategy_id=version.strategy_id,
        strategy_name=strategy.name,
        number=version.number,
        source=version.source,
        params_schema=[ParamSchema(**p) for p in version.params_schema],
        metadata=dict(version.meta),
        content_hash=version.content_hash,
        created_at=version.created_at,
    )
