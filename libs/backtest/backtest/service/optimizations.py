"""Optimisations: parameter sweeps of a backtest (grid, random, Bayesian), evaluated in batches on the job
runtime.

An optimisation is a parent row with batch tasks; each task is one ordinary job (`backtest.optimize`,
`jobs.parent_id` = the optimisation) that loads the data once and evaluates all its combinations in one
vectorised `run_grid` (a built-in template, in process) or one confined call computing the targets of
every set (user code) followed by one vectorised simulation. Results are written under the job's lease
with `INSERT … ON CONFLICT DO NOTHING` on (optimisation, combination index): a re-run batch never counts
twice. After every batch, under a row lock on the optimisation, the counters and best so far are
recomputed from the stored rows and `sweep.decide` says stop (early stop, budget, done) or go on; going
on creates the next tasks so that at most `concurrency_limit` batches are queued or running. Random
points are drawn at submission (seeded); Bayesian points are asked of optuna (TPE, ask/tell) for each
new batch from the results so far.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy.orm import Session

from backtest import gateways, sweep
from backtest import repository as repo
from backtest.artifacts import artifact_key
from backtest.config import BacktestEnv
from backtest.domain import clean_json, engine_config, parquet_bytes, queue_of, xlsx_bytes
from backtest.schemas import (
    MAX_COMBINATIONS,
    BatchRead,
    BestSoFar,
    BudgetUsed,
    Heatmap,
    OptimizationRead,
    OptimizationResult,
    RejectedCombination,
    RunCreate,
    RunIds,
    SweepPreview,
)
from backtest.service._common import backtest_read, owned_backtest
from job_orchestration import service as jobs
from platform_core.errors import AppError, Conflict, ErrorCode, InvalidInput, NotFound
from platform_core.ids import new_id, utcnow
from platform_core.pagination import Page, PageParams
from quant import ContractError, ParamError, StrategyError, run_grid, run_grid_targets
from quant.sdk import Param
from quant.strategy import compute_targets_grid, validate_strategy_params
from quant.strategy import validate_params as quant_validate_params
from quant.templates import template_for_source
from strategy_management import service as strategies
from user_auth import service as accounts
from user_auth.principal import Principal

_TYPES = {"int": int, "float": float, "bool": bool, "str": str}
REJECTED_SAMPLE = 20
PBO_BLOCKS = 8


# --- submission ------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    points: list[dict]
    preview: SweepPreview
    metric: str
    direction: str
    template: bool
    fixed: dict[str, Any]
    spec: dict[str, Any] = field(default_factory=dict)


def _schema(version: Any) -> tuple[Param, ...]:
    return tuple(
        Param(
            p.name,
            _TYPES[p.type],
            p.default,
            p.min,
            p.max,
            tuple(p.choices) if p.choices is not None else None,
            p.description,
            p.step,
        )
        for p in version.params_schema
    )


def _objective(body: RunCreate) -> tuple[str, str]:
    if body.objective is not None:
        metric, direction = body.objective.metric, body.objective.mode
        if body.early_stop is not None and body.early_stop.metric != metric:
            raise InvalidInput(
                "early_stop.metric must be the objective's metric",
                field="early_stop.metric",
                details={"objective": metric},
            )
    elif body.early_stop is not None:
        metric, direction = body.early_stop.metric, body.early_stop.mode
    else:
        metric, direction = "sharpe", "max"
    sweep.check_metric(metric, "early_stop.metric" if body.early_stop and not body.objective else "objective.metric")
    return metric, direction


def _coerce(schema: tuple[Param, ...], params: dict[str, Any], field: str) -> dict[str, Any]:
    try:
        return quant_validate_params(schema, params)
    except ParamError as exc:
        raise InvalidInput(f"parameter {exc.field}: {exc.message}", field=f"{field}.{exc.field}") from None


def _check_names(schema: tuple[Param, ...], names: list[str], field: str) -> None:
    known = {p.name for p in schema}
    for name in names:
        if name not in known:
            raise InvalidInput(
                f"{name!r} is not a parameter of this strategy",
                field=f"{field}.{name}",
                details={"known": sorted(known)},
            )


def _grid_points(body: RunCreate, schema: tuple[Param, ...], fixed: dict[str, Any]) -> list[dict]:
    if not body.grid_spec:
        raise InvalidInput("mode grid needs gridSpec: values per parameter", field="gridSpec")
    _check_names(schema, list(body.grid_spec), "gridSpec")
    axes = {name: sweep.axis_values(name, axis) for name, axis in body.grid_spec.items()}
    size = sweep.grid_size(axes)
    if size > MAX_COMBINATIONS:
        raise InvalidInput(
            f"gridSpec expands to {size} combinations, above the maximum of {MAX_COMBINATIONS}",
            field="gridSpec",
            details={"combinations": size, "maximum": MAX_COMBINATIONS},
        )
    coerced = {
        name: [_coerce(schema, {**fixed, name: v}, "gridSpec")[name] for v in values] for name, values in axes.items()
    }
    from quant import expand_grid

    return [{**fixed, **combo} for combo in expand_grid(coerced)]


def _space_points(body: RunCreate, schema: tuple[Param, ...], fixed: dict[str, Any]) -> list[dict]:
    if not body.space:
        raise InvalidInput(f"mode {body.mode} needs space: a distribution per parameter", field="space")
    if body.n is None:
        raise InvalidInput(f"mode {body.mode} needs n, the number of evaluations", field="n")
    _check_names(schema, list(body.space), "space")
    kinds = {p.name: p.type for p in schema}
    for name, dist in body.space.items():
        if body.mode == "bayes" and kinds[name] is int and dist.type in ("uniform", "log_uniform"):
            raise InvalidInput(
                f"{name} is an integer parameter: give it an int distribution", field=f"space.{name}.type"
            )
        bounds = dist.values if dist.type == "choices" else [dist.low, dist.high]
        for value in bounds:
            _coerce(
                schema, {**fixed, name: int(value) if kinds[name] is int and dist.type == "int" else value}, "space"
            )
    if body.mode == "bayes":
        return []
    points = []
    for raw in sweep.random_points(body.space, body.n, body.seed):
        point = {k: round(v) if kinds[k] is int and isinstance(v, float) else v for k, v in raw.items()}
        points.append({**fixed, **_coerce(schema, {**fixed, **point}, "space")})
    return points


def _plan(
    session: Session, env: BacktestEnv, principal: Principal, backtest: repo.BacktestRow, body: RunCreate
) -> _Plan:
    metric, direction = _objective(body)
    version = strategies.get_version(session, principal, backtest.version_id)
    schema = _schema(version)
    template = template_for_source(version.source)
    fixed = _coerce(schema, {**backtest.params, **body.params}, "params")
    points = _grid_points(body, schema, fixed) if body.mode == "grid" else _space_points(body, schema, fixed)
    combinations = len(points) if body.mode != "bayes" else int(body.n or 0)
    accepted, rejected = points, []
    if template is not None and points:
        accepted, rejected = [], []
        for p in points:
            try:
                validate_strategy_params(template, p)
            except ParamError as exc:
                rejected.append((p, exc))
            else:
                accepted.append(p)
    if body.mode != "bayes" and not accepted:
        reasons = Counter(str(exc) for _, exc in rejected)
        raise InvalidInput(
            f"every one of the {combinations} combinations is rejected by the strategy",
            field="gridSpec" if body.mode == "grid" else "space",
            details={"rejected": len(rejected), "reasons": dict(reasons)},
        )
    evaluations = len(accepted) if body.mode != "bayes" else combinations
    if body.max_evals is not None:
        evaluations = min(evaluations, body.max_evals)
        accepted = accepted[:evaluations]
    size = sweep.batch_size(evaluations, body.concurrency_limit, template is not None, body.batch_size)
    batches = math.ceil(evaluations / size)
    days = (backtest.end_date - backtest.start_date).days
    bars = max(1, int(len(backtest.universe) * days * 245 / 365))
    preview = SweepPreview(
        combinations=combinations,
        rejected=len(rejected),
        rejected_reasons=dict(Counter(str(exc) for _, exc in rejected)),
        rejected_sample=[
            RejectedCombination(params=p, field=exc.field, error=exc.message) for p, exc in rejected[:REJECTED_SAMPLE]
        ],
        evaluations=evaluations,
        batches=batches,
        batch_size=size,
        estimated_ms=sweep.estimate_ms(evaluations, batches, body.concurrency_limit, bars, template is not None),
        check_params="checked" if template is not None else "in_batches",
    )
    spec = {
        "params": fixed,
        "grid_spec": {k: (v if isinstance(v, list) else v.model_dump()) for k, v in (body.grid_spec or {}).items()},
        "space": {k: v.model_dump() for k, v in (body.space or {}).items()},
        "n": body.n,
        "seed": body.seed,
        "points": accepted if body.mode != "bayes" else [],
        "objective": {"metric": metric, "mode": direction},
        "validation": _validation_plan(body, backtest),
    }
    if spec["validation"] is not None:
        preview.folds = spec["validation"]["folds"]
    return _Plan(accepted, preview, metric, direction, template is not None, fixed, clean_json(spec))


def _validation_plan(body: RunCreate, backtest: repo.BacktestRow) -> dict[str, Any] | None:
    """The folds of the asked validation, checked against the backtest's window (INVALID_INPUT naming the field)."""
    v = body.validation
    if v is None:
        return None
    if (v.walk_forward is None) == (v.split is None):
        raise InvalidInput("validation needs exactly one of walk_forward or split", field="validation")
    if body.mode == "bayes":
        raise InvalidInput(
            "validation re-runs the search on every training window and needs its points up front: "
            "use mode grid or random",
            field="validation",
        )
    if v.walk_forward is not None:
        wf = v.walk_forward
        folds = sweep.walk_forward_folds(backtest.start_date, backtest.end_date, wf.train, wf.test, wf.step)
        request: dict[str, Any] = {"walk_forward": {"train": wf.train, "test": wf.test, "step": wf.step or wf.test}}
    else:
        folds = [sweep.split_fold(backtest.start_date, backtest.end_date, v.split)]
        request = {"split": v.split.isoformat()}
    return {**request, "folds": [f.as_json() for f in folds]}


