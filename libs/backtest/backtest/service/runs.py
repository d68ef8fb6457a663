"""Runs: submit one (validated params, a job created in the caller's transaction and enqueued after commit),
read and list them (status and progress come from the job), cancel, rerun, and the job behind a run."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from backtest import gateways
from backtest import repository as repo
from backtest.config import BacktestEnv
from backtest.domain import RUN_SORT_METRICS, RUN_STATUSES, budget_seconds, queue_of
from backtest.idempotency import idempotent
from backtest.schemas import ArtifactRef, RunCreate, RunError, RunIds, RunRead
from backtest.service._common import owned_backtest, owned_run
from job_orchestration import service as jobs
from job_orchestration.schemas import JobRead
from platform_core.errors import InvalidInput, NotFound
from platform_core.ids import new_id, utcnow
from platform_core.pagination import Page, PageParams
from strategy_management import service as strategies
from user_auth import service as accounts
from user_auth.principal import Principal


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
        disclaimer=accounts.disclaimer().text,
        artifacts=_artifact_refs(row),
        manifest=row.manifest,
        error=RunError(**job.error.model_dump()) if job.error and job.status != "succeeded" else None,
    )


def _read(session: Session, principal: Principal, row: repo.RunRow) -> RunRead:
    return _run_read(row, jobs.get(session, principal, row.job_id))


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
    # Counted when accepted, in this transaction (a refused or rolled-back submission counts nothing); the
    # disclaimer must have been accepted, and a hard quota refuses here, before anything is queued.
    accounts.record_usage(session, env.auth, principal, "runs", 1)
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
    strategies.add_reference(session, principal, backtest.version_id, f"backtest:{run_id}")
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


SWEEP_FIELDS = ("grid_spec", "space", "n", "max_evals", "objective", "early_stop", "batch_size")


def _submit_runs(
    session: Session, env: BacktestEnv, principal: Principal, backtest_id: uuid.UUID, body: RunCreate
) -> RunIds:
    if body.mode != "single":
        from backtest.service.optimizations import submit_optimization

        return submit_optimization(session, env, principal, backtest_id, body)
    for name in SWEEP_FIELDS:
        if getattr(body, name) is not None:
            raise InvalidInput(f"{name} is for sweeps (mode grid, random or bayes), not mode single", field=name)
    return submit_single(session, env, principal, backtest_id, body)


def submit_single(
    session: Session, env: BacktestEnv, principal: Principal, backtest_id: uuid.UUID, body: RunCreate
) -> RunIds:
    """One run of `body.params` merged over the backtest's defaults (also a promoted sweep result)."""
    backtest = owned_backtest(session, principal, backtest_id)
    params = strategies.validate_params(session, principal, backtest.version_id, {**backtest.params, **body.params})
    budget = budget_seconds(body.budget_ms, env.settings.default_budget_s)
    run_id = _new_run(session, env, principal, backtest, params, queue=queue_of(body.priority), budget_s=budget)
    return RunIds(run_ids=[run_id])


_RUN_WITH_JOB = jobs.with_job(repo.RUN, repo.RunRow.job_id)


def get_run(
    session: Session, principal: Principal, run_id: uuid.UUID, *, backtest_id: uuid.UUID | None = None
) -> RunRead:
    """One run: status, progress, attempts, queue wait, params, stats, artifacts, manifest, error. The run
    and its job in one statement (the most polled read of the API)."""
    found = jobs.get_with(session, principal, _RUN_WITH_JOB, {"owner_id": principal.user_id, "run_id": run_id})
    if found is None or (backtest_id is not None and found[0].backtest_id != backtest_id):
        raise NotFound("run not found", details={"run_id": str(run_id)})
    row, job = found
    return _run_read(row, job)


def _run_sort(sort: str | None) -> tuple[str, bool] | None:
    """`created_at` / `stats.<metric>`, `-` first for descending; INVALID_INPUT listing the valid ones."""
    if not sort:
        return None
    descending, name = sort.startswith("-"), sort.lstrip("+-")
    allowed = ["created_at", *(f"stats.{m}" for m in RUN_SORT_METRICS)]
    if name not in allowed:
        raise InvalidInput(f"unknown sort {name!r}", field="sort", details={"allowed": allowed, "got": name})
    return (name.removeprefix("stats."), descending)


def _template_hash(template: str | None) -> str | None:
    """The content hash of a built-in template's source (a verbatim copy has the same)."""
    if template is None:
        return None
    from quant.templates import TEMPLATE_NAMES, load_template

    if template not in TEMPLATE_NAMES:
        raise InvalidInput(
            f"unknown template {template!r}", field="template", details={"allowed": list(TEMPLATE_NAMES)}
        )
    return load_template(template).source_hash


def list_runs(
    session: Session,
    principal: Principal,
    page: PageParams,
    *,
    backtest_id: uuid.UUID | None = None,
    status: str | None = None,
    strategy_id: uuid.UUID | None = None,
    template: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
    sort: str | None = None,
) -> Page[RunRead]:
    """The caller's runs (of one backtest when given), newest first or sorted by `created_at` or any
    summary metric (`sort=-stats.sharpe`: best first, runs without the metric last), filtered by status,
    strategy, template (runs of a verbatim copy of that built-in template) and creation date."""
    if backtest_id is not None:
        owned_backtest(session, principal, backtest_id)
    if status is not None and status not in RUN_STATUSES:
        raise InvalidInput(f"unknown status {status!r}", field="status", details={"allowed": list(RUN_STATUSES)})
    if created_from is not None and created_to is not None and created_to < created_from:
        raise InvalidInput("the date range ends before it starts", field="created_from")
    order = _run_sort(sort)
    filters = {"backtest_id": backtest_id, "strategy_id": strategy_id, "content_hash": _template_hash(template),
               "created_from": created_from, "created_to": created_to, "sort": order}  # fmt: skip
    if status is None:
        rows, total = repo.list_runs(session, principal.user_id, page.limit, page.offset, **filters)
        job_reads = jobs.get_many(session, principal, [r.job_id for r in rows])
        items = [_run_read(r, job_reads[r.job_id]) for r in rows]
        return Page[RunRead](items=items, total=total, limit=page.limit, offset=page.offset)
    rows, _ = repo.list_runs(session, principal.user_id, None, 0, **filters)  # status lives in the jobs
    job_reads = jobs.get_many(session, principal, [r.job_id for r in rows])
    matching = [r for r in rows if str(job_reads[r.job_id].status) == status]
    items = [_run_read(r, job_reads[r.job_id]) for r in matching[page.offset : page.offset + page.limit]]
    return Page[RunRead](items=items, total=len(matching), limit=page.limit, offset=page.offset)


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
        gateways.cancel_job(session, env, principal, owned_run(session, principal, run_id, backtest_id).job_id)

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
        source = owned_run(session, principal, run_id, backtest_id)
        backtest = owned_backtest(session, principal, source.backtest_id)
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
    return owned_run(session, principal, run_id).job_id
