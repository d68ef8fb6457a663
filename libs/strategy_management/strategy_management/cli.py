"""`huice strategy ...`: the same use cases as `/api/strategies` and `/api/templates`, each with `--json`.

Commands act as the signed-in user (`huice auth login` or `HUICE_API_KEY`) through the API client
(`platform_core.cli.client`: in-process, or the server of `HUICE_API_URL`). Source files are read here, on
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

from platform_core.cli import (
    AppTyper,
    JsonOpt,
    client,
    emit,
    parse_model,
    parse_params,
    print_json,
    read_text,
    to_jsonable,
)
from platform_core.errors import InvalidInput
from strategy_management.schemas import (
    FromTemplate,
    ImportRequest,
    StrategyCreate,
    StrategyUpdate,
    VersionCreate,
)

app = AppTyper(help="Strategies: immutable versions, templates, validation (dry run), export/import.")

IdArg = Annotated[uuid.UUID, typer.Argument(help="Strategy id.")]
FileOpt = Annotated[str, typer.Option("--file", "-f", help="Source file (`-` for stdin).")]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", help="Tag (repeatable).")]
_LIST_COLUMNS = ["id", "name", "tags", "archived", "version_count", "updated_at"]


def _read(path: str) -> str:
    return read_text(path, option="--file")


def _model(cls: type[BaseModel], **values: Any) -> Any:
    return parse_model(cls, values)


def _body(model: BaseModel) -> dict[str, Any]:
    """A validated request model as the JSON the route takes."""
    return model.model_dump(mode="json")


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
    page = client(ctx).strategies(q, tag, archived, include_all, sort, limit, offset)
    emit(page, as_json, columns=_LIST_COLUMNS)


@app.command("show")
def show(ctx: typer.Context, strategy_id: IdArg, as_json: JsonOpt = False) -> None:
    """Show a strategy and its latest version summary."""
    emit(client(ctx).strategy(str(strategy_id)), as_json)


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
    emit(client(ctx).create_strategy(_body(body)), as_json)


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
    emit(client(ctx).strategy_from_template(_body(body)), as_json)


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
    emit(client(ctx).update_strategy(str(strategy_id), _body(body)), as_json)


@app.command("archive")
def archive(ctx: typer.Context, strategy_id: IdArg, as_json: JsonOpt = False) -> None:
    """Archive a strategy (hidden from `list`, no new versions)."""
    emit(client(ctx).archive_strategy(str(strategy_id)), as_json)


@app.command("restore")
def restore(ctx: typer.Context, strategy_id: IdArg, as_json: JsonOpt = False) -> None:
    """Restore an archived strategy."""
    emit(client(ctx).restore_strategy(str(strategy_id)), as_json)


@app.command("delete")
def delete(ctx: typer.Context, strategy_id: IdArg, as_json: JsonOpt = False) -> None:
    """Delete a strategy and its versions (refused while a run references it)."""
    client(ctx).delete_strategy(str(strategy_id))
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
    page = client(ctx).strategy_versions(str(strategy_id), limit, offset)
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
    read = client(ctx).version(str(strategy_id), number)
    if source and not as_json:
        sys.stdout.write(read["source"])
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
    emit(client(ctx).save_version(str(strategy_id), body.source, body.message), as_json)


@app.command("diff")
def diff(
    ctx: typer.Context,
    strategy_id: IdArg,
    from_number: Annotated[int, typer.Argument(min=1, help="Older version.")],
    to_number: Annotated[int, typer.Argument(min=1, help="Newer version.")],
    as_json: JsonOpt = False,
) -> None:
    """Diff two versions (source and parameter schema)."""
    result = client(ctx).diff_versions(str(strategy_id), from_number, to_number)
    if as_json:
        print_json(result)
        return
    sys.stdout.write("\n".join(result["diff"]) + ("\n" if result["diff"] else "(same source)\n"))
    if any(result["params"].values()):
        sys.stdout.write("params: " + json.dumps(result["params"], ensure_ascii=False) + "\n")


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
    emit(client(ctx).validate_strategy(str(strategy_id), version_number, params), as_json)


@app.command("export")
def export(
    ctx: typer.Context,
    strategy_id: IdArg,
    version_number: Annotated[int | None, typer.Option("--version", min=1, help="Default: latest.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the file here (default: stdout).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Export a strategy (source + schema + metadata) as a JSON file."""
    exported = client(ctx).export_strategy(str(strategy_id), version_number)
    if out is None:
        print_json(exported)
        return
    out.write_text(json.dumps(to_jsonable(exported), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    emit(
        {
            "written": str(out),
            "name": exported["name"],
            "version": exported["version"],
            "content_hash": exported["content_hash"],
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
    emit(client(ctx).import_strategy(data, body.name), as_json)


@app.command("templates")
def templates(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the built-in templates."""
    emit(client(ctx).templates(), as_json, columns=["name", "title"])


@app.command("template")
def template(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Template name.")],
    source: Annotated[bool, typer.Option("--source", help="Print only the source code.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show one template: doc, parameter schema and source."""
    read = client(ctx).template(name)
    if source and not as_json:
        sys.stdout.write(read["source"])
        return
    emit(read, as_json)