def submit_optimization(
    session: Session, env: BacktestEnv, principal: Principal, backtest_id: uuid.UUID, body: RunCreate
) -> RunIds:
    """Validate a sweep and queue its first batches (or, with `dry_run`, answer the preview only)."""
    backtest = owned_backtest(session, principal, backtest_id)
    plan = _plan(session, env, principal, backtest, body)
    if body.dry_run:
        return RunIds(run_ids=[], preview=plan.preview)
    # Counted when accepted, in this transaction: every planned evaluation (after the disclaimer; a hard
    # quota refuses here, before anything is queued).
    accounts.record_usage(session, env.auth, principal, "sweep_evaluations", plan.preview.evaluations)
    now = utcnow()
    row = repo.add(
        session,
        repo.OptimizationRow(
            id=new_id(),
            owner_id=principal.user_id,
            backtest_id=backtest.id,
            mode=body.mode,
            spec=plan.spec,
            status="queued",
            total=plan.preview.evaluations,
            evaluated=0,
            failed=0,
            metric=plan.metric,
            direction=plan.direction,
            early_stop_policy=body.early_stop.model_dump() if body.early_stop else None,
            max_evals=body.max_evals,
            budget_ms=body.budget_ms,
            concurrency_limit=body.concurrency_limit,
            batch_size=plan.preview.batch_size,
            priority=queue_of(body.priority),
            created_at=now,
        ),
    )
    strategies.add_reference(session, principal, backtest.version_id, f"optimization:{row.id}")
    _fill(session, env, principal, row, repo.tasks_of(session, row.id), [])
    return RunIds(run_ids=[], optimization_id=row.id, preview=plan.preview)


