"""`huice strategy ...`: the same use cases as `/api/strategies` and `/api/templates`, each with `--json`.

Commands act as the signed-in user (`huice auth login` or `HUICE_API_KEY`). Source files are read here, on
the caller's side; they are executed only in the confined runner.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from platform_core.cli import AppTyper, JsonOpt, container, emit, parse_model, parse_params, print_json, to_jsonable
from platform_core.errors import InvalidInput
from platform_core.pagination import PageParams
from strategy_management import service
from strategy_management.config import env_of
from strategy_management.schemas import (
    FromTemplate,
    ImportRequest,
    StrategyCreate,
    StrategyUpdate,
    VersionCreate,
)
from user_auth.cli_session import cli_principal

app = AppTyper(help="Strategies: immutable versions, templates, validation (dry run), export/import.")

IdArg = Annotated[uuid.UUID, typer.Argument(help="Strategy id.")]
FileOpt = Annotated[str, typer.Option("--file", "-f", help="Source file (`-` for stdin).")]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", help="Tag (repeatable).")]
_LIST_COLUMNS = ["id", "name", "tags", "archived", "version_count", "updated_at"]


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc.__class__.__name__}", field="--file") from None


def _model(cls: type[BaseModel], **values: Any) -> Any:
    return parse_model(cls, values)


def _call(ctx: typer.Context, fn: Any, *args: Any, **kwargs: Any) -> Any:
    principal = cli_principal(ctx)
    with container(ctx).db.transaction() as session:
        return fn(session, principal, *args, **kwargs)


def _call_with_env(ctx: typer.Context, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """`fn(session, env, principal, ...)` for the use cases that check, describe or run code."""
    principal = cli_principal(ctx)
    c = container(ctx)
    env = env_of(c)
    with c.db.transaction() as session:
        return fn(session, env, principal, *args, **kwargs)


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    q: Annotated[str | None, typer.Option(help="Part of the name or description.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only strategies with this tag.")] = None,
    archived: Annotated[bool, typer.Option("--archived", help="Archived strategies only.")] = False,
    include_all: Annotated[bool, typer.Option("--all", help="Active and archived.")] = False,
    sort: Annotated[str, typer.Option(help="name, created_at, updated_at; prefix - for descending.")] = "-updated_at",
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """List your strategies."""
    if sort not in ("name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"):
        raise InvalidInput(f"unknown sort {sort!r}", field="--sort")
    page = _call(
        ctx,
        service.list_strategies,
        PageParams(limit=limit, offset=offset),
        q=q,
        tag=tag,
        archived=None if include_all else archived,
        sort=sort,
    )
    emit(page, as_json, columns=_LIST_COLUMNS)


@app.command("show")
def show(ctx: typer.Context, strategy_id: IdArg, as_json: JsonOpt = False) -> None:
    """Show a strategy and its latest version summary."""
    emit(_call(ctx, service.get_strategy, strategy_id), as_json)


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Unique among your strategies.")],
    file: FileOpt,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    tag: TagOpt = None,
    message: Annotated[str, typer.Option(help="Note stored with version 1.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create a strategy from a source file (version 1)."""
    body = _model(
        StrategyCreate, name=name, description=description, tags=tag or [], source=_read(file), message=message
    )
    emit(_call_with_env(ctx, service.create_strategy, body), as_json)


