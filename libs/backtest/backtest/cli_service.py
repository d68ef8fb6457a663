"""The service commands of `huice backtest`: the whole loop from the terminal, over the same service calls as
the API, acting as the logged-in user (`huice auth login` or `HUICE_API_KEY`). Every command has `--json`;
errors print the envelope on stderr and exit non-zero."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from backtest.domain import SUMMARY_METRICS
from platform_core.cli import AppTyper, JsonOpt, container, emit, parse_model, parse_params, print_json
from platform_core.errors import AppError, ErrorCode, InvalidInput

if TYPE_CHECKING:
    from types import ModuleType

    from backtest.schemas import RunRead

RUN_COLUMNS = ["run_id", "backtest_id", "status", "progress", "params", "queue_wait_s", "attempts", "created_at"]
BACKTEST_COLUMNS = ["id", "strategy", "context", "created_at"]
TERMINAL = {"succeeded", "failed", "cancelled", "early_stopped"}

ParamOpt = Annotated[list[str], typer.Option("--param", help="Parameter k=v (repeatable; JSON values allowed).")]
KeyOpt = Annotated[str | None, typer.Option("--idempotency-key", help="Repeat-safe submission key (24 h).")]
WaitOpt = Annotated[bool, typer.Option("--wait", help="Follow progress until the run ends, then show metrics.")]


def _service() -> ModuleType:
    """The backtest service, imported on first use: `huice backtest local` (the engine alone) never needs
    the database layer, and importing it would triple the command's start-up time."""
    from backtest import service

    return service


def _principal(ctx: typer.Context) -> Any:
    from user_auth.cli_session import cli_principal

    return cli_principal(ctx)


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(f"{field} must be a UUID, got {value!r}", field=field) from None