# --- steering between batches ------------------------------------------------------------------------------


def _next_points(row: repo.OptimizationRow, start: int, count: int, results: list[repo.OptimizationResultRow]) -> list:
    if row.mode != "bayes":
        return row.spec["points"][start : start + count]
    return _bayes_points(row, start, count, results)


def _bayes_points(row: repo.OptimizationRow, start: int, count: int, results: list) -> list[dict]:
    """Ask optuna's TPE sampler for `count` points, told every stored result first (ask/tell)."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists: dict[str, Any] = {}
    for name, d in row.spec["space"].items():
        if d["type"] == "choices":
            dists[name] = CategoricalDistribution(d["values"])
        elif d["type"] == "int":
            step = int(d.get("step") or 1)
            low = int(d["low"])
            dists[name] = IntDistribution(low, low + (int(d["high"]) - low) // step * step, step=step)
        else:
            dists[name] = FloatDistribution(d["low"], d["high"], log=d["type"] == "log_uniform")
    sampler = optuna.samplers.TPESampler(seed=int(row.spec["seed"]) + start, n_startup_trials=10)
    study = optuna.create_study(direction="maximize" if row.direction == "max" else "minimize", sampler=sampler)
    for r in results:
        params = {k: r.params[k] for k in dists if k in r.params}
        if len(params) != len(dists):
            continue
        if r.status == "succeeded" and r.score is not None and math.isfinite(r.score):
            study.add_trial(create_trial(params=params, distributions=dists, value=r.score))
        else:
            study.add_trial(create_trial(params=params, distributions=dists, state=TrialState.FAIL))
    fixed = row.spec["params"]
    return [{**fixed, **study.ask(dists).params} for _ in range(count)]


def _wall_ms(row: repo.OptimizationRow) -> int:
    end = row.finished_at or utcnow()
    return int((end - row.created_at).total_seconds() * 1000)


def _fill(
    session: Session,
    env: BacktestEnv,
    principal: Principal,
    row: repo.OptimizationRow,
    tasks: list[repo.OptimizationTaskRow],
    results: list[repo.OptimizationResultRow],
) -> int:
    """Create and queue new batch tasks while fewer than `concurrency_limit` are queued or running."""
    active = sum(1 for t in tasks if t.status in sweep.ACTIVE_TASKS)
    planned = sum(len(t.points) for t in tasks)
    batch_index = len(tasks)
    created = 0
    while active < row.concurrency_limit and planned < row.total:
        count = min(row.batch_size, row.total - planned)
        points = _next_points(row, planned, count, results)
        if not points:
            break
        task = repo.add(
            session,
            repo.OptimizationTaskRow(
                id=new_id(),
                optimization_id=row.id,
                batch_index=batch_index,
                first_index=planned,
                points=points,
                status="queued",
                retries=0,
                next_run_at=utcnow(),
                created_at=utcnow(),
            ),
        )
        budget_s = max(60, env.settings.default_budget_s)
        job = gateways.submit_batch_job(
            session, env, principal, task.id, row.id, priority=row.priority, budget_s=budget_s
        )
        task.job_id = job.id
        session.flush()
        tasks.append(task)
        planned += len(points)
        batch_index += 1
        active += 1
        created += 1
    return created


def _advance(session: Session, env: BacktestEnv, principal: Principal, row: repo.OptimizationRow) -> None:
    """Recompute counters and the best so far from the stored rows, then stop or queue the next batches.
    The caller holds the optimisation's row lock."""
    scores = repo.result_scores(session, row.id)
    row.evaluated = len(scores)
    row.failed = sum(1 for _, _, status in scores if status != "succeeded")
    best = sweep.best_of(scores, row.direction)
    if best is not None and best[0] != row.best_index:
        result = repo.get_result(session, row.id, best[0])
        row.best_index, row.best_metric, row.best_params = best[0], best[1], dict(result.params)
    if row.status in sweep.TERMINAL:
        session.flush()
        return
    tasks = repo.tasks_of(session, row.id)
    stop = sweep.decide(
        scores=scores,
        total=row.total,
        direction=row.direction,
        early_stop=row.early_stop_policy,
        budget_ms=row.budget_ms,
        wall_ms=_wall_ms(row),
        metric=row.metric,
    )
    if stop is None:
        results = repo.results_of(session, row.id) if row.mode == "bayes" else []
        _fill(session, env, principal, row, tasks, results)
        if not any(t.status in sweep.ACTIVE_TASKS for t in tasks):
            failed = [t.batch_index for t in tasks if t.status == "failed"]
            status = "succeeded" if row.evaluated else "failed"
            stop = sweep.Stop(status, f"batches {failed} failed" if failed else f"{row.evaluated} evaluations done")
    if stop is not None:
        _end(session, env, principal, row, tasks, stop.status, stop.reason)
    session.flush()


