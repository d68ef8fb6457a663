"""HTTP face of strategy_management: `/api/strategies` and `/api/templates`. Every route needs a signed-in
caller and is one service call; another owner's strategy is 404 like a missing one."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from platform_core.edge import INT32_MAX
from platform_core.http import SessionDep, error_responses
from platform_core.pagination import Page, PageDep
from strategy_management import service
from strategy_management.config import StrategyEnv, env_of
from strategy_management.schemas import (
    FromTemplate,
    ImportRequest,
    SortKey,
    StrategyCreate,
    StrategyExport,
    StrategyRead,
    StrategyUpdate,
    TemplateRead,
    TemplateSummary,
    ValidateRequest,
    ValidationReport,
    VersionCreate,
    VersionDiff,
    VersionRead,
    VersionSummary,
)
from user_auth.deps import CurrentPrincipal

router = APIRouter(tags=["strategies"], responses=error_responses(401, 422))
_404 = error_responses(404)


async def _env(request: Request) -> StrategyEnv:  # pure: no thread hop
    return env_of(request.app.state.container)


EnvDep = Annotated[StrategyEnv, Depends(_env)]


@router.get("/strategies", summary="List strategies")
def list_strategies(
    principal: CurrentPrincipal,
    session: SessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=100, description="Part of the name or description.")] = None,
    tag: Annotated[str | None, Query(max_length=40, description="Only strategies with this tag.")] = None,
    archived: Annotated[bool | None, Query(description="true: archived only; omit: active only.")] = False,
    include_all: Annotated[bool, Query(alias="all", description="Active and archived together.")] = False,
    sort: Annotated[SortKey, Query(description="Sort key; `-` for descending.")] = "-updated_at",
) -> Page[StrategyRead]:
    """The caller's strategies with search, tag filter, sort and paging (archived ones hidden by default)."""
    return service.list_strategies(
        session, principal, page, q=q, tag=tag, archived=None if include_all else archived, sort=sort
    )


@router.post("/strategies", status_code=201, summary="Create a strategy", responses=error_responses(409, 413, 429))
def create_strategy(
    body: StrategyCreate, principal: CurrentPrincipal, session: SessionDep, env: EnvDep
) -> StrategyRead:
    """A new strategy with version 1. The source is checked (syntax, allow-list) and its parameter schema is
    read by running the module in the confined runner; errors name the line and column. 429 RATE_LIMITED
    (with `Retry-After`) when the caller or this server already runs as many strategies as allowed."""
    return service.create_strategy(session, env, principal, body)


@router.post(
    "/strategies/from-template",
    status_code=201,
    summary="Create from a template",
    responses=error_responses(404, 409, 429),
)
def create_from_template(
    body: FromTemplate, principal: CurrentPrincipal, session: SessionDep, env: EnvDep
) -> StrategyRead:
    """Copy one of the built-in templates into a new strategy of the caller's."""
    return service.create_from_template(session, env, principal, body)


@router.post(
    "/strategies/import", status_code=201, summary="Import a strategy file", responses=error_responses(409, 413, 429)
)
def import_strategy(body: ImportRequest, principal: CurrentPrincipal, session: SessionDep, env: EnvDep) -> StrategyRead:
    """Create a strategy from an export file (source re-checked; `name` overrides the file's name)."""
    return service.import_strategy(session, env, principal, body)


@router.get("/strategies/{strategy_id:uuid}", summary="Show a strategy", responses=_404)
def get_strategy(strategy_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep) -> StrategyRead:
    """One strategy with a summary of its latest version."""
    return service.get_strategy(session, principal, strategy_id)


@router.patch("/strategies/{strategy_id:uuid}", summary="Rename / describe / tag", responses=error_responses(404, 409))
def update_strategy(
    strategy_id: uuid.UUID, body: StrategyUpdate, principal: CurrentPrincipal, session: SessionDep
) -> StrategyRead:
    """Change name, description or tags (the code, and so the versions, stay as they are)."""
    return service.update_strategy(session, principal, strategy_id, body)


@router.post("/strategies/{strategy_id}/archive", summary="Archive", responses=_404)
def archive(strategy_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep) -> StrategyRead:
    """Hide from the default listing and refuse new versions."""
    return service.set_archived(session, principal, strategy_id, True)


