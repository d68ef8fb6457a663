"""Use cases of backtest runs: fn(session, principal, ...) -> schema. Flushes, never commits.

Published: `create_backtest`, `get_backtest`, `list_backtests`, `submit_runs`, `get_run`, `list_runs`,
`cancel_run`, `rerun`, `artifact`, `run_job_id`; for the job handler `load_plan` and `record_result`.
Another owner's backtest, run or artifact is NOT_FOUND, exactly like a missing one. Nothing is queued
unless every input was valid: the job is created in the caller's transaction and enqueued after commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from backtest import gateways
from backtest import repository as repo
from backtest.artifacts import artifact_key
from backtest.config import BacktestEnv
from backtest.domain import ARTIFACT_TYPES, FORMAT_MEDIA, budget_seconds, convert, engine_config, queue_of
from backtest.idempotency import idempotent
from backtest.schemas import (
    ArtifactRef,
    BacktestCreate,
    BacktestCreated,
    BacktestRead,
    ContextRead,
    Rules,
    RunCreate,
    RunError,
    RunIds,
    RunRead,
    StrategyPin,
    Window,
)
from job_orchestration.schemas import JobRead
from platform_core.errors import InvalidInput, NotFound, invalid_input_from
from platform_core.ids import new_id, utcnow
from platform_core.pagination import Page, PageParams
from user_auth.principal import Principal

# ---------------------------------------------------------------------------------------------------------
# backtests


def _owned_backtest(session: Session, principal: Principal, backtest_id: uuid.UUID) -> repo.BacktestRow:
    row = repo.get_backtest(session, principal.user_id, backtest_id)
    if row is None:
        raise NotFound("backtest not found", details={"backtest_id": str(backtest_id)})
    return row


def _backtest_read(row: repo.BacktestRow) -> BacktestRead:
    return BacktestRead(
        id=row.id,
        strategy=StrategyPin(
            strategy_id=row.strategy_id,
            version_id=row.version_id,
            strategy_name=row.strategy_name,
            version_number=row.version_number,
            content_hash=row.content_hash,
        ),
        context=ContextRead(
            universe=list(row.universe),
            frequency=row.frequency,
            window=Window(start=row.start_date, end=row.end_date),
            datasource=row.data_source,
            datasource_version=row.snapshot_id,
            adjust=row.adjust,
            initial_cash=row.initial_cash,
            benchmark=row.benchmark,
            rules=Rules(**row.rules),
        ),
        params=dict(row.params),
        notes=row.notes,
        created_at=row.created_at,
    )


def create_backtest(
    session: Session,
    env: BacktestEnv,
    principal: Principal,
    body: BacktestCreate,
    *,
    idempotency_key: str | None = None,
) -> BacktestCreated:
    """Pin a strategy version (by id, latest of a strategy, or a new copy of a template) and a context
    (universe, frequency, window, the data snapshot, cash, rules, benchmark). Every input is checked
    against the version's parameter schema, the data and a dry run of the strategy; INVALID_INPUT names
    the field."""
    return idempotent(
        session,
        env,
        principal,
        idempotency_key,
        scope="POST /backtests",
        request=body.model_dump(mode="json"),
        model=BacktestCreated,
        run=lambda: _create_backtest(session, env, principal, body),
    )


def _create_backtest(session: Session, env: BacktestEnv, principal: Principal, body: BacktestCreate) -> BacktestCreated:
    ctx = body.context
    version = gateways.resolve_version(session, env, principal, body.strategy_ref)
    params = gateways.check_params(session, principal, version.id, body.strategy_ref.params)
    pin = gateways.check_market(session, ctx)
    rules = ctx.rules.model_dump(mode="json")
    try:
        engine_config(rules, ctx.initial_cash)
    except ValidationError as exc:
        raise invalid_input_from(exc, prefix="context.rules", message="invalid rules") from None
    gateways.dry_run(session, env, principal, version, params, field="strategyRef")
    row = repo.add(
        session,
        repo.BacktestRow(
            id=new_id(),
            owner_id=principal.user_id,
            strategy_id=version.strategy_id,
            version_id=version.id,
            strategy_name=version.strategy_name,
            version_number=version.number,
            content_hash=version.content_hash,
            universe=pin.symbols,
            frequency=ctx.frequency,
            start_date=ctx.window.start,
            end_date=ctx.window.end,
            adjust=ctx.adjust,
            data_source=pin.source,
            snapshot_id=pin.snapshot_id,
            initial_cash=ctx.initial_cash,
            rules=rules,
            benchmark=pin.benchmark,
            params=params,
            notes=body.notes,
            created_at=utcnow(),
        ),
    )
    read = _backtest_read(row)
    return BacktestCreated(backtest_id=read.id, backtest=read)


def get_backtest(session: Session, principal: Principal, backtest_id: uuid.UUID) -> BacktestRead:
    """One of the caller's backtests."""
    return _backtest_read(_owned_backtest(session, principal, backtest_id))