def _end(
    session: Session,
    env: BacktestEnv,
    principal: Principal,
    row: repo.OptimizationRow,
    tasks: list[repo.OptimizationTaskRow],
    status: str,
    reason: str,
) -> None:
    """Make the sweep terminal: stop its remaining batches, record why, compute the diagnostics."""
    row.status, row.reason, row.finished_at = status, reason, utcnow()
    for task in tasks:
        if task.status in sweep.ACTIVE_TASKS:
            task.status, task.finished_at = "cancelled", utcnow()
            if task.job_id is not None:
                with contextlib.suppress(Conflict):  # the batch job ended meanwhile
                    jobs.cancel(session, env.jobs, principal, task.job_id)
    row.diagnostics = _diagnostics(env, row, tasks)
    if status in ("succeeded", "early_stopped") and row.spec.get("validation"):
        try:
            outcome = _validate(session, env, principal, row)
        except (AppError, StrategyError, ContractError, ValueError) as exc:
            outcome = {**row.spec["validation"], "error": _error(exc)}
        row.diagnostics = {**(row.diagnostics or {}), "validation": outcome}


def _validate(session: Session, env: BacktestEnv, principal: Principal, row: repo.OptimizationRow) -> dict[str, Any]:
    """Walk-forward / split validation, computed once when the sweep ends: for every fold the same points are
    evaluated on the training window's bars (one vectorised grid, or the confined batch path for user code),
    the best by the sweep's metric is run on the test window (its own account, from the initial cash), and
    the test windows' daily returns are stitched into one out-of-sample curve."""
    from quant import metrics as mx

    plan = row.spec["validation"]
    bt = backtest_read(owned_backtest(session, principal, row.backtest_id))
    source = strategies.get_version(session, principal, bt.strategy.version_id).source
    config = engine_config(bt.context.rules.model_dump(mode="json"), bt.context.initial_cash, source)
    points = list(row.spec["points"])
    members = gateways.context_members(session, bt.context)  # once for every fold

    def evaluate(points: list[dict], start: str, end: str):
        first, last = date.fromisoformat(start), date.fromisoformat(end)
        inputs = gateways.context_inputs(session, env, bt.context, start=first, end=last)
        part = None if members is None else members.filter(pl.col("date").is_between(first, last))
        inputs = gateways.sweep_inputs(session, inputs, source, bt.context.frequency, part)
        batch = _Batch(uuid.uuid4(), row.id, -1, 0, points, bt, source, row.metric)
        rows, returns, dates, _ = _evaluate(env, batch, inputs, part)
        return rows, returns, dates

    folds, stitched, stitched_dates = [], [], []
    for k, window in enumerate(plan["folds"]):
        fold: dict[str, Any] = {"fold": k, **window}
        rows, _, _ = evaluate(points, window["train_start"], window["train_end"])
        best = sweep.best_of(
            [(i, (m or {}).get(row.metric), "succeeded" if m else "failed") for i, m, _, _ in rows], row.direction
        )
        if best is None:
            folds.append({**fold, "best_params": None, "note": "no combination succeeded on the training window"})
            continue
        params = points[best[0]]
        [(_, metrics, _, error)], returns, dates = evaluate([params], window["test_start"], window["test_end"])
        fold.update(
            best_index=best[0],
            best_params=params,
            in_sample=best[1],
            out_of_sample=(metrics or {}).get(row.metric),
            out_of_sample_metrics=metrics,
            error=error,
        )
        folds.append(fold)
        if returns is not None:
            stitched.append(returns[:, 0])
            stitched_dates.extend(str(d)[:10] for d in dates)
    curve = sweep.stitch(stitched, config.initial_cash)
    oos: dict[str, Any] | None = None
    if curve.size:
        joined = np.concatenate(stitched)[:, None]
        values = mx.returns_metrics(joined, config.periods_per_year, config.risk_free_rate)
        oos = {k: float(values[k][0]) for k in ("total_return", "annual_return", "volatility", "sharpe",
                                                 "sortino", "max_drawdown", "calmar")}  # fmt: skip
    return clean_json(
        {
            **{k: v for k, v in plan.items() if k != "folds"},
            "metric": row.metric,
            "folds": folds,
            "in_sample": {
                "mean_fold_metric": _mean([f.get("in_sample") for f in folds]),
                "full_window_best": row.best_metric,
            },
            "out_of_sample": {
                "metrics": oos,
                "mean_fold_metric": _mean([f.get("out_of_sample") for f in folds]),
                "equity": [{"date": d, "equity": float(e)} for d, e in zip(stitched_dates, curve, strict=True)],
            },
        }
    )


def _mean(values: list[Any]) -> float | None:
    kept = [float(v) for v in values if isinstance(v, int | float)]
    return sum(kept) / len(kept) if kept else None