@router.post("/strategies/{strategy_id}/restore", summary="Restore", responses=_404)
def restore(strategy_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep) -> StrategyRead:
    """Undo an archive."""
    return service.set_archived(session, principal, strategy_id, False)


@router.delete("/strategies/{strategy_id:uuid}", status_code=204, summary="Delete", responses=error_responses(404, 409))
def delete_strategy(strategy_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep) -> Response:
    """Delete a strategy and its versions; 409 CONFLICT while a run references one of its versions."""
    service.delete_strategy(session, principal, strategy_id)
    return Response(status_code=204)


@router.get("/strategies/{strategy_id}/versions", summary="List versions", responses=_404)
def list_versions(
    strategy_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep, page: PageDep
) -> Page[VersionSummary]:
    """Every immutable version, newest first."""
    return service.list_versions(session, principal, strategy_id, page)


@router.post(
    "/strategies/{strategy_id}/versions",
    status_code=201,
    summary="Save new source",
    responses=error_responses(404, 409, 413, 429),
)
def save_version(
    strategy_id: uuid.UUID, body: VersionCreate, principal: CurrentPrincipal, session: SessionDep, env: EnvDep
) -> VersionRead:
    """Save source as the next immutable version (unchanged source returns the latest version)."""
    return service.save_version(session, env, principal, strategy_id, body)


@router.get("/strategies/{strategy_id}/versions/latest", summary="Latest version", responses=_404)
def latest_version(strategy_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep) -> VersionRead:
    """The newest version with its source and parameter schema."""
    return service.get_strategy_version(session, principal, strategy_id)


@router.get("/strategies/{strategy_id}/versions/{number}", summary="Show a version", responses=_404)
def get_version(
    strategy_id: uuid.UUID,
    number: Annotated[int, Path(ge=1, le=INT32_MAX)],
    principal: CurrentPrincipal,
    session: SessionDep,
) -> VersionRead:
    """One version by number, with its exact source, parameter schema, metadata and content hash."""
    return service.get_strategy_version(session, principal, strategy_id, number)


@router.get("/strategies/{strategy_id}/diff", summary="Diff two versions", responses=_404)
def diff_versions(
    strategy_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    from_number: Annotated[int, Query(alias="from", ge=1, le=INT32_MAX)],
    to_number: Annotated[int, Query(alias="to", ge=1, le=INT32_MAX)],
) -> VersionDiff:
    """Unified source diff and parameter changes between versions `from` and `to`."""
    return service.diff_versions(session, principal, strategy_id, from_number, to_number)


@router.post("/strategies/{strategy_id}/validate", summary="Validate (dry run)", responses=error_responses(404, 429))
def validate(
    strategy_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    env: EnvDep,
    body: ValidateRequest | None = None,
) -> ValidationReport:
    """Static check, parameter check and a dry run on sample bars in the confined runner. A failing run is
    422 INVALID_INPUT with `details.kind` (error/forbidden/timeout/memory) and the user's own traceback."""
    body = body or ValidateRequest()
    return service.validate_strategy(session, env, principal, strategy_id, version=body.version, params=body.params)


@router.get("/strategies/{strategy_id}/export", summary="Export", responses=_404)
def export_strategy(
    strategy_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    response: Response,
    version: Annotated[int | None, Query(ge=1, le=INT32_MAX, description="Default: the latest version.")] = None,
) -> StrategyExport:
    """The strategy as a portable JSON file (source, parameter schema, metadata, content hash)."""
    exported = service.export_strategy(session, principal, strategy_id, version)
    filename = quote(f"{exported.name}.v{exported.version}.strategy.json")
    response.headers["Content-Disposition"] = f"attachment; filename=\"strategy.json\"; filename*=UTF-8''{filename}"
    return exported


@router.get("/templates", tags=["templates"], summary="List templates")
def list_templates(principal: CurrentPrincipal) -> list[TemplateSummary]:
    """The engine's built-in strategies with their docs and parameter schemas."""
    return service.list_templates()


@router.get("/templates/{name}", tags=["templates"], summary="Show a template", responses=_404)
def get_template(name: str, principal: CurrentPrincipal) -> TemplateRead:
    """One template with its source."""
    return service.template_source(name)
