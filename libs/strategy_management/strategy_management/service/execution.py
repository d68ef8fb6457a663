"""Use cases that execute strategy code — always through the confined runner, never in this process.

- `check_source`: size limit, syntax, static allow-list (no execution).
- `describe` / `prepare_source`: the parameter schema and doc of a source, read by running its module in
  the runner.
- `run_targets`: targets for parameter sets (the backtest job calls this).
- `validate_params` / `resolve_params` / `validate_strategy` / `dry_run`: parameters against a schema; the
  dry run on sample bars.

A run made on a user's request (describe, dry run) takes a slot of `env.admission` first (RATE_LIMITED
beyond its limits) and never happens with a database connection checked out: the functions that run code
take no session, and `validate_strategy` reads, then `release`s the session, then runs. The backtest job's
`run_targets` is bounded by job orchestration instead.
"""

from __future__ import annotations

import ast
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy.orm import Session

from platform_core.db import release
from platform_core.errors import InvalidInput, PayloadTooLarge
from quant import lookahead
from quant.fundamentals import FieldError, declared_fields
from strategy_management import domain
from strategy_management.config import StrategyEnv
from strategy_management.confined_runner import (
    ORDER_STREAM_COLUMNS,
    Outcome,
    RunnerConfig,
    StrategyRuntimeError,
    execute,
    prestart,
)
from strategy_management.schemas import LookaheadAudit, ParamSchema, ValidationReport
from strategy_management.service.reading import get_strategy_version, get_version
from user_auth.principal import Principal

EXCHANGE_TZ = ZoneInfo("Asia/Shanghai")
_DESCRIBE_CACHE_SIZE = 256
# The schema of a source depends on nothing but the source (and the installed engine), so it is cached
# per process by content hash: saving the same code twice runs it once.
_describe_cache: dict[str, dict] = {}


def check_source(env: StrategyEnv, source: str) -> ast.Module:
    """Refuse oversized sources (413), syntax errors and allow-list violations (INVALID_INPUT, with lines)."""
    limit = env.settings.strategy_max_source_bytes
    size = len(source.encode())
    if size > limit:
        raise PayloadTooLarge(
            f"strategy source is {size} bytes, above the {limit}-byte limit",
            details={"field": "source", "limit_bytes": limit, "size_bytes": size},
        )
    try:
        tree = domain.parse(source)
    except domain.SourceSyntaxError as exc:
        where = f"line {exc.line}, column {exc.column}" if exc.line else "the source"
        raise InvalidInput(
            f"syntax error at {where}: {exc.message}",
            field="source",
            details={"line": exc.line, "column": exc.column, "kind": "syntax"},
        ) from None
    violations = domain.check_source(tree)
    if violations:
        first = violations[0]
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        raise InvalidInput(
            f"source refused at line {first.line}: {first.message}{more}",
            field="source",
            details={
                "line": first.line,
                "column": first.column,
                "kind": "forbidden",
                "violations": [v.to_json() for v in violations],
            },
        )
    _check_fields(source)
    return tree


def _check_fields(source: str) -> tuple[str, ...]:
    """The fundamentals the source declares (`FIELDS`); an unknown one is INVALID_INPUT naming it."""
    try:
        return declared_fields(source)
    except FieldError as exc:
        details = {"kind": "fields", **({"unknown_field": exc.name} if exc.name is not None else {})}
        raise InvalidInput(f"source refused: {exc}", field="source", details=details) from None


def _exchange_time(ts: datetime) -> datetime:
    """A bar's naive exchange-local `ts` as an aware datetime (the API's `date-time` carries its offset)."""
    return ts.replace(tzinfo=EXCHANGE_TZ) if ts.tzinfo is None else ts


def _admitted(env: StrategyEnv, principal: Principal, op: str, source: str, config: RunnerConfig, **kw: Any) -> Outcome:
    """One confined run on `principal`'s behalf, inside a slot of the run admission (429 beyond it)."""
    with env.admission.admit(principal.user_id, memory_bytes=config.memory_bytes, wall_seconds=config.wall_seconds):
        return execute(op, source, config, **kw)