@app.command("from-template")
def from_template(
    ctx: typer.Context,
    template: Annotated[str, typer.Argument(help="Template name (see `huice strategy templates`).")],
    name: Annotated[str | None, typer.Option(help="Default: the template's name.")] = None,
    description: Annotated[str | None, typer.Option(help="Default: the template's title.")] = None,
    tag: TagOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Copy a built-in template into a new strategy of yours."""
    body = _model(FromTemplate, template=template, name=name, description=description, tags=tag or [])
    emit(_call_with_env(ctx, service.create_from_template, body), as_json)


@app.command("update")
def update(
    ctx: typer.Context,
    strategy_id: IdArg,
    name: Annotated[str | None, typer.Option(help="New name (rename).")] = None,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    tag: TagOpt = None,
    clear_tags: Annotated[bool, typer.Option("--clear-tags", help="Remove every tag.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Rename, re-describe or re-tag a strategy."""
    tags = [] if clear_tags else tag
    body = _model(StrategyUpdate, name=name, description=description, tags=tags)
    emit(_call(ctx, service.update_strategy, strategy_id, body), as_json)


@app.command("archive")
def archive(ctx: typer.Context, strategy_id: IdArg, as_json: JsonOpt = False) -> None:
    """Archive a strategy (hidden from `list`, no new versions)."""
    emit(_call(ctx, service.set_archived, strategy_id, True), as_json)


@app.command("restore")
def restore(ctx: typer.Context, strategy_id: IdArg, as_json: JsonOpt = False) -> None:
    """Restore an archived strategy."""
    emit(_call(ctx, service.set_archived, strategy_id, False), as_json)


@app.command("delete")
def delete(ctx: typer.Context, strategy_id: IdArg, as_json: JsonOpt = False) -> None:
    """Delete a strategy and its versions (refused while a run references it)."""
    _call(ctx, service.delete_strategy, strategy_id)
    emit({"deleted": str(strategy_id)}, as_json)


@app.command("versions")
def versions(
    ctx: typer.Context,
    strategy_id: IdArg,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """List the versions of a strategy, newest first."""
    page = _call(ctx, service.list_versions, strategy_id, PageParams(limit=limit, offset=offset))
    emit(page, as_json, columns=["number", "id", "content_hash", "message", "created_at"])


@app.command("version")
def version(
    ctx: typer.Context,
    strategy_id: IdArg,
    number: Annotated[int | None, typer.Argument(help="Version number (default: latest).")] = None,
    source: Annotated[bool, typer.Option("--source", help="Print only the source code.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show one version (source, parameter schema, metadata, hash)."""
    read = _call(ctx, service.get_strategy_version, strategy_id, number)
    if source and not as_json:
        sys.stdout.write(read.source)
        return
    emit(read, as_json)


@app.command("save")
def save(
    ctx: typer.Context,
    strategy_id: IdArg,
    file: FileOpt,
    message: Annotated[str, typer.Option(help="Note stored with the version.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Save new source as the next immutable version."""
    body = _model(VersionCreate, source=_read(file), message=message)
    emit(_call_with_env(ctx, service.save_version, strategy_id, body), as_json)


@app.command("diff")
def diff(
    ctx: typer.Context,
    strategy_id: IdArg,
    from_number: Annotated[int, typer.Argument(min=1, help="Older version.")],
    to_number: Annotated[int, typer.Argument(min=1, help="Newer version.")],
    as_json: JsonOpt = False,
) -> None:
    """Diff two versions (source and parameter schema)."""
    result = _call(ctx, service.diff_versions, strategy_id, from_number, to_number)
    if as_json:
        print_json(result)
        return
    sys.stdout.write("\n".join(result.diff) + ("\n" if result.diff else "(same source)\n"))
    if any(result.params.values()):
        sys.stdout.write("params: " + json.dumps(result.params, ensure_ascii=False) + "\n")


@app.command("validate")
def validate(
    ctx: typer.Context,
    strategy_id: IdArg,
    version_number: Annotated[int | None, typer.Option("--version", min=1, help="Default: latest.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="name=value (repeatable).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Static check, parameter check and a dry run on sample bars in the confined runner."""
    params = parse_params(param or [])
    emit(_call_with_env(ctx, service.validate_strategy, strategy_id, version=version_number, params=params), as_json)


@app.command("export")
def export(
    ctx: typer.Context,
    strategy_id: IdArg,
    version_number: Annotated[int | None, typer.Option("--version", min=1, help="Default: latest.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the file here (default: stdout).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Export a strategy (source + schema + metadata) as a JSON file."""
    exported = _call(ctx, service.export_strategy, strategy_id, version_number)
    if out is None:
        print_json(exported)
        return
    out.write_text(json.dumps(to_jsonable(exported), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    emit(
        {
            "written": str(out),
            "name": exported.name,
            "version": exported.version,
            "content_hash": exported.content_hash,
        },
        as_json,
    )


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="An exported strategy file (`-` for stdin).")],
    name: Annotated[str | None, typer.Option(help="Import under this name instead.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a strategy file as a new strategy."""
    try:
        data = json.loads(_read(file))
    except ValueError:
        raise InvalidInput("the file is not JSON", field="file") from None
    body = _model(ImportRequest, file=data, name=name)
    emit(_call_with_env(ctx, service.import_strategy, body), as_json)


@app.command("templates")
def templates(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the built-in templates."""
    cli_principal(ctx)
    emit(service.list_templates(), as_json, columns=["name", "title"])


@app.command("template")
def template(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Template name.")],
    source: Annotated[bool, typer.Option("--source", help="Print only the source code.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show one template: doc, parameter schema and source."""
    cli_principal(ctx)
    read = service.template_source(name)
    if source and not as_json:
        sys.stdout.write(read.source)
        return
    emit(read, as_json)
