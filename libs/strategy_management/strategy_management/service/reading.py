"""Reading the caller's strategies and their immutable versions: show, list, exact versions, diffs."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from platform_core.errors import NotFound
from platform_core.pagination import Page, PageParams
from strategy_management import domain
from strategy_management import repository as repo
from strategy_management.schemas import SortKey, StrategyCounts, StrategyRead, VersionDiff, VersionRead, VersionSummary
from strategy_management.service._common import owned, strategy_read, summary, version_of, version_read
from user_auth.principal import Principal


def get_strategy(session: Session, principal: Principal, strategy_id: uuid.UUID) -> StrategyRead:
    """One of the caller's strategies."""
    row = owned(session, principal, strategy_id)
    return strategy_read(row, repo.latest_version(session, row.id))


def list_strategies(
    session: Session,
    principal: Principal,
    page: PageParams,
    *,
    q: str | None = None,
    tag: str | None = None,
    archived: bool | None = False,
    sort: SortKey = "-updated_at",
) -> Page[StrategyRead]:
    """The caller's strategies: search in name/description, filter by tag and archived flag, sort, page."""
    rows, total = repo.list_strategies(
        session, principal.user_id, q=q, tag=tag, archived=archived, sort=sort, limit=page.limit, offset=page.offset
    )
    latest = repo.latest_versions(session, rows)
    items = [strategy_read(r, latest.get(r.id)) for r in rows]
    return Page[StrategyRead](items=items, total=total, limit=page.limit, offset=page.offset)


def get_strategy_version(
    session: Session, principal: Principal, strategy_id: uuid.UUID, number: int | None = None
) -> VersionRead:
    """Version `number` of one of the caller's strategies (the latest when `number` is None)."""
    strategy = owned(session, principal, strategy_id)
    return version_read(version_of(session, strategy, number), strategy)


def list_versions(
    session: Session, principal: Principal, strategy_id: uuid.UUID, page: PageParams
) -> Page[VersionSummary]:
    """Every version of a strategy, newest first."""
    strategy = owned(session, principal, strategy_id)
    rows, total = repo.list_versions(session, strategy.id, page.limit, page.offset)
    return Page[VersionSummary](items=[summary(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


def get_version(session: Session, principal: Principal, version_id: uuid.UUID) -> VersionRead:
    """Published: one exact version by id (NOT_FOUND for another owner's)."""
    version = repo.owned_version(session, principal.user_id, version_id)
    if version is None:
        raise NotFound("strategy version not found", details={"version_id": str(version_id)})
    return version_read(version, owned(session, principal, version.strategy_id))


def warm_reads(session: Session) -> None:
    """The statements of `get_version`, run for a version that does not exist (a worker parent prepares its
    work-horses with them: `job_orchestration.attempt.warm`)."""
    ghost = uuid.uuid4()
    repo.owned_version(session, ghost, ghost)
    repo.get_strategy(session, ghost, ghost)


def latest_version(session: Session, principal: Principal, strategy_id: uuid.UUID) -> VersionRead:
    """Published: the newest version of one of the caller's strategies."""
    return get_strategy_version(session, principal, strategy_id)


def diff_versions(
    session: Session, principal: Principal, strategy_id: uuid.UUID, from_number: int, to_number: int
) -> VersionDiff:
    """Unified source diff and parameter-schema changes between two versions."""
    strategy = owned(session, principal, strategy_id)
    old, new = version_of(session, strategy, from_number), version_of(session, strategy, to_number)
    return VersionDiff(
        strategy_id=strategy.id,
        from_number=old.number,
        to_number=new.number,
        same_source=old.content_hash == new.content_hash,
        diff=domain.source_diff(old.source, new.source, f"v{old.number}", f"v{new.number}"),
        params=domain.params_diff(old.params_schema, new.params_schema),
    )


def strategy_counts(session: Session) -> StrategyCounts:
    """Published (monitoring): strategies, archived ones and versions across every owner, and how many
    strategies were copied from each template (the template usage rate = template copies / strategies)."""
    strategies, archived, versions = repo.strategy_counts(session)
    usage = repo.template_origins(session)
    from_template = sum(usage.values())
    return StrategyCounts(
        strategies=strategies,
        archived=archived,
        versions=versions,
        from_template=from_template,
        template_usage=dict(sorted(usage.items())),
        template_usage_rate=round(from_template / strategies, 4) if strategies else None,
    )
