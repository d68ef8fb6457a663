"""`huice jobs`: list, show, cancel, retry and follow your jobs (through the API client: in-process or the
server of `HUICE_API_URL`); stats, reap and diagnostics for admins (operator commands, local)."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from job_orchestration import service
from job_orchestration.config import env_of
from job_orchestration.domain import JobStatus, Priority
from platform_core.cli import AppTyper, JsonOpt, client, container, emit, parse_params
from platform_core.errors import Forbidden, InvalidInput
from user_auth.cli_session import cli_principal
from user_auth.principal import Principal

app = AppTyper(help="Jobs: list, show, cancel, retry, events; stats, reap and diagnostics (admins).")

JobId = Annotated[uuid.UUID, typer.Argument(help="The job id.")]
COLUMNS = ["id", "kind", "status", "progress", "attempts", "submitted_at", "finished_at"]


def _admin(ctx: typer.Context) -> Principal:
    principal = cli_principal(ctx)
    if not principal.is_admin:
        raise Forbidden("this command needs an admin account")
    return principal


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this status.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Your jobs, newest first (admins: every job)."""
    page = client(ctx).jobs(status.value if status else None, kind, limit, offset)
    emit(page, as_json, columns=COLUMNS)


@app.command("show")
def show(ctx: typer.Context, job_id: JobId, as_json: JsonOpt = False) -> None:
    """One job: status, progress, attempts, timestamps, error and result."""
    emit(client(ctx).job(str(job_id)), as_json)


@app.command("cancel")
def cancel(ctx: typer.Context, job_id: JobId, as_json: JsonOpt = False) -> None:
    """Cancel a job (queued: at once; running: at its next progress point). Exit 5 if already finished."""
    emit(client(ctx).cancel_job(str(job_id)), as_json)


@app.command("retry")
def retry(ctx: typer.Context, job_id: JobId, as_json: JsonOpt = False) -> None:
    """Run a failed or cancelled job again from the start."""
    emit(client(ctx).retry_job(str(job_id)), as_json)


@app.command("events")
def events(
    ctx: typer.Context,
    job_id: JobId,
    after: Annotated[int | None, typer.Option(min=0, help="Only events after this id.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The job's events in order (state changes and progress)."""
    items = client(ctx).job_event_log(str(job_id), after)
    emit(items, as_json, columns=["id", "type", "status", "progress", "message", "attempt", "at"])


@app.command("stats")
def stats(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Queue depth, running jobs, live workers, queue wait p50/p95, failure rate (admins)."""
    _admin(ctx)
    c = container(ctx)
    with c.db.transaction() as session:
        emit(service.stats(session, env_of(c)), as_json)


@app.command("reap")
def reap(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Run one reaper pass now (admins)."""
    _admin(ctx)
    c = container(ctx)
    with c.db.transaction() as session:
        report = service.reap(session, env_of(c))
    emit(report, as_json)


@app.command("diag")
def diag(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="sleep, fail or progress.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Payload key=value (numbers parsed).")
    ] = None,
    priority: Annotated[Priority | None, typer.Option(help="Queue: high, default or low.")] = None,
    budget: Annotated[int | None, typer.Option(min=1, help="Wall budget in seconds.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a diagnostic job to check the workers (admins)."""
    principal = _admin(ctx)
    if kind not in ("sleep", "fail", "progress"):
        raise InvalidInput("kind must be sleep, fail or progress", field="kind")
    payload = parse_params(param or [])
    c = container(ctx)
    with c.db.transaction() as session:
        job = service.submit(
            session, env_of(c), principal, kind=f"diag.{kind}", payload=payload, priority=priority, budget_s=budget
        )
    emit(job, as_json)
