"""The `backtest.run` job handler (registered by the composition app with job_orchestration).

One attempt: read the run and its pinned version under the lease → bars of the pinned snapshot → the
user's targets in the confined runner → the engine's `simulate` → Parquet artifacts in the artifact store
→ metrics, manifest and artifact references saved under the lease. Progress is reported at each stage
(a cancel request stops the attempt there). User errors (the strategy's code, data that no longer fits)
are INVALID_INPUT and fail the run at once with the user's message; anything else is retried.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import polars as pl

from backtest import gateways, service
from backtest.config import BacktestEnv
from backtest.domain import canonical, clean_json, engine_config, logs_frame, parquet_bytes
from backtest.schemas import BacktestRead
from job_orchestration.registry import JobContext
from platform_core.errors import InvalidInput
from quant import ENGINE_VERSION, RULEBOOK_VERSION, BacktestResult, ContractError, simulate

KIND = gateways.JOB_KIND


def handler(env: BacktestEnv):
    """The job handler bound to this process's backtest env."""

    def run(ctx: JobContext) -> dict[str, Any]:
        return run_backtest_job(ctx, env)

    return run


def run_backtest_job(ctx: JobContext, env: BacktestEnv) -> dict[str, Any]:
    run_id = uuid.UUID(str(ctx.payload["run_id"]))
    with ctx.transaction() as session:
        plan = service.load_plan(session, ctx.owner_id, run_id)
    bt, log = plan.backtest, []
    ctx.progress(5, f"loading {bt.context.frequency} bars")
    with ctx.transaction() as session:
        inputs = gateways.load_inputs(
            session,
            env,
            symbols=bt.context.universe,
            freq=bt.context.frequency,
            start=bt.context.window.start,
            end=bt.context.window.end,
            adjust=bt.context.adjust,
            snapshot_id=bt.context.datasource_version,
            benchmark=bt.context.benchmark,
        )
    log.append(("data", "info", _data_line(bt, inputs.bars)))
    if inputs.bars.is_empty():
        raise InvalidInput("no bars in the pinned snapshot for this universe and window", field="context")
    ctx.progress(20, f"running strategy on {inputs.bars.height} bars")
    targets = gateways.run_targets(env, plan.source, inputs.bars, plan.params, env.settings.strategy_timeout_s)
    log.append(
        (
            "strategy",
            "info",
            f"{bt.strategy.strategy_name} v{bt.strategy.version_number} "
            f"({bt.strategy.content_hash[:19]}) params {canonical(plan.params)}: {targets.height} target rows",
        )
    )
    ctx.progress(60, "simulating")
    result = _simulate(bt, inputs, targets, plan.params)
    log += _engine_lines(bt, result)
    ctx.progress(85, "writing artifacts")
    refs = _write_artifacts(env, plan.owner_id, run_id, result, logs_frame(log))
    metrics, manifest = clean_json(result.metrics), _manifest(bt, result)
    with ctx.transaction() as session:
        service.record_result(session, plan.owner_id, run_id, metrics=metrics, manifest=manifest, artifacts=refs)
    return {"run_id": str(run_id), "total_return": metrics.get("total_return"), "sharpe": metrics.get("sharpe")}


def _data_line(bt: BacktestRead, bars: pl.DataFrame) -> str:
    c = bt.context
    symbols = bars["symbol"].n_unique() if bars.height else 0
    return (
        f"snapshot {c.datasource_version} ({c.datasource}): {bars.height} {c.frequency} bars of {symbols} "
        f"symbols, {c.window.start}..{c.window.end}, adjust {c.adjust}"
        + (f", benchmark {c.benchmark}" if c.benchmark else "")
    )


def _simulate(bt: BacktestRead, inputs: gateways.MarketInputs, targets: pl.DataFrame, params: dict) -> BacktestResult:
    config = engine_config(bt.context.rules.model_dump(mode="json"), bt.context.initial_cash)
    try:
        return simulate(inputs.bars, targets, config, inputs.instruments, inputs.benchmark, params=params)
    except ContractError as exc:
        raise InvalidInput(f"the strategy's targets were refused: {exc}", field="targets") from None


def _engine_lines(bt: BacktestRead, result: BacktestResult) -> list[tuple[str, str, str]]:
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
        stored = env.store.put(service.artifact_location(owner_id, run_id, kind), parquet_bytes(frame))
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
