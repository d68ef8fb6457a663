"""Run a backtest: one attempt of a run, the use case behind the `backtest.run` job.

Read the run and its pinned version as the owner → bars of the pinned snapshot → the strategy's targets
(in the confined runner unless the source is a verbatim template) → the engine's `simulate` → Parquet
artifacts in the artifact store → metrics, manifest and artifact references saved. Progress is reported
at each stage, where a cancel request stops the attempt; every unit of work runs under the job's lease.
User errors (the strategy's code, data that no longer fits) are INVALID_INPUT.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from typing import Any, Protocol

import polars as pl
from sqlalchemy.orm import Session

from backtest import gateways
from backtest import repository as repo
from backtest.artifacts import artifact_key
from backtest.config import BacktestEnv
from backtest.domain import canonical, clean_json, engine_config, logs_frame, parquet_bytes
from backtest.schemas import BacktestRead, RunOutcome
from backtest.service._common import backtest_read, owned_backtest, owned_run
from platform_core.errors import AppError, InvalidInput, NotFound
from platform_core.ids import utcnow
from quant import ENGINE_VERSION, RULEBOOK_VERSION, BacktestResult, ContractError, lookahead, simulate
from quant.event import is_order_stream
from strategy_management import service as strategies
from user_auth import service as accounts

LogLine = tuple[str, str, str]  # stage, level, message


class RunAttempt(Protocol):
    """What an attempt needs from the job it runs in (job_orchestration's `JobContext` is one): the owner,
    progress points (raising there stops the attempt, e.g. on cancel) and units of work under the lease."""

    owner_id: uuid.UUID

    def progress(self, pct: float, message: str = "") -> None: ...

    def transaction(self) -> AbstractContextManager[Session]: ...


@dataclass(frozen=True)
class _Plan:
    """Everything one attempt needs, read under the lease."""

    run_id: uuid.UUID
    owner_id: uuid.UUID
    backtest: BacktestRead
    params: dict[str, Any]
    source: str


def run_backtest(env: BacktestEnv, job: RunAttempt, run_id: uuid.UUID) -> RunOutcome:
    """Run `run_id` (a run of `job.owner_id`, NOT_FOUND otherwise) once and save its results; the same
    run, version, params and snapshot always give the same metrics and byte-identical artifacts."""
    with job.transaction() as session:
        plan = _load_plan(session, job.owner_id, run_id)
    gateways.warm_runner(env, plan.source)  # user code: its confined child starts while the bars load
    bt, log = plan.backtest, []
    job.progress(5, f"loading {bt.context.frequency} bars")
    with job.transaction() as session:
        inputs = gateways.context_inputs(session, env, bt.context)
        c = bt.context
        members = gateways.membership(session, c.selection, c.window.start, c.window.end) if c.selection else None
        fields = gateways.strategy_fields(plan.source)
        seen = gateways.with_fields(session, inputs.bars, fields, members, freq=c.frequency)
    log.append(("data", "info", _data_line(bt, inputs.bars)))
    missing = gateways.fields_warning(gateways.field_coverage(seen, fields), c.window.start, c.window.end)
    if missing is not None:  # the strategy is given nulls there: said in the log and the manifest
        log.append(("data", "warning", missing))
    if inputs.bars.is_empty():
        raise InvalidInput("no bars in the pinned snapshot for this universe and window", field="context")
    job.progress(20, f"running strategy on {inputs.bars.height} bars")
    config = engine_config(bt.context.rules.model_dump(mode="json"), bt.context.initial_cash)
    targets, output = gateways.run_targets(
        env, plan.source, seen, plan.params, env.settings.strategy_timeout_s, config, inputs.instruments
    )
    log.append(("strategy", "info", _strategy_line(bt, plan.params, targets)))
    log += [("user", "info", line) for line in output]  # the strategy's own print/log lines
    audit = _audit_lookahead(env, job, plan, seen, targets, log)
    if members is not None:  # a point-in-time selection: nothing held on a session it does not belong to
        targets = gateways.mask_to_membership(targets, members)
    job.progress(60, "simulating")
    result = _simulate(bt, inputs, targets, plan.params, plan.source)
    if audit is not None:
        result.manifest["lookahead"] = audit
    if missing is not None:
        result.manifest["warnings"] = [missing]
    log += _engine_lines(bt, result)
    job.progress(85, "writing artifacts")
    refs = _write_artifacts(env, plan.owner_id, run_id, result, logs_frame(log))
    metrics, manifest = clean_json(result.metrics), _manifest(bt, result)
    with job.transaction() as session:
        _record_result(session, env, plan.owner_id, run_id, metrics=metrics, manifest=manifest, artifacts=refs)
    return RunOutcome(run_id=run_id, total_return=metrics.get("total_return"), sharpe=metrics.get("sharpe"))


def warm_reads(session: Session) -> None:
    """The statements a run's attempt reads with — its own and those of the contexts it reads from — run for
    a run that does not exist, changing nothing: the `backtest.run` kind's `warm`, which a worker parent
    runs once before it forks work-horses (`job_orchestration.attempt.warm`)."""
    ghost = uuid.uuid4()
    with suppress(AppError):  # the owner does not exist either: UNAUTHORIZED, after its one statement
        accounts.principal_for_user(session, ghost, via="job")
    repo.get_run(session, ghost, ghost)
    repo.get_run(session, ghost, ghost, for_update=True)
    repo.get_backtest(session, ghost, ghost)
    strategies.warm_reads(session)
    gateways.warm_market_reads(session)


def _audit_lookahead(
    env: BacktestEnv, job: RunAttempt, plan: _Plan, bars: pl.DataFrame, targets: pl.DataFrame, log: list[LogLine]
) -> dict[str, Any] | None:
    """The look-ahead audit the backtest's rules ask for (`audit_lookahead`): the targets recomputed on
    prefixes of the window (`quant.lookahead`, the same confined call as the run's) must equal the whole
    window's up to each prefix's end (forward-adjusted levels are the `qfq_pit` adjustment's business). A
    difference is a LOOKAHEAD warning in the log and the manifest, or, with `strict`, fails the run
    (INVALID_INPUT naming the first session and symbol)."""
    mode = plan.backtest.context.rules.audit_lookahead
    if mode == "off":
        return None
    if is_order_stream(targets):  # an event-driven strategy: the engine never shows it a later bar
        log.append(("audit", "info", "look-ahead audit: an event-driven strategy reads only the bars up to each one"))
        return {"status": "passed", "prefix_ends": [], "model": "event"}
    job.progress(40, "auditing look-ahead on prefixes of the window")
    timeout = env.settings.strategy_timeout_s
    finding, ends = lookahead.audit(
        lambda part: gateways.run_targets(env, plan.source, part, plan.params, timeout)[0], bars, targets
    )
    if finding is None:
        log.append(("audit", "info", f"look-ahead audit: the targets on the prefixes ending {', '.join(ends)} match"))
        return {"status": "passed", "prefix_ends": ends}
    if mode == "strict":
        raise InvalidInput(finding.message, field="strategy", details=finding.to_json())
    log.append(("audit", "warning", finding.message))
    return {"status": "warning", "prefix_ends": ends, **finding.to_json()}


def _load_plan(session: Session, owner_id: uuid.UUID, run_id: uuid.UUID) -> _Plan:
    """The run, its backtest and the exact strategy source, as the owner (NOT_FOUND if gone)."""
    principal = accounts.principal_for_user(session, owner_id, via="job")
    row = owned_run(session, principal, run_id)
    backtest = backtest_read(owned_backtest(session, principal, row.backtest_id))
    version = strategies.get_version(session, principal, backtest.strategy.version_id)
    return _Plan(run_id=row.id, owner_id=owner_id, backtest=backtest, params=dict(row.params), source=version.source)


def _record_result(
    session: Session,
    env: BacktestEnv,
    owner_id: uuid.UUID,
    run_id: uuid.UUID,
    *,
    metrics: dict[str, Any],
    manifest: dict[str, Any],
    artifacts: dict[str, dict[str, Any]],
) -> None:
    """Save the metrics summary, manifest and artifact references of a run (under the job's lease); the
    first time, count the artifacts' bytes against the owner's monthly `artifact_bytes` quota (a hint
    only: the work is done, so even a hard quota does not refuse it here)."""
    row = repo.get_run(session, owner_id, run_id, for_update=True)
    if row is None:
        raise NotFound("run not found", details={"run_id": str(run_id)})
    first = row.completed_at is None
    row.metrics, row.manifest, row.artifacts, row.completed_at = metrics, manifest, artifacts, utcnow()
    session.flush()
    if first:
        owner = accounts.principal_for_user(session, owner_id, via="job")
        stored = sum(int(ref.get("bytes", 0)) for ref in artifacts.values())
        accounts.record_usage(session, env.auth, owner, "artifact_bytes", stored, enforce=False)


def _data_line(bt: BacktestRead, bars: pl.DataFrame) -> str:
    c = bt.context
    symbols = bars["symbol"].n_unique() if bars.height else 0
    return (
        f"snapshot {c.datasource_version} ({c.datasource}): {bars.height} {c.frequency} bars of {symbols} "
        f"symbols, {c.window.start}..{c.window.end}, adjust {c.adjust}"
        + (f", benchmark {c.benchmark}" if c.benchmark else "")
    )


def _strategy_line(bt: BacktestRead, params: dict[str, Any], targets: pl.DataFrame) -> str:
    s = bt.strategy
    return (
        f"{s.strategy_name} v{s.version_number} ({s.content_hash[:19]}) params {canonical(params)}: "
        f"{targets.height} target rows"
    )


def _simulate(
    bt: BacktestRead, inputs: gateways.MarketInputs, targets: pl.DataFrame, params: dict[str, Any], source: str
) -> BacktestResult:
    config = engine_config(bt.context.rules.model_dump(mode="json"), bt.context.initial_cash, source)
    try:
        return simulate(inputs.bars, targets, config, inputs.instruments, inputs.benchmark, params=params)
    except ContractError as exc:
        raise InvalidInput(f"the strategy's targets were refused: {exc}", field="targets") from None


def _engine_lines(bt: BacktestRead, result: BacktestResult) -> list[LogLine]:
    rules = bt.context.rules
    lines = [
        (
            "engine",
            "info",
            f"engine {ENGINE_VERSION}, rulebook {RULEBOOK_VERSION if rules.preset == 'a-share' else '-'}"
            f", preset {rules.preset}, fill {rules.fill}",
        )
    ]
    lines += [
        ("data", "info", f"check {name}: {canonical(value)}")
        for name, value in sorted((result.manifest.get("checks") or {}).items())
    ]
    orders = result.orders
    lines.append(
        ("engine", "info", f"{orders.height} orders, {result.fills.height} fills, {result.trades.height} round trips")
    )
    if orders.height:
        blocked = orders.filter(pl.col("status") != "filled")
        for (status, reason), count in sorted(
            Counter(zip(blocked["status"], blocked["reason"].fill_null(""), strict=True)).items()
        ):
            lines.append(("engine", "warning", f"{count} orders {status}: {reason or 'unspecified'}"))
    m = result.metrics
    lines.append(("result", "info", f"final equity {m.get('final_equity')}, total return {m.get('total_return')}"))
    return lines


def _write_artifacts(
    env: BacktestEnv, owner_id: uuid.UUID, run_id: uuid.UUID, result: BacktestResult, logs: pl.DataFrame
) -> dict[str, dict[str, Any]]:
    frames = {
        "equity": result.equity,
        "trades": result.trades,
        "orders": result.orders,
        "positions": result.positions,
        "fills": result.fills,
        "logs": logs,
    }
    refs = {}
    for kind, frame in frames.items():
        stored = env.store.put(artifact_key(owner_id, run_id, kind), parquet_bytes(frame))
        refs[kind] = {"key": stored.key, "rows": frame.height, "bytes": stored.bytes, "sha256": stored.sha256}
    return refs


def _manifest(bt: BacktestRead, result: BacktestResult) -> dict[str, Any]:
    """The engine's manifest plus what pins the run: strategy version and data snapshot."""
    pins = {
        "backtest_id": str(bt.id),
        "strategy": bt.strategy.model_dump(mode="json"),
        "data": {
            "snapshot_id": bt.context.datasource_version,
            "source": bt.context.datasource,
            "frequency": bt.context.frequency,
            "universe": bt.context.universe,
            "window": bt.context.window.model_dump(mode="json"),
            "adjust": bt.context.adjust,
            "benchmark": bt.context.benchmark,
        },
    }
    engine = json.loads(json.dumps(result.manifest, default=str))
    engine.update(strategy_name=bt.strategy.strategy_name, strategy_hash=bt.strategy.content_hash)
    return clean_json({**engine, **pins})