def warm_runner(env: StrategyEnv) -> None:
    """Published: start this process's warm confined child now, in the background (a job that is about to
    run user code calls it before loading its data, so the child's start and imports overlap the load)."""
    prestart(env.runner.landlock)


def prepare_source(env: StrategyEnv, principal: Principal, source: str) -> dict:
    """Published: check `source` statically and describe it in the confined runner (no session: call it
    before the write phase, with no connection checked out)."""
    return describe(env, principal, source, check_source(env, source))


def describe(env: StrategyEnv, principal: Principal, source: str, tree: ast.Module) -> dict:
    """`{"params": [...], "doc": str, "grid": bool}` of a checked source; schema errors → INVALID_INPUT
    with the user's line and column."""
    digest = domain.content_hash(source)
    cached = _describe_cache.get(digest)
    if cached is not None:
        return cached
    runner = env.runner.with_timeout(env.settings.strategy_validate_seconds)
    try:
        result = _admitted(env, principal, "describe", source, runner).result
    except StrategyRuntimeError as exc:
        raise _schema_error(exc, tree) from None
    if len(_describe_cache) >= _DESCRIBE_CACHE_SIZE:
        _describe_cache.pop(next(iter(_describe_cache)))
    _describe_cache[digest] = result
    return result


def _schema_error(exc: StrategyRuntimeError, tree: ast.Module) -> InvalidInput:
    details = dict(exc.details)
    field = details.pop("field", None)
    if field:
        details["param"] = field
        details.setdefault("line", domain.param_lines(tree).get(field))
    details.setdefault("line", None)
    details.setdefault("column", None)
    where = f" at line {details['line']}" if details["line"] else ""
    return InvalidInput(f"strategy refused{where}: {exc.message}", field="source", details=details)


def run_targets(
    env: StrategyEnv,
    version_source: str,
    bars: pl.DataFrame,
    param_sets: list[dict],
    *,
    timeout_s: float | None = None,
    engine_config: dict | None = None,
    instruments: pl.DataFrame | None = None,
) -> list[pl.DataFrame]:
    """Published: targets (`ts, symbol, weight|shares`) of `version_source` for each parameter set, computed
    in the confined runner. Raises `StrategyRuntimeError` (INVALID_INPUT, details `{"kind", "traceback"}`).
    For an event-driven strategy, its order stream per set (`quant.event.ORDER_STREAM_COLUMNS`), stepped
    inside the runner with `engine_config` (an `EngineConfig` dict) and `instruments`."""
    return run_targets_logged(
        env, version_source, bars, param_sets, timeout_s=timeout_s, engine_config=engine_config, instruments=instruments
    )[0]


def run_targets_logged(
    env: StrategyEnv,
    version_source: str,
    bars: pl.DataFrame,
    param_sets: list[dict],
    *,
    timeout_s: float | None = None,
    engine_config: dict | None = None,
    instruments: pl.DataFrame | None = None,
) -> tuple[list[pl.DataFrame], list[str]]:
    """Published: `run_targets` and the lines the user's code printed or logged (`quant.sdk.log`), bounded
    and with secrets masked; on an error they are in the error's `details.output`."""
    try:
        check_source(env, version_source)
    except PayloadTooLarge as exc:
        raise StrategyRuntimeError(exc.message, kind="error") from None
    except InvalidInput as exc:
        lines = [f"line {v['line']}: {v['message']}" for v in exc.details.get("violations", [])]
        raise StrategyRuntimeError(exc.message, kind="forbidden", traceback=lines or [exc.message]) from None
    runner = env.runner.with_timeout(timeout_s)
    outcome = execute(
        "targets",
        version_source,
        runner,
        bars=bars,
        param_sets=param_sets,
        engine_config=engine_config,
        instruments=instruments,
    )
    return outcome.frames, outcome.output


def validate_params(
    session: Session, principal: Principal, version_id: uuid.UUID, params: dict[str, Any] | None
) -> dict[str, Any]:
    """Published: `params` coerced against the version's schema with defaults filled in; INVALID_INPUT
    naming the parameter (`details.field = "params.<name>"`) otherwise."""
    version = get_version(session, principal, version_id)
    return resolve_params(version.params_schema, params)


