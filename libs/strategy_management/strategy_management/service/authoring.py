"""Writing the caller's strategies: create, save a version, rename/tag, archive, delete, references.

Every new version's source is checked statically and described in the confined runner before it is stored.
The run happens with no database connection checked out: a new strategy's source is described before the
session is first used; a new version reads the strategy (short), `release`s the session, runs, then writes
under a lock, re-checking what it read.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from platform_core.db import release
from platform_core.errors import Conflict, InvalidInput, NotFound
from platform_core.ids import utcnow
from strategy_management import domain
from strategy_management import repository as repo
from strategy_management.config import StrategyEnv
from strategy_management.schemas import StrategyCreate, StrategyRead, StrategyUpdate, VersionCreate, VersionRead
from strategy_management.service._common import owned, strategy_read, version_read
from strategy_management.service.execution import check_source, prepare_source
from user_auth.principal import Principal


def _flush_unique(session: Session, name: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"a strategy named {name!r} already exists", details={"field": "name"}) from None


def _ensure_free_name(session: Session, principal: Principal, name: str, *, current: uuid.UUID | None = None) -> None:
    existing = repo.strategy_by_name(session, principal.user_id, name)
    if existing is not None and existing.id != current:
        raise Conflict(f"a strategy named {name!r} already exists", details={"field": "name"})


def _new_version(
    session: Session,
    strategy: repo.StrategyRow,
    source: str,
    described: dict[str, Any],
    message: str,
    origin: dict[str, Any],
) -> repo.VersionRow:
    """The next version of `strategy` (locked by the caller) with `source` as `prepare_source` described it."""
    strategy.version_count += 1
    strategy.updated_at = utcnow()
    meta = {"message": message, "doc": described.get("doc", ""), "grid": bool(described.get("grid")), **origin}
    version = repo.VersionRow(
        strategy_id=strategy.id,
        number=strategy.version_count,
        source=source,
        params_schema=described.get("params", []),
        meta=meta,
        content_hash=domain.content_hash(source),
    )
    repo.add(session, version)
    return version


def new_strategy(
    session: Session,
    env: StrategyEnv,
    principal: Principal,
    *,
    name: str,
    description: str,
    tags: list[str],
    source: str,
    message: str,
    origin: dict[str, Any],
    described: dict[str, Any] | None = None,
) -> StrategyRead:
    """A new strategy with `source` as version 1 — the one path of create, from-template and import.
    The source is checked and described first (`described` when the caller already did), with the
    session released: refuse bad code before writing anything, hold no connection while it runs."""
    if described is None:
        release(session)
        described = prepare_source(env, principal, source)
    _ensure_free_name(session, principal, name)
    row = repo.StrategyRow(
        owner_id=principal.user_id,
        name=name,
        description=description,
        tags=_unique(tags),
        archived=False,
        version_count=0,
    )
    session.add(row)
    _flush_unique(session, name)
    version = _new_version(session, row, source, described, message, origin)
    return strategy_read(row, version)


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def create_strategy(
    session: Session, env: StrategyEnv, principal: Principal, body: StrategyCreate, *, described: dict | None = None
) -> StrategyRead:
    """A new strategy and its version 1 (checked statically and described in the confined runner;
    `described`: what `prepare_source` returned for `body.source` when the caller ran it already)."""
    return new_strategy(
        session,
        env,
        principal,
        name=body.name,
        description=body.description,
        tags=body.tags,
        source=body.source,
        message=body.message or "created",
        origin={"origin": "created"},
        described=described,
    )


def save_version(
    session: Session, env: StrategyEnv, principal: Principal, strategy_id: uuid.UUID, body: VersionCreate
) -> VersionRead:
    """New source → the next immutable version; the same source as the latest version returns that version.
    Read phase (ownership, archive, unchanged source), then the run with the session released, then the
    write under the strategy's lock with the same checks again (another save may have come in between)."""
    _, unchanged = _saveable(session, env, principal, strategy_id, body.source)
    if unchanged is not None:
        return unchanged
    release(session)
    described = prepare_source(env, principal, body.source)
    strategy, unchanged = _saveable(session, env, principal, strategy_id, body.source, lock=True)
    if unchanged is not None:
        return unchanged
    version = _new_version(session, strategy, body.source, described, body.message, {"origin": "saved"})
    return version_read(version, strategy)


def _saveable(
    session: Session, env: StrategyEnv, principal: Principal, strategy_id: uuid.UUID, source: str, *, lock: bool = False
) -> tuple[repo.StrategyRow, VersionRead | None]:
    """The strategy and its latest version when that already has `source` (None when a new version is
    due); NOT_FOUND, CONFLICT (archived) or INVALID_INPUT (static check) otherwise."""
    strategy = owned(session, principal, strategy_id, lock=lock)
    if strategy.archived:
        raise Conflict("the strategy is archived; restore it before saving", details={"field": "archived"})
    check_source(env, source)
    latest = repo.latest_version(session, strategy.id)
    if latest is not None and latest.content_hash == domain.content_hash(source):
        return strategy, version_read(latest, strategy)
    return strategy, None


def update_strategy(
    session: Session, principal: Principal, strategy_id: uuid.UUID, body: StrategyUpdate
) -> StrategyRead:
    """Rename, re-describe or re-tag (no new version: the code is unchanged)."""
    row = owned(session, principal, strategy_id)
    if body.name is not None and body.name != row.name:
        _ensure_free_name(session, principal, body.name, current=row.id)
        row.name = body.name
    if body.description is not None:
        row.description = body.description
    if body.tags is not None:
        row.tags = _unique(body.tags)
    row.updated_at = utcnow()
    _flush_unique(session, row.name)
    return strategy_read(row, repo.latest_version(session, row.id))


def set_archived(session: Session, principal: Principal, strategy_id: uuid.UUID, archived: bool) -> StrategyRead:
    """Archive (hide from the default listing, refuse new versions) or restore."""
    row = owned(session, principal, strategy_id)
    row.archived = archived
    row.updated_at = utcnow()
    session.flush()
    return strategy_read(row, repo.latest_version(session, row.id))


def delete_strategy(session: Session, principal: Principal, strategy_id: uuid.UUID) -> None:
    """Delete a strategy and its versions — CONFLICT while any run references one of its versions."""
    row = owned(session, principal, strategy_id, lock=True)
    refs = repo.reference_count(session, row.id)
    if refs:
        raise Conflict(
            f"the strategy is referenced by {refs} run(s); archive it instead",
            details={"strategy_id": str(row.id), "references": refs},
        )
    repo.delete_strategy(session, row)


def add_reference(session: Session, principal: Principal, version_id: uuid.UUID, ref: str) -> None:
    """Published: record that `ref` (e.g. `backtest:<run id>`) pins this version; blocks deleting it."""
    if not ref or len(ref) > 200:
        raise InvalidInput("a reference is 1..200 characters", field="ref")
    if repo.owned_version(session, principal.user_id, version_id) is None:
        raise NotFound("strategy version not found", details={"version_id": str(version_id)})
    repo.add_reference(session, version_id, ref)
