"""The root `huice` command: platform commands plus every context's sub-app."""

from __future__ import annotations

import sys
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

import huice
from huice.contexts import CONTEXTS
from platform_core.cli import AppTyper, CliRoot, JsonOpt, container, emit, fail
from platform_core.errors import AppError, InvalidInput
from platform_core.logging import configure_logging
from platform_core.settings import CoreSettings


class _ContextGroup(TyperGroup):
    """The root command group. A context's sub-app is imported when its name is invoked (or when the
    full command list is printed), so e.g. `huice backtest local` loads the engine, not every context."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return names + [s.cli_name for s in CONTEXTS if s.cli_name and s.cli_name not in names]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        spec = next((s for s in CONTEXTS if s.cli_name == cmd_name), None) if command is None else None
        sub = spec.cli() if spec is not None else None
        if sub is not None:
            command = typer.main.get_command(sub)
            command.name = cmd_name
            command.help = spec.cli_help or command.help
            # shell completion is installed from the root command, not from each context's
            command.params = [p for p in command.params if p.name not in ("install_completion", "show_completion")]
            self.commands[cmd_name] = command
        return command


app = AppTyper(
    name="huice",
    help="huice (回测) — A-share backtesting: server, workers and every context's commands.",
    cls=_ContextGroup,
)
db_app = AppTyper(help="Database migrations (alembic, every context's schema).")
app.add_typer(db_app, name="db")
demo_app = AppTyper(help="The demo account: a login with strategies and finished runs on the sample data.")
app.add_typer(demo_app, name="demo")


def _settings() -> CoreSettings:
    from pydantic import ValidationError

    try:
        return CoreSettings()
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise InvalidInput(f"configuration refused: {reasons} (`huice config` lists every variable)") from None
    except ValueError as exc:
        raise InvalidInput(f"configuration refused: {exc} (`huice config` lists every variable)") from None


ApiOpt = Annotated[
    str | None,
    typer.Option(
        "--api",
        envvar="HUICE_API_URL",
        help="A huice server (https://host): user commands call its REST API; default: in-process.",
    ),
]


@app.callback()
def _root(ctx: typer.Context, api: ApiOpt = None) -> None:
    """Configure logging, a lazily built composition root and the API client of the command."""
    if ctx.resilient_parsing:
        return
    from huice.transport import client_factory

    def build():
        from huice.bootstrap import build_container

        return build_container(_settings())

    try:
        settings = _settings()
    except InvalidInput as exc:
        fail(exc)  # before any command parsed its --json: fail() looks at the arguments
    long_running = ctx.invoked_subcommand in {"serve", "worker", "worker-process"}
    level = settings.log_level if long_running else "WARNING"
    configure_logging(level, "console" if sys.stderr.isatty() else settings.log_format)
    lazy = CliRoot(build, client_factory(api), remote=bool(api))
    ctx.obj = lazy
    ctx.call_on_close(lazy.close)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default HUICE_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default HUICE_API_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(help="RQ worker processes (default HUICE_WORKERS).")] = None,
    migrate: Annotated[bool, typer.Option(help="Migrate the database to head first.")] = True,
) -> None:
    """Start the API and supervised RQ workers (embedded PostgreSQL/Redis when no URL is configured)."""
    from huice.serve import run

    settings = _settings()
    raise typer.Exit(
        run(
            settings,
            api=True,
            workers=settings.workers if workers is None else workers,
            host=host,
            port=port,
            run_migrations=migrate,
        )
    )


@app.command()
def worker(
    processes: Annotated[int, typer.Option(min=1, max=64, help="Worker processes to supervise.")] = 1,
    migrate: Annotated[bool, typer.Option(help="Migrate the database to head first.")] = False,
) -> None:
    """Run supervised RQ worker processes only (for scale-out machines)."""
    from huice.serve import run

    raise typer.Exit(run(_settings(), api=False, workers=processes, run_migrations=migrate))


@app.command("worker-process", hidden=True)
def worker_process(
    burst: Annotated[bool, typer.Option(help="Exit when the queues are empty.")] = False,
) -> None:
    """One RQ worker process (what `serve` and `worker` supervise)."""
    from huice.worker import run_worker_process

    run_worker_process(burst=burst)


@app.command()
def doctor(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """A checklist (✓ / ⚠ / ✗ with the figure): PostgreSQL latency, Redis, migrations at head, live workers of
    the configured ones, the sandbox's layers on this kernel, the secret, the data provider (a probe call with
    a token), each maintenance schedule's next/last run, the data's freshness. Exit 1 when not ready."""
    from huice.health import doctor as report
    from huice.health import render_checklist

    result = report(container(ctx))
    if as_json:
        emit(result, as_json)
    else:
        print(render_checklist(result))
    if not result["ready"]:
        raise typer.Exit(1)


@app.command()
def version(as_json: JsonOpt = False) -> None:
    """Print the huice version."""
    emit({"version": huice.__version__}, as_json)


@app.command("config")
def config_cmd(
    as_json: JsonOpt = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the table as Markdown.")] = False,
) -> None:
    """Every environment variable huice reads, with its default and meaning."""
    from huice import configdoc

    if markdown:
        print(configdoc.markdown())
        return
    emit(configdoc.settings_table(), as_json)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, revision: str = "heads", as_json: JsonOpt = False) -> None:
    """Migrate the database up to REVISION (default: every head)."""
    from huice import migrate

    c = container(ctx)
    migrate.upgrade(c.servers.database_url, revision)
    emit(migrate.migration_state(c.db.engine, c.servers.database_url), as_json)


@db_app.command("downgrade")
def db_downgrade(ctx: typer.Context, revision: str, as_json: JsonOpt = False) -> None:
    """Migrate the database down to REVISION (`base` removes every table)."""
    from huice import migrate

    c = container(ctx)
    migrate.downgrade(c.servers.database_url, revision)
    emit(migrate.migration_state(c.db.engine, c.servers.database_url), as_json)


@db_app.command("current")
def db_current(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show the current and head revisions."""
    from huice import migrate

    c = container(ctx)
    emit(migrate.migration_state(c.db.engine, c.servers.database_url), as_json)