def _call(ctx: typer.Context, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """One service call as the CLI user, in one unit of work."""
    principal = _principal(ctx)
    with container(ctx).db.transaction() as session:
        return fn(session, principal, *args, **kwargs)


def _call_env(ctx: typer.Context, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """One service call that needs the context's env, as the CLI user, in one unit of work."""
    from backtest.config import env_of

    principal = _principal(ctx)
    c = container(ctx)
    with c.db.transaction() as session:
        return fn(session, env_of(c), principal, *args, **kwargs)


def _run_read(ctx: typer.Context, run_id: uuid.UUID) -> RunRead:
    return _call(ctx, _service().get_run, run_id)


def _follow(ctx: typer.Context, run_id: uuid.UUID, quiet: bool) -> RunRead:
    """Poll the run until it ends, drawing a live progress bar unless `quiet`."""
    if quiet:
        while (run := _run_read(ctx, run_id)).status not in TERMINAL:
            time.sleep(0.3)
        return run
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[message]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(f"run {str(run_id)[:8]}", total=100, message="queued")
        while True:
            run = _run_read(ctx, run_id)
            bar.update(task, completed=run.progress, message=f"{run.status} {run.progress_message}".strip())
            if run.status in TERMINAL:
                return run
            time.sleep(0.3)


def _metrics_table(run: RunRead) -> None:
    stats = run.stats or {}
    rows = [{"metric": key, "value": stats[key]} for key in SUMMARY_METRICS if key in stats]
    emit(rows, False, columns=["metric", "value"], title=f"run {run.run_id} {run.status}")
    sys.stdout.write(run.disclaimer + "\n")


def _finish(run: RunRead, as_json: bool) -> None:
    """Print the run (JSON) or its metrics; a failed or cancelled run exits non-zero with its envelope."""
    if as_json:
        print_json(run)
    elif run.status == "succeeded":
        _metrics_table(run)
    if run.status == "failed" and run.error is not None:
        error = AppError(run.error.message, details=run.error.details, code=ErrorCode(run.error.code))
        sys.stderr.write(json.dumps(error.envelope(), ensure_ascii=False, default=str) + "\n")
        raise typer.Exit(error.exit_code)
    if run.status != "succeeded":
        sys.stderr.write(f"run {run.run_id} ended {run.status}\n")
        raise typer.Exit(1)


def _show_run(ctx: typer.Context, run_id: uuid.UUID, wait: bool, as_json: bool) -> None:
    if wait:
        _finish(_follow(ctx, run_id, quiet=as_json), as_json)
    else:
        emit(_run_read(ctx, run_id), as_json, columns=RUN_COLUMNS)


def create(
    ctx: typer.Context,
    symbols: Annotated[
        str, typer.Option("--symbols", help="Universe: comma-separated codes, e.g. 600000.SH,000001.SZ")
    ],
    start: Annotated[str, typer.Option(help="Window start (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option(help="Window end (YYYY-MM-DD).")],
    template: Annotated[str | None, typer.Option(help="Built-in template (copied into a new strategy).")] = None,
    strategy_id: Annotated[str | None, typer.Option(help="A strategy of yours (its latest version).")] = None,
    version_id: Annotated[str | None, typer.Option(help="An exact strategy version.")] = None,
    param: ParamOpt = [],  # noqa: B006
    freq: Annotated[str, typer.Option(help="1d | 5min | 15min")] = "1d",
    snapshot: Annotated[str | None, typer.Option(help="Data snapshot id to pin (default: newest).")] = None,
    adjust: Annotated[str, typer.Option(help="none | qfq | hfq")] = "qfq",
    cash: Annotated[float, typer.Option(help="Initial cash (CNY).")] = 1_000_000.0,
    benchmark: Annotated[str | None, typer.Option(help="Benchmark index, e.g. 000300.SH.")] = None,
    preset: Annotated[str, typer.Option(help="a-share | plain")] = "a-share",
    fill: Annotated[str, typer.Option(help="next_open | next_close | same_close")] = "next_open",
    rule: Annotated[
        list[str],
        typer.Option(
            "--rule",
            help="Rule override k=v: commission_rate, min_commission, "
            "slippage_bps, limit_policy, volume_cap (repeatable).",
        ),
    ] = [],  # noqa: B006
    notes: Annotated[str, typer.Option(help="Free text.")] = "",
    idempotency_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a backtest: a strategy (template, strategy or version) on a universe and window."""
    from backtest.schemas import BacktestCreate

    ref = {"template": template, "strategy_id": strategy_id, "version_id": version_id, "params": parse_params(param)}
    body = parse_model(
        BacktestCreate,
        {
            "strategy_ref": {k: v for k, v in ref.items() if v is not None},
            "context": {
                "universe": [s for s in symbols.split(",") if s.strip()],
                "frequency": freq,
                "window": {"start": start, "end": end},
                "datasource_version": snapshot,
                "adjust": adjust,
                "initial_cash": cash,
                "benchmark": benchmark,
                "rules": {"preset": preset, "fill": fill, **parse_params(rule)},
            },
            "notes": notes,
        },
    )
    created = _call_env(ctx, _service().create_backtest, body, idempotency_key=idempotency_key)
    emit(created if as_json else created.backtest, as_json, columns=BACKTEST_COLUMNS)


def run(
    ctx: typer.Context,
    backtest_id: Annotated[str, typer.Argument(help="The backtest to run.")],
    param: ParamOpt = [],  # noqa: B006
    priority: Annotated[str | None, typer.Option(help="high | default | low, or 1-9.")] = None,
    budget_ms: Annotated[int | None, typer.Option(help="Wall budget in milliseconds.")] = None,
    wait: WaitOpt = False,
    idempotency_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a run of a backtest; with --wait follow its progress and print its metrics."""
    from backtest.schemas import RunCreate

    level: Any = int(priority) if priority and priority.isdigit() else priority
    body = parse_model(
        RunCreate, {"mode": "single", "params": parse_params(param), "budget_ms": budget_ms, "priority": level}
    )
    ids = _call_env(
        ctx, _service().submit_runs, _uuid(backtest_id, "backtest_id"), body, idempotency_key=idempotency_key
    )
    _submitted(ctx, ids, wait, as_json)


def status(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run.")],
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Status, progress, attempts, queue wait and (once done) the metrics of a run."""
    _show_run(ctx, _uuid(run_id, "run_id"), wait, as_json)


def list_(
    ctx: typer.Context,
    runs: Annotated[bool, typer.Option("--runs", help="List runs instead of backtests.")] = False,
    backtest: Annotated[str | None, typer.Option(help="Only the runs of this backtest.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Your backtests (or runs), newest first."""
    from platform_core.pagination import PageParams

    page = PageParams(limit=limit, offset=offset)
    if runs or backtest:
        bid = _uuid(backtest, "backtest") if backtest else None
        emit(_call(ctx, _service().list_runs, page, backtest_id=bid), as_json, columns=RUN_COLUMNS)
    else:
        emit(_call(ctx, _service().list_backtests, page), as_json, columns=BACKTEST_COLUMNS)


def cancel(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run.")],
    as_json: JsonOpt = False,
) -> None:
    """Cancel a run (repeating is harmless; a finished run is a conflict)."""
    rid = _uuid(run_id, "run_id")
    _call_env(ctx, _service().cancel_run, rid)
    emit({"run_id": rid, "cancel": "requested"}, as_json)


def rerun(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run to repeat.")],
    wait: WaitOpt = False,
    idempotency_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run again with the same version, params and data snapshot (identical results)."""
    ids = _call_env(ctx, _service().rerun, _uuid(run_id, "run_id"), idempotency_key=idempotency_key)
    _submitted(ctx, ids, wait, as_json)


def _submitted(ctx: typer.Context, ids: Any, wait: bool, as_json: bool) -> None:
    """The new run's ids, or with --wait its progress and then its metrics."""
    if wait:
        _show_run(ctx, ids.run_ids[0], True, as_json)
    else:
        emit(ids, as_json)


def artifacts(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run.")],
    kind: Annotated[str, typer.Argument(metavar="TYPE", help="equity | trades | orders | positions | fills | logs")],
    fmt: Annotated[str, typer.Option("--format", help="csv | json | parquet")] = "csv",
    out: Annotated[Path | None, typer.Option(help="Write to this file (default: stdout).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Download an artifact of a succeeded run in any format."""
    download = _call_env(ctx, _service().artifact, _uuid(run_id, "run_id"), kind, fmt)
    if out is None:
        sys.stdout.buffer.write(download.content)
        sys.stdout.flush()
        return
    out.write_bytes(download.content)
    emit({"path": out, "bytes": len(download.content), "format": fmt, "type": kind}, as_json)


def register(app: AppTyper) -> None:
    """Add the service commands to `huice backtest` (an `AppTyper`: errors render as the envelope)."""
    for name, fn in (
        ("create", create),
        ("run", run),
        ("status", status),
        ("list", list_),
        ("cancel", cancel),
        ("rerun", rerun),
        ("artifacts", artifacts),
    ):
        app.command(name)(fn)