def list_backtests(session: Session, principal: Principal, page: PageParams) -> Page[BacktestRead]:
    """The caller's backtests, newest first."""
    rows, total = repo.list_backtests(session, principal.user_id, page.limit, page.offset)
    return Page[BacktestRead](
        items=[_backtest_read(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


# ---------------------------------------------------------------------------------------------------------
# runs


def _owned_run(
    session: Session, principal: Principal, run_id: uuid.UUID, backtest_id: uuid.UUID | None = None
) -> repo.RunRow:
    row = repo.get_run(session, principal.user_id, run_id)
    if row is None or (backtest_id is not None and row.backtest_id != backtest_id):
        raise NotFound("run not found", details={"run_id": str(run_id)})
    return row


def _artifact_refs(row: repo.RunRow) -> dict[str, ArtifactRef]:
    return {
        kind: ArtifactRef(
            type=kind,
            path=ref["key"],
            rows=ref["rows"],
            bytes=ref["bytes"],
            sha256=ref["sha256"],
            url=f"/api/runs/{row.id}/artifacts/{kind}",
        )
        for kind, ref in (row.artifacts or {}).items()
    }


def _run_read(row: repo.RunRow, job: JobRead) -> RunRead:
    return RunRead(
        run_id=row.id,
        backtest_id=row.backtest_id,
        job_id=row.job_id,
        status=str(job.status),
        progress=job.progress,
        progress_message=job.progress_message,
        params=dict(row.params),
        priority=str(job.priority),
        budget_ms=job.budget_s * 1000,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        cancel_requested=job.cancel_requested,
        rerun_of=row.rerun_of,
        created_at=row.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        queue_wait_s=job.queue_wait_s,
        stats=row.metrics,
        artifacts=_artifact_refs(row),
        manifest=row.manifest,
        error=RunError(**job.error.model_dump()) if job.error and job.status != "succeeded" else None,
    )


def _read(session: Session, principal: Principal, row: repo.RunRow) -> RunRead:
    return _run_read(row, gateways.get_job(session, principal, row.job_id))


def _new_run(
    session: Session,
    env: BacktestEnv,
    principal: Principal,
    backtest: repo.BacktestRow,
    params: dict[str, Any],
    *,
    queue: str,
    budget_s: int,
    rerun_of: uuid.UUID | None = None,
) -> uuid.UUID:
    run_id = new_id()
    job = gateways.submit_job(session, env, principal, run_id, priority=queue, budget_s=budget_s)
    repo.add(
        session,
        repo.RunRow(
            id=run_id,
            owner_id=principal.user_id,
            backtest_id=backtest.id,
            job_id=job.id,
            params=params,
            priority=queue,
            budget_s=budget_s,
            rerun_of=rerun_of,
            created_at=utcnow(),
        ),
    )
    gateways.add_reference(session, principal, backtest.version_id, run_id)
    return run_id


def submit_runs(
    session: Session,
    env: BacktestEnv,
    principal: Principal,
    backtest_id: uuid.UUID,
    body: RunCreate,
    *,
    idempotency_key: str | None = None,
) -> RunIds:
    """Queue a run of a backtest with `params` merged over the backtest's defaults, validated against the
    version's schema first (INVALID_INPUT `params.<name>`; nothing is queued then)."""
    return idempotent(
        session,
        env,
        principal,
        idempotency_key,
        scope=f"POST /backtests/{backtest_id}/runs",
        request=body.model_dump(mode="json"),
        model=RunIds,
        run=lambda: _submit_runs(session, env, principal, backtest_id, body),
    )


def _submit_runs(
    session: Session, env: BacktestEnv, principal: Principal, backtest_id: uuid.UUID, body: RunCreate
) -> RunIds:
    backtest = _owned_backtest(session, principal, backtest_id)
    params = gateways.check_params(session, principal, backtest.version_id, {**backtest.params, **body.params})
    budget = budget_seconds(body.budget_ms, env.settings.default_budget_s)
    run_id = _new_run(session, env, principal, backtest, params, queue=queue_of(body.priority), budget_s=budget)
    return RunIds(run_ids=[run_id])


def get_run(
    session: Session, principal: Principal, run_id: uuid.UUID, *, backtest_id: uuid.UUID | None = None
) -> RunRead:
    """One run: status, progress, attempts, queue wait, params, stats, artifacts, manifest, error."""
    return _read(session, principal, _owned_run(session, principal, run_id, backtest_id))


def list_runs(
    session: Session, principal: Principal, page: PageParams, *, backtest_id: uuid.UUID | None = None
) -> Page[RunRead]:
    """The caller's runs (of one backtest when given), newest first."""
    if backtest_id is not None:
        _owned_backtest(session, principal, backtest_id)
    rows, total = repo.list_runs(session, principal.user_id, page.limit, page.offset, backtest_id=backtest_id)
    job_reads = gateways.get_jobs(session, principal, [r.job_id for r in rows])
    items = [_run_read(r, job_reads[r.job_id]) for r in rows]
    return Page[RunRead](items=items, total=total, limit=page.limit, offset=page.offset)


def cancel_run(
    session: Session,
    env: BacktestEnv,
    principal: Principal,
    run_id: uuid.UUID,
    *,
    backtest_id: uuid.UUID | None = None,
    idempotency_key: str | None = None,
) -> None:
    """Cancel a run: a queued run at once, a running one at its next progress point. Repeating is harmless;
    a run that already succeeded or failed is CONFLICT."""

    def run() -> None:
        gateways.cancel_job(session, env, principal, _owned_run(session, principal, run_id, backtest_id).job_id)

    idempotent(
        session, env, principal, idempotency_key, scope=f"POST /runs/{run_id}:cancel", request={}, model=None, run=run
    )


def rerun(
    session: Session,
    env: BacktestEnv,
    principal: Principal,
    run_id: uuid.UUID,
    *,
    backtest_id: uuid.UUID | None = None,
    idempotency_key: str | None = None,
) -> RunIds:
    """A new run with the same version, params, rules and data snapshot: identical metrics and artifacts."""

    def run() -> RunIds:
        source = _owned_run(session, principal, run_id, backtest_id)
        backtest = _owned_backtest(session, principal, source.backtest_id)
        new = _new_run(
            session,
            env,
            principal,
            backtest,
            dict(source.params),
            queue=source.priority,
            budget_s=source.budget_s,
            rerun_of=source.id,
        )
        return RunIds(run_ids=[new])

    return idempotent(
        session, env, principal, idempotency_key, scope=f"POST /runs/{run_id}:rerun", request={}, model=RunIds, run=run
    )


def run_job_id(session: Session, principal: Principal, run_id: uuid.UUID) -> uuid.UUID:
    """The job behind one of the caller's runs (for its event stream)."""
    return _owned_run(session, principal, run_id).job_id


@dataclass(frozen=True)
class Download:
    filename: str
    media_type: str
    content: bytes


def artifact(
    session: Session, env: BacktestEnv, principal: Principal, run_id: uuid.UUID, kind: str, fmt: str
) -> Download:
    """One artifact of a finished run as csv (UTF-8, header), json (array of rows) or parquet."""
    if kind not in ARTIFACT_TYPES:
        raise InvalidInput(f"unknown artifact type {kind!r}", field="type", details={"allowed": list(ARTIFACT_TYPES)})
    if fmt not in FORMAT_MEDIA:
        raise InvalidInput(f"unknown format {fmt!r}", field="format", details={"allowed": list(FORMAT_MEDIA)})
    row = _owned_run(session, principal, run_id)
    ref = (row.artifacts or {}).get(kind)
    if ref is None:
        raise NotFound(
            f"run has no {kind} artifact yet (artifacts exist once it succeeds)",
            details={"run_id": str(run_id), "type": kind},
        )
    content = convert(env.store.get(ref["key"]), fmt)
    return Download(filename=f"{run_id}-{kind}.{fmt}", media_type=FORMAT_MEDIA[fmt], content=content)


# ---------------------------------------------------------------------------------------------------------
# the job's side


@dataclass(frozen=True)
class RunPlan:
    """Everything one attempt needs, read under the lease."""

    run_id: uuid.UUID
    owner_id: uuid.UUID
    backtest: BacktestRead
    params: dict[str, Any]
    source: str


def load_plan(session: Session, owner_id: uuid.UUID, run_id: uuid.UUID) -> RunPlan:
    """The run, its backtest and the exact strategy source, as the owner (NOT_FOUND if gone)."""
    principal = gateways.principal_for(session, owner_id)
    row = _owned_run(session, principal, run_id)
    backtest = _backtest_read(_owned_backtest(session, principal, row.backtest_id))
    version = gateways.get_version(session, principal, backtest.strategy.version_id)
    return RunPlan(run_id=row.id, owner_id=owner_id, backtest=backtest, params=dict(row.params), source=version.source)


def record_result(
    session: Session,
    owner_id: uuid.UUID,
    run_id: uuid.UUID,
    *,
    metrics: dict[str, Any],
    manifest: dict[str, Any],
    artifacts: dict[str, dict[str, Any]],
) -> None:
    """Save the metrics summary, manifest and artifact references of a run (call under the job's lease)."""
    row = repo.get_run(session, owner_id, run_id, for_update=True)
    if row is None:
        raise NotFound("run not found", details={"run_id": str(run_id)})
    row.metrics, row.manifest, row.artifacts, row.completed_at = metrics, manifest, artifacts, utcnow()
    session.flush()


def artifact_location(owner_id: uuid.UUID, run_id: uuid.UUID, kind: str) -> str:
    return artifact_key(owner_id, run_id, kind)