@db_app.command("revision")
def db_revision(
    ctx: typer.Context,
    message: Annotated[str, typer.Option("-m", "--message", help="What the revision does.")],
    head: Annotated[str | None, typer.Option(help="Branch head to build on, e.g. `user_auth@head`.")] = None,
    autogenerate: Annotated[bool, typer.Option(help="Diff the models against the database.")] = True,
) -> None:
    """Create a new alembic revision (autogenerated from the models by default)."""
    from huice import migrate

    c = container(ctx)
    migrate.revision(c.servers.database_url, message, autogenerate=autogenerate, head=head)


@demo_app.command("seed")
def demo_seed(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Seed even in production mode.")] = False,
    symbols: Annotated[
        str | None, typer.Option(help="Universe of the demo backtests (default: four sample symbols).")
    ] = None,
    start: Annotated[str | None, typer.Option(help="Window start, YYYY-MM-DD (default 2022-01-04).")] = None,
    end: Annotated[str | None, typer.Option(help="Window end, YYYY-MM-DD (default 2024-12-31).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create the demo user (password printed once), three strategies from templates and a finished run of
    each on the sample data (loaded if missing). Idempotent; refused in production unless --force."""
    from huice import demo

    say = (lambda _m: None) if as_json else (lambda message: sys.stderr.write(f"demo: {message}\n"))
    try:
        result = demo.seed(
            container(ctx),
            force=force,
            symbols=[x.strip() for x in symbols.split(",") if x.strip()] if symbols else None,
            window=demo.parse_window(start, end),
            progress=say,
        )
    except AppError as exc:
        fail(exc, as_json=as_json)
    if as_json:
        emit(result.__dict__, True)
        return
    emit(result.strategies, False, columns=["template", "backtest_id", "run_id", "status", "total_return"])
    if result.password is not None:
        print(
            f"demo login: {result.email} / {result.password}  (shown once; `huice auth login --email {result.email}`)"
        )
    else:
        print(f"demo login: {result.email} (already seeded; password as printed by the first seed)")


def main() -> None:
    app()
