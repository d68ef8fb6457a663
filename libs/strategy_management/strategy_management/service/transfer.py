"""Strategies as portable files: export one version, import a file as a new strategy (never trusted)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from platform_core.errors import InvalidInput
from platform_core.ids import utcnow
from strategy_management import domain
from strategy_management.config import StrategyEnv
from strategy_management.schemas import ImportRequest, StrategyExport, StrategyRead
from strategy_management.service._common import owned, version_of, version_read
from strategy_management.service.authoring import new_strategy
from user_auth.principal import Principal


def export_strategy(
    session: Session, principal: Principal, strategy_id: uuid.UUID, version: int | None = None
) -> StrategyExport:
    """The portable file of a strategy at one version (default latest)."""
    strategy = owned(session, principal, strategy_id)
    read = version_read(version_of(session, strategy, version), strategy)
    return StrategyExport(
        name=strategy.name,
        description=strategy.description,
        tags=list(strategy.tags),
        source=read.source,
        params_schema=read.params_schema,
        metadata=read.metadata,
        content_hash=read.content_hash,
        version=read.number,
        exported_at=utcnow(),
    )


def import_strategy(session: Session, env: StrategyEnv, principal: Principal, body: ImportRequest) -> StrategyRead:
    """A new strategy from an export file; the source is re-checked and re-described, never trusted."""
    file = body.file
    if file.content_hash is not None and file.content_hash != domain.content_hash(file.source):
        raise InvalidInput("the file's content_hash does not match its source", field="file.content_hash")
    return new_strategy(
        session,
        env,
        principal,
        name=body.name or file.name,
        description=file.description,
        tags=file.tags,
        source=file.source,
        message="imported",
        origin={"origin": "import", "imported_hash": domain.content_hash(file.source)},
    )