def resolve_params(params_schema: list[ParamSchema], params: dict[str, Any] | None) -> dict[str, Any]:
    """Published: `params` coerced against a parameter schema (a version's, a template's), as `validate_params`."""
    schema = [p.model_dump() for p in params_schema]
    try:
        return domain.validate_params(schema, params)
    except domain.ParamValueError as exc:
        raise InvalidInput(f"parameter {exc.field}: {exc.message}", field=f"params.{exc.field}") from None


def dry_run(env: StrategyEnv, principal: Principal, source: str, params: dict[str, Any]) -> pl.DataFrame:
    """Published: the targets of `source` for resolved `params` on the sample bars, in the confined runner
    within `principal`'s run admission (no session: call it with no connection checked out). The user's
    error is `StrategyRuntimeError`, a refusal of the admission RATE_LIMITED."""
    [targets] = _dry_run(env, principal, source, params).frames
    return targets


def _dry_run(env: StrategyEnv, principal: Principal, source: str, params: dict[str, Any]) -> Any:
    """The confined run of `dry_run`: its outcome (target frames and the user's output lines)."""
    check_source(env, source)
    runner = env.runner.with_timeout(env.settings.strategy_validate_seconds)
    bars = _sample_bars(source)
    return _admitted(env, principal, "targets", source, runner, bars=bars, param_sets=[params])


def _sample_bars(source: str) -> pl.DataFrame:
    """The dry run's sample bars, with the fundamentals the source declares (`FIELDS`)."""
    fields = _check_fields(source)
    return domain.sample_bars(fields=fields)


def validate_strategy(
    session: Session,
    env: StrategyEnv,
    principal: Principal,
    strategy_id: uuid.UUID,
    *,
    version: int | None = None,
    params: dict[str, Any] | None = None,
) -> ValidationReport:
    """Published: static check, parameter check and a dry run on sample bars inside the confined runner.
    The version is read first and the session released before the run (nothing is written)."""
    read = get_strategy_version(session, principal, strategy_id, version)
    release(session)
    check_source(env, read.source)
    resolved = resolve_params(read.params_schema, params)
    bars = _sample_bars(read.source)
    outcome = _dry_run(env, principal, read.source, resolved)
    [targets], output = outcome.frames, outcome.output
    audit = _audit_lookahead(env, principal, read.source, resolved, bars, targets)
    column = targets.columns[2]  # weight | shares, or an event-driven strategy's order `amount`
    nonzero = targets.filter(targets[column].fill_null(0.0) != 0.0).height
    return ValidationReport(
        ok=True,
        version=read.number,
        content_hash=read.content_hash,
        params=resolved,
        sample_symbols=sorted(bars["symbol"].unique().to_list()),
        sample_bars=bars.height,
        target_rows=targets.height,
        target_column=column,
        nonzero_targets=nonzero,
        first_ts=_exchange_time(targets["ts"].min()) if targets.height else None,
        last_ts=_exchange_time(targets["ts"].max()) if targets.height else None,
        output=output,
        lookahead=audit,
    )


def _audit_lookahead(
    env: StrategyEnv, principal: Principal, source: str, params: dict, bars: pl.DataFrame, targets: pl.DataFrame
) -> LookaheadAudit:
    """The dry run's targets against those computed on prefixes of the sample bars (`quant.lookahead`),
    each in the confined runner like the dry run. An event-driven strategy's order stream is not audited:
    it only ever sees the bars up to the current one (the engine refuses later reads)."""
    if tuple(targets.columns) == ORDER_STREAM_COLUMNS:
        return LookaheadAudit(
            status="passed", prefix_ends=[], message="event-driven: reads only the bars up to the current one"
        )
    runner = env.runner.with_timeout(env.settings.strategy_validate_seconds)

    def compute(part: pl.DataFrame) -> pl.DataFrame:
        return _admitted(env, principal, "targets", source, runner, bars=part, param_sets=[params]).frames[0]

    finding, ends = lookahead.audit(compute, bars, targets)
    if finding is None:
        return LookaheadAudit(status="passed", prefix_ends=ends)
    return LookaheadAudit(
        status="LOOKAHEAD", prefix_ends=ends, session=finding.session, symbol=finding.symbol, message=finding.message
    )
