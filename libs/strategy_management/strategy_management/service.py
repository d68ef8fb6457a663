"""Use cases of strategy_management: fn(session, principal, ...) -> schema. Flushes, never commits.

Published to other contexts (the backtest context calls these): `get_version`, `latest_version`,
`run_targets`, `validate_params`, `add_reference`, `template_source`, and the error `StrategyRuntimeError`.
Another owner's strategy or version is NOT_FOUND, exactly like a missing one.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from platform_core.errors import Conflict, InvalidInput, NotFound
from platform_core.ids import utcnow
from platform_core.pagination import Page, PageParams
from quant import templates
from quant.templates import TemplateInfo
from strategy_management import config, domain
from strategy_management import repository as repo
from strategy_management.execution import check_source, describe, run_targets
from strategy_management.runner import StrategyRuntimeError
from strategy_management.schemas import (
    FromTemplate,
    ImportRequest,
    ParamSchema,
    SortKey,
    StrategyCreate,
    StrategyExport,
    StrategyRead,
    StrategyUpdate,
    TemplateRead,
    TemplateSummary,
    ValidationReport,
    VersionCreate,
    VersionDiff,
    VersionRead,
    VersionSummary,
)
from user_auth.principal import Principal

__all__ = [
    "StrategyRuntimeError",
    "add_reference",
    "get_version",
    "latest_version",
    "run_targets",
    "template_source",
    "validate_params",
]

_NOT_FOUND = "strategy not found"


# ---------------------------------------------------------------------------------------------------------
# reading


def _owned(session: Session, principal: Principal, strategy_id: uuid.UUID, *, lock: bool = False) -> repo.StrategyRow:
    row = repo.get_strategy(session, principal.user_id, strategy_id, lock=lock)
    if row is None:
        raise NotFound(_NOT_FOUND, details={"strategy_id": str(strategy_id)})
    return row


def _summary(version: repo.VersionRow | None) -> VersionSummary | None:
    if version is None:
        return None
    return VersionSummary(
        id=version.id,
        number=version.number,
        content_hash=version.content_hash,
        message=str(version.meta.get("message", "")),
        created_at=version.created_at,
    )


def _strategy_read(row: repo.StrategyRow, latest: repo.VersionRow | None) -> StrategyRead:
    return StrategyRead(
        id=row.id,
        name=row.name,
        description=row.description,
        tags=list(row.tags),
        archived=row.archived,
        version_count=row.version_count,
        latest_version=_summary(latest),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _version_read(version: repo.VersionRow, strategy: repo.StrategyRow) -> VersionRead:
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


def get_strategy(session: Session, principal: Principal, strategy_id: uuid.UUID) -> StrategyRead:
    """One of the caller's strategies."""
    row = _owned(session, principal, strategy_id)
    return _strategy_read(row, repo.latest_version(session, row.id))


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
    items = [_strategy_read(r, latest.get(r.id)) for r in rows]
    return Page[StrategyRead](items=items, total=total, limit=page.limit, offset=page.offset)


def _version_of(session: Session, strategy: repo.StrategyRow, number: int | None) -> repo.VersionRow:
    version = (
        repo.latest_version(session, strategy.id)
        if number is None
        else repo.version_by_number(session, strategy.id, number)
    )
    if version is None:
        raise NotFound("version not found", details={"strategy_id": str(strategy.id), "version": number})
    return version


def get_strategy_version(
    session: Session, principal: Principal, strategy_id: uuid.UUID, number: int | None = None
) -> VersionRead:
    """Version `number` of one of the caller's strategies (the latest when `number` is None)."""
    strategy = _owned(session, principal, strategy_id)
    return _version_read(_version_of(session, strategy, number), strategy)