def _diagnostics(env: BacktestEnv, row: repo.OptimizationRow, tasks: list[repo.OptimizationTaskRow]) -> dict | None:
    """Deflated Sharpe ratio of the highest-Sharpe combination and PBO by CSCV over the stored daily returns."""
    from quant.overfitting import deflated_sharpe_of, probability_of_backtest_overfitting

    frames = [pl.read_parquet(io.BytesIO(env.store.get(t.returns_key))) for t in tasks if t.returns_key]
    frames = [f for f in frames if f.width > 1]
    if not frames:
        return None
    columns = [c for f in frames for c in f.columns if c != "date"]
    if len(columns) < sweep.MIN_DIAGNOSTIC_EVALS:
        return {
            "note": f"diagnostics need at least {sweep.MIN_DIAGNOSTIC_EVALS} evaluations",
            "evaluations": len(columns),
        }
    matrix = np.concatenate([f.drop("date").to_numpy().astype(np.float64) for f in frames], axis=1)
    ppy = 252
    out: dict[str, Any] = {"evaluations": len(columns), "periods": int(matrix.shape[0])}
    dsr = deflated_sharpe_of(matrix)
    if dsr is not None:
        out["deflated_sharpe"] = {
            "index": int(columns[dsr.best][1:]),
            "sharpe_annualised": dsr.sharpe * math.sqrt(ppy),
            "expected_max_sharpe_annualised": dsr.expected_max * math.sqrt(ppy),
            "dsr": dsr.dsr,
            "trials": dsr.trials,
            "source": "Bailey & López de Prado (2014)",
        }
    blocks = PBO_BLOCKS
    while blocks > 2 and matrix.shape[0] // blocks < 4:
        blocks -= 2
    try:
        pbo = probability_of_backtest_overfitting(matrix, blocks=blocks)
        out["pbo"] = {"pbo": pbo.pbo, "splits": pbo.splits, "blocks": blocks, "source": "Bailey et al. (2017), CSCV"}
    except ValueError as exc:
        out["pbo"] = {"note": str(exc)}
    return clean_json(out)


def _reconcile(session: Session, env: BacktestEnv, principal: Principal, row: repo.OptimizationRow) -> None:
    """A batch whose job ended without finishing the task (it failed for good, or was cancelled on the job
    runtime) is marked so, and the sweep goes on or ends."""
    if row.status in sweep.TERMINAL:
        return
    tasks = [t for t in repo.tasks_of(session, row.id) if t.status in sweep.ACTIVE_TASKS and t.job_id]
    if not tasks:
        return
    reads = jobs.get_many(session, principal, [t.job_id for t in tasks])
    ended = [t for t in tasks if str(reads[t.job_id].status) in ("failed", "cancelled")]
    if not ended:
        return
    locked = repo.get_optimization(session, principal.user_id, row.id, for_update=True)
    for task in ended:
        task.status, task.finished_at = str(reads[task.job_id].status), utcnow()
    _advance(session, env, principal, locked)


def batch_ended(session: Session, env: BacktestEnv, owner_id: uuid.UUID, task_id: uuid.UUID, status: str) -> None:
    """A batch's job ended without finishing the task (failed for good, or cancelled on the job runtime): mark
    the batch so and let the sweep go on or end, in the transaction that ended the job."""
    task = repo.get_task(session, task_id)
    if task is None or task.status not in sweep.ACTIVE_TASKS:
        return
    principal = accounts.principal_for_user(session, owner_id, via="job")
    row = repo.get_optimization(session, owner_id, task.optimization_id, for_update=True)
    if row is None or row.status in sweep.TERMINAL:
        return
    session.refresh(task)
    if task.status not in sweep.ACTIVE_TASKS:
        return
    task.status, task.finished_at = ("cancelled" if status == "cancelled" else "failed"), utcnow()
    _advance(session, env, principal, row)


# --- reads ---------------------------------------------------------------------------------------------


def _owned(session: Session, principal: Principal, optimization_id: uuid.UUID, *, lock: bool = False):
    row = repo.get_optimization(session, principal.user_id, optimization_id, for_update=lock)
    if row is None:
        raise NotFound("optimization not found", details={"optimization_id": str(optimization_id)})
    return row