def list_versions(
    session: Session, principal: Principal, strategy_id: uuid.UUID, page: PageParams
) -> Page[VersionSummary]:
    """Every version of a strategy, newest first."""
    strategy = _owned(session, principal, strategy_id)
    rows, total = repo.list_versions(session, strategy.id, page.limit, page.offset)
    return Page[VersionSummary](items=[_summary(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


def get_version(session: Session, principal: Principal, version_id: uuid.UUID) -> VersionRead:
    """Published: one exact version by id (NOT_FOUND for another owner's)."""
    version = repo.owned_version(session, principal.user_id, version_id)
    if version is None:
        raise NotFound("strategy version not found", details={"version_id": str(version_id)})
    return _version_read(version, _owned(session, principal, version.strategy_id))


def latest_version(session: Session, principal: Principal, strategy_id: uuid.UUID) -> VersionRead:
    """Published: the newest version of one of the caller's strategies."""
    return get_strategy_version(session, principal, strategy_id)


def diff_versions(
    session: Session, principal: Principal, strategy_id: uuid.UUID, from_number: int, to_number: int
) -> VersionDiff:
    """Unified source diff and parameter-schema changes between two versions."""
    strategy = _owned(session, principal, strategy_id)
    old, new = _version_of(session, strategy, from_number), _version_of(session, strategy, to_number)
    return VersionDiff(
        strategy_id=strategy.id,
        from_number=old.number,
        to_number=new.number,
        same_source=old.content_hash == new.content_hash,
        diff=domain.source_diff(old.source, new.source, f"v{old.number}", f"v{new.number}"),
        params=domain.params_diff(old.params_schema, new.params_schema),
    )


# ---------------------------------------------------------------------------------------------------------
# writing


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
    session: Session, strategy: repo.StrategyRow, source: str, message: str, origin: dict[str, Any]
) -> repo.VersionRow:
    tree = check_source(source)
    described = describe(source, tree)
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


def _create(
    session: Session,
    principal: Principal,
    *,
    name: str,
    description: str,
    tags: list[str],
    source: str,
    message: str,
    origin: dict[str, Any],
) -> StrategyRead:
    describe(source, check_source(source))  # refuse bad code before writing anything
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
    version = _new_version(session, row, source, message, origin)
    return _strategy_read(row, version)


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def create_strategy(session: Session, principal: Principal, body: StrategyCreate) -> StrategyRead:
    """A new strategy and its version 1 (checked statically and described in the confined runner)."""
    return _create(
        session,
        principal,
        name=body.name,
        description=body.description,
        tags=body.tags,
        source=body.source,
        message=body.message or "created",
        origin={"origin": "created"},
    )


def save_version(session: Session, principal: Principal, strategy_id: uuid.UUID, body: VersionCreate) -> VersionRead:
    """New source → the next immutable version; the same source as the latest version returns that version."""
    strategy = _owned(session, principal, strategy_id, lock=True)
    if strategy.archived:
        raise Conflict("the strategy is archived; restore it before saving", details={"field": "archived"})
    check_source(body.source)
    latest = repo.latest_version(session, strategy.id)
    if latest is not None and latest.content_hash == domain.content_hash(body.source):
        return _version_read(latest, strategy)
    version = _new_version(session, strategy, body.source, body.message, {"origin": "saved"})
    return _version_read(version, strategy)


def update_strategy(
    session: Session, principal: Principal, strategy_id: uuid.UUID, body: StrategyUpdate
) -> StrategyRead:
    """Rename, re-describe or re-tag (no new version: the code is unchanged)."""
    row = _owned(session, principal, strategy_id)
    if body.name is not None and body.name != row.name:
        _ensure_free_name(session, principal, body.name, current=row.id)
        row.name = body.name
    if body.description is not None:
        row.description = body.description
    if body.tags is not None:
        row.tags = _unique(body.tags)
    row.updated_at = utcnow()
    _flush_unique(session, row.name)
    return _strategy_read(row, repo.latest_version(session, row.id))


def set_archived(session: Session, principal: Principal, strategy_id: uuid.UUID, archived: bool) -> StrategyRead:
    """Archive (hide from the default listing, refuse new versions) or restore."""
    row = _owned(session, principal, strategy_id)
    row.archived = archived
    row.updated_at = utcnow()
    session.flush()
    return _strategy_read(row, repo.latest_version(session, row.id))


def delete_strategy(session: Session, principal: Principal, strategy_id: uuid.UUID) -> None:
    """Delete a strategy and its versions — CONFLICT while any run references one of its versions."""
    row = _owned(session, principal, strategy_id, lock=True)
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


# ---------------------------------------------------------------------------------------------------------
# parameters, validation


def validate_params(
    session: Session, principal: Principal, version_id: uuid.UUID, params: dict[str, Any] | None
) -> dict[str, Any]:
    """Published: `params` coerced against the version's schema with defaults filled in; INVALID_INPUT
    naming the parameter (`details.field = "params.<name>"`) otherwise."""
    version = get_version(session, principal, version_id)
    return _resolve_params(version, params)


def _resolve_params(version: VersionRead, params: dict[str, Any] | None) -> dict[str, Any]:
    schema = [p.model_dump() for p in version.params_schema]
    try:
        return domain.validate_params(schema, params)
    except domain.ParamValueError as exc:
        raise InvalidInput(f"parameter {exc.field}: {exc.message}", field=f"params.{exc.field}") from None


def validate_strategy(
    session: Session,
    principal: Principal,
    strategy_id: uuid.UUID,
    *,
    version: int | None = None,
    params: dict[str, Any] | None = None,
) -> ValidationReport:
    """Static check, parameter check and a dry run on sample bars inside the confined runner."""
    read = get_strategy_version(session, principal, strategy_id, version)
    check_source(read.source)
    resolved = _resolve_params(read, params)
    bars = domain.sample_bars()
    env = config.current()
    [targets] = run_targets(read.source, bars, [resolved], timeout_s=env.settings.strategy_validate_seconds)
    column = targets.columns[2]
    nonzero = targets.filter(targets[column].fill_null(0.0) != 0.0).height
    return ValidationReport(
        ok=True,
        version=read.number,
        content_hash=read.content_hash,
        params=resolved,
        sample_symbols=sorted(bars["symbol"].unique().to_list()),
        sample_bars=bars.height,
        target_rows=targets.height,
        target_column=column,
        nonzero_targets=nonzero,
        first_ts=targets["ts"].min() if targets.height else None,
        last_ts=targets["ts"].max() if targets.height else None,
    )


# ---------------------------------------------------------------------------------------------------------
# templates, export/import


def _template_summary(info: TemplateInfo) -> TemplateSummary:
    return TemplateSummary(
        name=info.name, title=info.title, doc=info.doc, params=[ParamSchema(**p) for p in info.params]
    )


def list_templates() -> list[TemplateSummary]:
    """The engine's built-in strategies with their docs and parameter schemas."""
    return [_template_summary(t) for t in templates.list_templates()]


def template_source(name: str) -> TemplateRead:
    """Published: one template with its source (NOT_FOUND for an unknown name)."""
    try:
        info = templates.get_template(name)
    except KeyError:
        available = sorted(templates.TEMPLATE_NAMES)
        raise NotFound(f"unknown template {name!r}", details={"template": name, "available": available}) from None
    return TemplateRead(**_template_summary(info).model_dump(), source=info.source)


def create_from_template(session: Session, principal: Principal, body: FromTemplate) -> StrategyRead:
    """Copy a template into a new strategy of the caller's (same runner path as any source)."""
    template = template_source(body.template)
    return _create(
        session,
        principal,
        name=body.name or template.name,
        description=body.description if body.description is not None else template.title,
        tags=body.tags,
        source=template.source,
        message=f"from template {template.name}",
        origin={"origin": "template", "template": template.name},
    )


def export_strategy(
    session: Session, principal: Principal, strategy_id: uuid.UUID, version: int | None = None
) -> StrategyExport:
    """The portable file of a strategy at one version (default latest)."""
    strategy = _owned(session, principal, strategy_id)
    row = _version_of(session, strategy, version)
    read = _version_read(row, strategy)
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


def import_strategy(session: Session, principal: Principal, body: ImportRequest) -> StrategyRead:
    """A new strategy from an export file; the source is re-checked and re-described, never trusted."""
    file = body.file
    if file.content_hash is not None and file.content_hash != domain.content_hash(file.source):
        raise InvalidInput("the file's content_hash does not match its source", field="file.content_hash")
    return _create(
        session,
        principal,
        name=body.name or file.name,
        description=file.description,
        tags=file.tags,
        source=file.source,
        message="imported",
        origin={"origin": "import", "imported_hash": domain.content_hash(file.source)},
    )