def _read(session: Session, row: repo.OptimizationRow) -> OptimizationRead:
    tasks = repo.tasks_of(session, row.id)
    wall = _wall_ms(row)
    best = (
        BestSoFar(index=row.best_index, params=row.best_params or {}, metric=row.best_metric)
        if row.best_index is not None and row.best_metric is not None
        else None
    )
    status = row.status
    if status == "queued" and any(t.status != "queued" for t in tasks):
        status = "running"
    return OptimizationRead(
        optimization_id=row.id,
        backtest_id=row.backtest_id,
        mode=row.mode,
        status=status,
        total=row.total,
        evaluated=row.evaluated,
        failed=row.failed,
        progress=round(100.0 * row.evaluated / row.total, 2) if row.total else 100.0,
        metric=row.metric,
        direction=row.direction,
        best=best,
        budget=BudgetUsed(evaluations=row.evaluated, max_evals=row.max_evals, wall_ms=wall, budget_ms=row.budget_ms),
        reason=row.reason,
        eta_ms=None if row.status in sweep.TERMINAL else sweep.eta_ms(row.evaluated, row.total, wall),
        concurrency_limit=row.concurrency_limit,
        batch_size=row.batch_size,
        early_stop=row.early_stop_policy,
        spec={k: v for k, v in row.spec.items() if k != "points"},
        diagnostics={k: v for k, v in (row.diagnostics or {}).items() if k != "validation"} or None,
        validation=(row.diagnostics or {}).get("validation"),
        batches=[
            BatchRead(
                batch_index=t.batch_index,
                job_id=t.job_id,
                status=t.status,
                combinations=len(t.points),
                timing=t.timing,
                started_at=t.started_at,
                finished_at=t.finished_at,
            )
            for t in tasks
        ],
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def get_optimization(
    session: Session, env: BacktestEnv, principal: Principal, optimization_id: uuid.UUID
) -> OptimizationRead:
    """One sweep: status, evaluated / total, budget used, best so far, reason, ETA, batches, diagnostics."""
    row = _owned(session, principal, optimization_id)
    _reconcile(session, env, principal, row)
    return _read(session, row)


def list_optimizations(
    session: Session, principal: Principal, page: PageParams, *, backtest_id: uuid.UUID | None = None
) -> Page[OptimizationRead]:
    """The caller's sweeps (of one backtest when given), newest first."""
    if backtest_id is not None:
        owned_backtest(session, principal, backtest_id)
    rows, total = repo.list_optimizations(session, principal.user_id, page.limit, page.offset, backtest_id=backtest_id)
    return Page[OptimizationRead](
        items=[_read(session, r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


def _result(r: repo.OptimizationResultRow) -> OptimizationResult:
    return OptimizationResult(
        index=r.combo_index, params=dict(r.params), status=r.status, metrics=r.metrics, error=r.error
    )


def _ordered(
    session: Session,
    principal: Principal,
    optimization_id: uuid.UUID,
    *,
    sort: str | None,
    order: str | None,
    filters: list[str] | None,
    status: str | None,
) -> list[repo.OptimizationResultRow]:
    row = _owned(session, principal, optimization_id)
    parsed = [sweep.parse_filter(f) for f in filters or []]
    key = sort or row.metric
    if order is None:
        descending = row.direction == "max" if sort is None or sort == row.metric else False
    else:
        descending = order == "desc"
    present, missing = [], []
    for r in repo.results_of(session, row.id):
        values = {**(r.metrics or {}), **r.params}
        if (status is not None and r.status != status) or (parsed and not sweep.passes(values, parsed)):
            continue
        value = values.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            present.append((-value if descending else value, r.combo_index, r))
        else:
            missing.append(r)
    present.sort(key=lambda x: (x[0], x[1]))
    return [r for _, _, r in present] + missing


def optimization_results(
    session: Session,
    principal: Principal,
    optimization_id: uuid.UUID,
    page: PageParams,
    *,
    sort: str | None = None,
    order: str | None = None,
    filters: list[str] | None = None,
    status: str | None = None,
) -> Page[OptimizationResult]:
    """One row per evaluated combination, sorted by any metric or parameter (default: the sweep's metric,
    best first; ties by combination order; rows without the value last), filtered by `metric:op:value`
    and status, paged (Top-N = the first page)."""
    ordered = _ordered(session, principal, optimization_id, sort=sort, order=order, filters=filters, status=status)
    window = ordered[page.offset : page.offset + page.limit]
    return Page[OptimizationResult](
        items=[_result(r) for r in window], total=len(ordered), limit=page.limit, offset=page.offset
    )


def results_csv(
    session: Session,
    principal: Principal,
    optimization_id: uuid.UUID,
    *,
    sort: str | None = None,
    order: str | None = None,
    filters: list[str] | None = None,
    status: str | None = None,
    fmt: str = "csv",
) -> bytes:
    """Every result (sorted and filtered alike) as UTF-8 CSV with a BOM and a header — index, params…,
    status, metrics…, error — or, with `fmt="xlsx"`, the same table as one typed Excel sheet."""
    rows = [
        _result(r)
        for r in _ordered(session, principal, optimization_id, sort=sort, order=order, filters=filters, status=status)
    ]
    params = sorted({k for r in rows for k in r.params})
    metrics = [m for m in sweep.METRICS if any(m in (r.metrics or {}) for r in rows)]
    records = [
        {
            "index": r.index,
            **{p: r.params.get(p) for p in params},
            "status": r.status,
            **{m: (r.metrics or {}).get(m) for m in metrics},
            "error": (r.error or {}).get("message"),
        }
        for r in rows
    ]
    frame = pl.DataFrame(records, infer_schema_length=None) if records else pl.DataFrame({"index": []})
    if fmt == "xlsx":
        return xlsx_bytes(frame, sheet="results")
    return b"\xef\xbb\xbf" + frame.write_csv().encode("utf-8")


def optimization_heatmap(
    session: Session, principal: Principal, optimization_id: uuid.UUID, *, x: str, y: str, metric: str | None = None
) -> Heatmap:
    """The (y × x) matrix of a metric over two parameters; other parameters aggregated by the best."""
    row = _owned(session, principal, optimization_id)
    metric = sweep.check_metric(metric or row.metric, "metric")
    names = set(row.spec.get("grid_spec") or {}) | set(row.spec.get("space") or {}) | set(row.spec.get("params") or {})
    for axis, name in (("x", x), ("y", y)):
        if name not in names:
            raise InvalidInput(
                f"{name!r} is not a parameter of this sweep", field=axis, details={"known": sorted(names)}
            )
    if x == y:
        raise InvalidInput("x and y must be different parameters", field="y")
    results = repo.results_of(session, row.id)
    direction = row.direction if metric == row.metric else "max"
    grid = row.spec.get("grid_spec") or {}
    axes = {name: sweep.axis_values(name, axis) for name, axis in grid.items() if name in (x, y)}
    xs, ys, z = sweep.heatmap([(r.params, r.metrics) for r in results], x, y, metric, direction, axes)
    return Heatmap(
        x=x,
        y=y,
        metric=metric,
        aggregation=f"best ({direction}) over the other parameters",
        x_values=xs,
        y_values=ys,
        z=z,
    )


# --- cancel and promote --------------------------------------------------------------------------------


def cancel_optimization(session: Session, env: BacktestEnv, principal: Principal, optimization_id: uuid.UUID) -> None:
    """Stop every remaining evaluation: queued batches at once, running ones at their next progress point;
    finished rows are kept. Repeating is harmless; a sweep that already ended otherwise is CONFLICT."""
    row = _owned(session, principal, optimization_id, lock=True)
    if row.status == "cancelled":
        return
    if row.status in sweep.TERMINAL:
        raise Conflict(
            f"optimization already {row.status}; it cannot be cancelled",
            details={"optimization_id": str(row.id), "status": row.status},
        )
    _end(session, env, principal, row, repo.tasks_of(session, row.id), "cancelled", "cancelled by the owner")
    session.flush()


def promote(session: Session, env: BacktestEnv, principal: Principal, optimization_id: uuid.UUID, index: int) -> RunIds:
    """A full single run (all artifacts) of one evaluated combination's params."""
    from backtest.service.runs import submit_single

    row = _owned(session, principal, optimization_id)
    result = repo.get_result(session, row.id, index)
    if result is None:
        raise NotFound("no such evaluated combination", details={"optimization_id": str(row.id), "index": index})
    return submit_single(session, env, principal, row.backtest_id, RunCreate(params=dict(result.params)))


# --- one batch (the `backtest.optimize` job) -----------------------------------------------------------


@dataclass
class _Batch:
    task_id: uuid.UUID
    optimization_id: uuid.UUID
    batch_index: int
    first_index: int
    points: list[dict]
    backtest: Any
    source: str
    metric: str


def run_batch(env: BacktestEnv, job: Any, task_id: uuid.UUID) -> dict[str, Any]:
    """Evaluate one batch of a sweep (a `RunAttempt`: progress points stop it on cancel), write its rows
    under the lease and decide what comes next."""
    t0 = time.perf_counter()
    with job.transaction() as session:
        batch = _start_batch(session, job.owner_id, task_id)
    if batch is None:
        return {"task_id": str(task_id), "skipped": True}
    bt = batch.backtest
    gateways.warm_runner(env, batch.source)  # user code: its confined child starts while the bars load
    job.progress(5, f"batch {batch.batch_index}: loading bars")
    with job.transaction() as session:
        members = gateways.context_members(session, bt.context)  # once for every combination of the batch
        inputs = gateways.sweep_inputs(
            session, gateways.context_inputs(session, env, bt.context), batch.source, bt.context.frequency, members
        )
    t_data = time.perf_counter()
    job.progress(20, f"batch {batch.batch_index}: {len(batch.points)} combinations")
    rows, returns, dates, t_targets = _evaluate(env, batch, inputs, members)
    t_sim = time.perf_counter()
    job.progress(80, f"batch {batch.batch_index}: writing results")
    key = None
    if returns is not None:
        evaluated = [index for index, metrics, _, _ in rows if metrics is not None]
        frame = pl.DataFrame({"date": [str(d) for d in dates]}).with_columns(
            [pl.Series(f"c{index}", returns[:, j]) for j, index in enumerate(evaluated)]
        )
        key = env.store.put(
            artifact_key(job.owner_id, batch.optimization_id, f"returns-{batch.batch_index:05d}"), parquet_bytes(frame)
        ).key
    now = utcnow()
    records = [
        {
            "optimization_id": batch.optimization_id,
            "combo_index": index,
            "task_id": batch.task_id,
            "params": params,
            "metrics": metrics,
            "score": (metrics or {}).get(batch.metric),
            "status": "succeeded" if metrics is not None else "failed",
            "error": error,
            "created_at": now,
        }
        for index, metrics, params, error in rows
    ]
    with job.transaction() as session:
        t_w = time.perf_counter()
        # the optimisation's row is locked before its results go in: inserting them takes a key-share lock
        # on that row (their foreign key), and two batches that finished together each held one while
        # waiting for the other's to let their FOR UPDATE through (a deadlock PostgreSQL broke by failing one)
        row = repo.get_optimization(session, job.owner_id, batch.optimization_id, for_update=True)
        inserted = repo.insert_results(session, records)
        principal = accounts.principal_for_user(session, job.owner_id, via="job")
        task = repo.get_task(session, batch.task_id)
        timing = {
            "data_ms": round((t_data - t0) * 1000, 1),
            "targets_ms": round((t_targets - t_data) * 1000, 1),
            "simulation_ms": round((t_sim - t_targets) * 1000, 1),
            "writes_ms": None,
            "combinations": len(records),
            "inserted": inserted,
            "attempt": getattr(job, "attempt", None),
        }
        task.returns_key = key
        if task.status in sweep.ACTIVE_TASKS:
            task.status, task.finished_at = "succeeded", utcnow()
        _advance(session, env, principal, row)
        timing["writes_ms"] = round((time.perf_counter() - t_w) * 1000, 1)
        task.timing = timing
        session.flush()
    return {"task_id": str(task_id), **timing}


def _start_batch(session: Session, owner_id: uuid.UUID, task_id: uuid.UUID) -> _Batch | None:
    task = repo.get_task(session, task_id)
    if task is None:
        raise NotFound("optimization batch not found", details={"task_id": str(task_id)})
    principal = accounts.principal_for_user(session, owner_id, via="job")
    row = _owned(session, principal, task.optimization_id, lock=True)
    if row.status in sweep.TERMINAL or task.status not in sweep.ACTIVE_TASKS:
        return None
    now = utcnow()
    task.status, task.started_at = "running", task.started_at or now
    if row.status == "queued":
        row.status, row.started_at = "running", now
    backtest = backtest_read(owned_backtest(session, principal, row.backtest_id))
    version = strategies.get_version(session, principal, backtest.strategy.version_id)
    session.flush()
    return _Batch(
        task.id, row.id, task.batch_index, task.first_index, list(task.points), backtest, version.source, row.metric
    )


def _error(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, AppError):
        return {"code": str(exc.code), "message": exc.message, "details": clean_json(exc.details)}
    return {"code": str(ErrorCode.INVALID_INPUT), "message": str(exc), "details": {}}


def _evaluate(env: BacktestEnv, batch: _Batch, inputs: gateways.MarketInputs, members: pl.DataFrame | None = None):
    """(rows, returns, dates, time after targets): rows are (index, metrics | None, params, error | None) in
    combination order; returns the (sessions × succeeded) daily returns. With `members` (a point-in-time
    selection) every combination's targets are computed as a single run computes them and masked to the
    membership as a single run's are, then simulated in one vectorised pass."""
    bt = batch.backtest
    config = engine_config(bt.context.rules.model_dump(mode="json"), bt.context.initial_cash, batch.source)
    indexed = list(enumerate(batch.points, start=batch.first_index))
    failed: dict[int, dict] = {}
    template = template_for_source(batch.source)
    targets: list[pl.DataFrame] = []
    if template is not None:
        ok = []
        for index, params in indexed:
            try:
                validate_strategy_params(template, params)
                ok.append((index, params))
            except (ParamError, StrategyError) as exc:
                failed[index] = _error(InvalidInput(str(exc), field=getattr(exc, "field", None)))
        if members is not None:  # the config a single run's targets are computed with
            plain = engine_config(bt.context.rules.model_dump(mode="json"), bt.context.initial_cash)
            ok, targets = _template_targets(template, inputs, ok, failed, plain)
    else:
        ok, targets = _user_targets(env, batch.source, inputs, indexed, failed, config)
    if members is not None:  # nothing held on a session a stock does not belong to
        targets = [gateways.mask_to_membership(t, members) for t in targets]
    t_targets = time.perf_counter()

    def simulate(sets: list[dict]) -> Any:
        if template is not None and members is None:  # indicators shared across the sets
            return run_grid(template, inputs.bars, sets, config, inputs.instruments, inputs.benchmark, returns=True)
        return run_grid_targets(inputs.bars, targets, sets, config, inputs.instruments, inputs.benchmark, returns=True)

    grid = None
    if ok:
        try:
            grid = simulate([p for _, p in ok])
        except (StrategyError, ContractError) as exc:
            for index, _ in ok:
                failed[index] = _error(InvalidInput(f"the strategy's targets were refused: {exc}", field="targets"))
            ok = []
    metrics_by_index: dict[int, dict] = {}
    if grid is not None:
        names = [c for c in grid.summary.columns if c in sweep.METRICS]
        for (index, _), values in zip(ok, grid.summary.select(names).to_dicts(), strict=True):
            metrics_by_index[index] = clean_json(values)
    rows = [(i, metrics_by_index.get(i), p, failed.get(i)) for i, p in indexed]
    returns = grid.returns if grid is not None else None
    dates = grid.dates if grid is not None else None
    return rows, returns, dates, t_targets


def _template_targets(template: Any, inputs: gateways.MarketInputs, ok: list, failed: dict, config: Any):
    """A built-in template's targets of every valid set, as `gateways.run_targets` computes a single run's
    (`compute_targets_grid` on the bars with the declared fields, in process); a strategy error fails
    every set with the message a single run reports."""
    try:
        frames = compute_targets_grid(template, inputs.bars, [p for _, p in ok], config, inputs.instruments)
    except (ParamError, StrategyError) as exc:
        for index, _ in ok:
            failed[index] = _error(InvalidInput(str(exc), field=getattr(exc, "field", None)))
        return [], []
    return ok, frames


def _user_targets(
    env: BacktestEnv, source: str, inputs: gateways.MarketInputs, indexed: list, failed: dict, config: Any
) -> tuple[list, list]:
    """Targets of every set in one confined call (an event-driven strategy's order streams, stepped with
    the batch's engine config); when the strategy raises, each set again on its own, so only the sets
    that fail are failed rows (with the user's message)."""
    timeout = env.settings.strategy_timeout_s
    sets = [p for _, p in indexed]
    bars = inputs.bars
    extra = {"engine_config": config.model_dump(mode="json"), "instruments": inputs.instruments}
    try:
        return indexed, strategies.run_targets(env.strategies, source, bars, sets, timeout_s=timeout, **extra)
    except strategies.StrategyRuntimeError as exc:
        if len(indexed) == 1:
            failed[indexed[0][0]] = _error(exc)
            return [], []
    ok, targets = [], []
    for index, params in indexed:
        try:
            [frame] = strategies.run_targets(env.strategies, source, bars, [params], timeout_s=timeout, **extra)
        except strategies.StrategyRuntimeError as exc:
            failed[index] = _error(exc)
        else:
            ok.append((index, params))
            targets.append(frame)
    return ok, targets
