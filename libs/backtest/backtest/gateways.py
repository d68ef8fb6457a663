"""The calls to other contexts (their published services) that translate their types or errors.

strategy_management: the version a backtest pins (or the template it copies), the dry run, the strategy's
targets (confined runner).
market_data: symbols, calendar, snapshots, coverage, bars, instruments, benchmark.
job_orchestration: submit and cancel a run's job. Calls that translate nothing (reading a version or a
job, checking params, a version reference, the principal a job acts for) are made by the service directly.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import polars as pl
from pydantic import ValidationError
from sqlalchemy.orm import Session

from backtest.config import BacktestEnv
from backtest.domain import canonical
from backtest.schemas import MAX_SELECTION, BacktestContext, ContextRead, StrategyRef, UniverseSelection
from job_orchestration import service as jobs
from job_orchestration.schemas import JobRead
from market_data import service as market
from platform_core.errors import AppError, ErrorCode, InvalidInput, NotFound, invalid_input_from
from platform_core.ids import new_id
from quant.config import EngineConfig
from quant.fundamentals import (
    UNIVERSE_COLUMN,
    FieldError,
    declared_fields,
    join_fundamentals,
    member_flags,
    with_membership,
)
from quant.strategy import ParamError, StrategyError, compute_targets_grid
from quant.templates import template_for_source
from strategy_management import service as strategies
from strategy_management.schemas import FromTemplate, ParamSchema, StrategyCreate, TemplateRead, VersionRead
from user_auth.principal import Principal

JOB_KIND = "backtest.run"
OPTIMIZE_KIND = "backtest.optimize"
_DRY_RUNS: OrderedDict[str, bool] = OrderedDict()
_DRY_RUN_CACHE_SIZE = 256


# --- strategies ------------------------------------------------------------------------------------------


def read_version(session: Session, principal: Principal, ref: StrategyRef) -> VersionRead:
    """The version a backtest pins by id or as the latest of a strategy (read only)."""
    if ref.version_id is not None:
        return _field(lambda: strategies.get_version(session, principal, ref.version_id), "strategyRef.version_id")
    return _field(lambda: strategies.latest_version(session, principal, ref.strategy_id), "strategyRef.strategy_id")


def template_of(ref: StrategyRef) -> TemplateRead:
    """The built-in template a backtest copies (NOT_FOUND naming `strategyRef.template`)."""
    return _field(lambda: strategies.template_source(ref.template), "strategyRef.template")


def template_params(template: TemplateRead, params: dict[str, Any] | None) -> dict[str, Any]:
    """`params` checked against the template's parameter schema (as `validate_params` does for a version)."""
    return strategies.resolve_params(template.params, params)


def describe_template(env: BacktestEnv, principal: Principal, template: TemplateRead) -> dict[str, Any]:
    """The template's source checked and described in the confined runner (no session)."""
    return _field(lambda: strategies.prepare_source(env.strategies, principal, template.source), "strategyRef.template")


def copy_template(
    session: Session,
    env: BacktestEnv,
    principal: Principal,
    ref: StrategyRef,
    described: dict[str, Any] | None,
) -> VersionRead:
    """A fresh copy of a template as a new strategy of the caller's; its version 1."""
    name = ref.name or f"{ref.template}-{new_id().hex[-8:]}"
    created = _field(
        lambda: strategies.create_from_template(
            session, env.strategies, principal, FromTemplate(template=ref.template, name=name), described=described
        ),
        "strategyRef.template",
    )
    return strategies.get_version(session, principal, created.latest_version.id)


def describe_code(env: BacktestEnv, principal: Principal, code: str) -> dict[str, Any]:
    """Inline `strategyRef.code` checked statically and described in the confined runner (no session) —
    the errors of saving a strategy, naming `strategyRef.code`."""
    return _field(lambda: strategies.prepare_source(env.strategies, principal, code), "strategyRef.code")


def code_params(described: dict[str, Any], params: dict[str, Any] | None) -> dict[str, Any]:
    """`params` checked against the parameter schema the inline code declares."""
    schema = [ParamSchema.model_validate(p) for p in described.get("params", [])]
    return strategies.resolve_params(schema, params)


def create_inline(
    session: Session, env: BacktestEnv, principal: Principal, ref: StrategyRef, described: dict[str, Any]
) -> VersionRead:
    """Inline code saved as a new strategy of the caller's (as `describe_code` described it); its version 1."""
    try:
        body = StrategyCreate(
            name=ref.name or f"inline-{new_id().hex[-8:]}", source=ref.code, message="inline code of a backtest"
        )
    except ValidationError as exc:
        raise invalid_input_from(exc, prefix="strategyRef", message="invalid inline strategy") from None
    created = _field(
        lambda: strategies.create_strategy(session, env.strategies, principal, body, described=described),
        "strategyRef.code",
    )
    return strategies.get_version(session, principal, created.latest_version.id)


def _field(call: Any, field: str) -> Any:
    """Run `call`, naming `field` in the details of an INVALID_INPUT or NOT_FOUND it raises."""
    try:
        return call()
    except AppError as exc:
        if exc.code in (ErrorCode.INVALID_INPUT, ErrorCode.NOT_FOUND):
            exc.details = {**exc.details, "field": field}
        raise


def dry_run(env: BacktestEnv, principal: Principal, source: str, params: dict[str, Any], *, field: str) -> None:
    """The strategy's dry run on sample bars in the confined runner, with no session (cached per source and
    parameters: the sample bars are fixed, so the outcome is too). Raises the user's error as
    INVALID_INPUT naming `field`, a full run admission as RATE_LIMITED."""
    key = f"{hashlib.sha256(source.encode()).hexdigest()}:{canonical(params)}"
    if key in _DRY_RUNS:
        return
    _field(lambda: strategies.dry_run(env.strategies, principal, source, params), field)
    _DRY_RUNS[key] = True
    while len(_DRY_RUNS) > _DRY_RUN_CACHE_SIZE:
        _DRY_RUNS.popitem(last=False)


def warm_runner(env: BacktestEnv, source: str) -> None:
    """Before a job loads its data: start the confined runner's warm child when `source` is user code (a
    built-in template runs in this process and needs none)."""
    if template_for_source(source) is None:
        strategies.warm_runner(env.strategies)


def run_targets(
    env: BacktestEnv,
    source: str,
    bars: pl.DataFrame,
    params: dict[str, Any],
    timeout_s: float,
    config: EngineConfig | None = None,
    instruments: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, list[str]]:
    """Targets of a strategy version's source and the lines it printed or logged. User code runs in the
    confined runner, never in this process; a version whose source is byte for byte a built-in template is
    the engine's own code (which prints nothing), so it runs here (the same call the runner makes, without
    the ~0.5 s start of a confined interpreter). An event-driven strategy steps the simulator with `config`
    and `instruments` and gives its order stream, which `quant.engine.simulate` replays."""
    template = template_for_source(source)
    if template is None:
        [targets], output = strategies.run_targets_logged(
            env.strategies,
            source,
            bars,
            [params],
            timeout_s=timeout_s,
            engine_config=config.model_dump(mode="json") if config is not None else None,
            instruments=instruments,
        )
        return targets, output
    try:
        [targets] = compute_targets_grid(template, bars, [params], config, instruments)
    except (ParamError, StrategyError) as exc:  # reported as the runner reports them
        raise strategies.StrategyRuntimeError.of_kind("error", str(exc), field=getattr(exc, "field", None)) from None
    return targets, []


# --- market data ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarketPin:
    symbols: list[str]
    benchmark: str | None
    snapshot_id: str
    source: str
    warnings: list[str] = field(default_factory=list)


def check_market(session: Session, context: BacktestContext) -> MarketPin:
    """Validate the context against the data: known codes, a window with sessions, a snapshot holding bars
    of the frequency for every code. INVALID_INPUT naming the field otherwise; a benchmark without daily bars
    over the window in the snapshot is a warning (the runs have no benchmark curve), never a silent drop."""
    start, end = context.window.start, context.window.end
    if end < start:
        raise InvalidInput(
            f"window end {end} is before start {start}",
            field="context.window",
            details={"start": start.isoformat(), "end": end.isoformat()},
        )
    selection = context.universe if isinstance(context.universe, UniverseSelection) else None
    if selection is None:
        symbols = _field(lambda: market.validate_symbols(session, list(context.universe)), "context.universe")
    benchmark = None
    if context.benchmark:
        [benchmark] = _field(lambda: market.validate_symbols(session, [context.benchmark]), "context.benchmark")
    sessions = _field(lambda: market.trading_sessions(session, start, end), "context.window")
    if not sessions:
        raise InvalidInput(
            f"no trading sessions between {start} and {end}",
            field="context.window",
            details={"start": start.isoformat(), "end": end.isoformat()},
        )
    snapshot = _snapshot(session, context.datasource_version)
    warnings = []
    if selection is not None:
        symbols, dropped = _selected(session, snapshot.id, context.frequency, selection, start, end)
        if dropped:
            warnings.append(
                f"{len(dropped)} stocks of the selection have no {context.frequency} bars in snapshot "
                f"{snapshot.id} and are left out: {', '.join(dropped[:20])}{' …' if len(dropped) > 20 else ''}"
            )
    _require_coverage(session, snapshot.id, context.frequency, symbols, start, end)
    if benchmark is not None and not _covered(session, snapshot.id, "1d", [benchmark], start, end):
        warnings.append(
            f"benchmark {benchmark} has no daily bars between {start} and {end} in snapshot {snapshot.id}: "
            "the runs will have no benchmark curve (sync it, or pin a snapshot that holds it)"
        )
    return MarketPin(
        symbols=symbols, benchmark=benchmark, snapshot_id=snapshot.id, source=snapshot.source, warnings=warnings
    )


def membership(session: Session, selection: UniverseSelection, start: date, end: date) -> pl.DataFrame:
    """(date, symbol) of the selection on every session of [start, end], point in time (market_data)."""
    return _field(
        lambda: market.universe_membership(
            session,
            index=selection.index,
            start=start,
            end=end,
            boards=selection.boards,
            exclude_st=selection.exclude_st,
            min_listed_sessions=selection.min_listed_sessions,
            min_float_value=selection.min_float_value,
            min_turnover=selection.min_turnover,
        ),
        "context.universe",
    )


def _selected(
    session: Session, snapshot_id: str, freq: str, selection: UniverseSelection, start: date, end: date
) -> tuple[list[str], list[str]]:
    """The selection's codes with bars in the snapshot (at most MAX_SELECTION), and those without."""
    members = sorted(membership(session, selection, start, end)["symbol"].unique().to_list())
    covered = _covered(session, snapshot_id, freq, members, start, end)
    kept = [s for s in members if s in covered]
    if not kept:
        raise InvalidInput(
            f"the selection holds no stock with {freq} bars between {start} and {end} in snapshot {snapshot_id}",
            field="context.universe",
            details={"members": len(members), "snapshot_id": snapshot_id},
        )
    if len(kept) > MAX_SELECTION:
        raise InvalidInput(
            f"the selection holds {len(kept)} stocks; at most {MAX_SELECTION} per backtest",
            field="context.universe",
            details={"stocks": len(kept), "limit": MAX_SELECTION},
        )
    return kept, [s for s in members if s not in covered]


def mask_to_membership(targets: pl.DataFrame, members: pl.DataFrame) -> pl.DataFrame:
    """The targets with every (session, symbol) outside the selection's membership set to 0 (weight or
    shares): a stock is held only on the sessions it belongs to."""
    member = member_flags(targets, members, pl.col("ts").dt.date())
    zeroed = [
        pl.when(member).then(pl.col(c)).otherwise(pl.lit(0, dtype=targets.schema[c])).alias(c)
        for c in ("weight", "shares")
        if c in targets.columns
    ]
    return targets.with_columns(zeroed)


def strategy_fields(source: str, *, field: str = "strategyRef") -> tuple[str, ...]:
    """The fundamentals a strategy's source declares (`FIELDS`); INVALID_INPUT naming `field` and the
    unknown name otherwise."""
    try:
        return declared_fields(source)
    except FieldError as exc:
        details = {"unknown_field": exc.name} if exc.name is not None else {}
        raise InvalidInput(str(exc), field=field, details=details) from None


def with_fields(
    session: Session, bars: pl.DataFrame, fields: tuple[str, ...], members: pl.DataFrame | None, *, freq: str
) -> pl.DataFrame:
    """The bars a strategy declaring `fields` sees: one column per field from market_data's `fundamentals`
    as known at each bar's decision time (`quant.fundamentals`: a daily bar of t carries t's daily_basic,
    an intraday bar the previous session's) and `in_universe` (membership on that session, whether or not
    it declares fields, so its ranking sees each session's members only). Unchanged for an explicit list
    (`members` None) and no fields: the engine's frame then says every stock is in the universe."""
    if bars.is_empty() or (not fields and members is None):
        return bars
    if not fields:
        return with_membership(bars, members)
    symbols = bars["symbol"].unique().sort().to_list()
    start, end = bars["date"].min(), bars["date"].max()
    known = _field(lambda: market.fundamentals(session, symbols, start - _KNOWN_WITHIN, end), "context.universe")
    return with_membership(join_fundamentals(bars, known, fields, intraday=freq != "1d"), members)


def sweep_inputs(
    session: Session, inputs: MarketInputs, source: str, freq: str, members: pl.DataFrame | None = None
) -> MarketInputs:
    """`inputs` of a sweep whose bars carry the fields the strategy declares and `in_universe` (`members`:
    the point-in-time membership of a selection, None for an explicit list, where every stock is in the
    universe) — what a single run's strategy sees; the engine's `normalize_bars` drops them again before
    simulating."""
    fields = strategy_fields(source)
    if not fields and members is None:
        return inputs
    bars = with_fields(session, inputs.bars, fields, members, freq=freq)
    return MarketInputs(bars=bars, instruments=inputs.instruments, benchmark=inputs.benchmark)


def context_members(session: Session, context: ContextRead) -> pl.DataFrame | None:
    """The point-in-time membership (date, symbol) of a backtest's selection over its whole window, resolved
    once through market_data (a sweep's batch or validation reads it once for all its combinations and
    folds); None for an explicit list."""
    if context.selection is None:
        return None
    return membership(session, context.selection, context.window.start, context.window.end)


_KNOWN_WITHIN = timedelta(days=31)  # how far before the window a bar's newest daily_basic row may be


def field_coverage(frame: pl.DataFrame, fields: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """Per declared field: (stock-sessions with a value known, stock-sessions) over the rows of `frame` that
    belong to the universe (`in_universe`, all rows when absent) — what the strategy sees as non-null."""
    if UNIVERSE_COLUMN in frame.columns:
        frame = frame.filter(pl.col(UNIVERSE_COLUMN))
    return {f: (int(frame.height - frame[f].null_count()), int(frame.height)) for f in fields}


def fields_warning(coverage: dict[str, tuple[int, int]], start: date, end: date) -> str | None:
    """The warning naming each declared field that is not known on every stock-session, with its coverage;
    None when all are complete."""
    partial = [(f, known, total) for f, (known, total) in coverage.items() if known < total]
    if not partial:
        return None
    parts = ", ".join(f"{f} on {known:,} of {total:,} ({100 * known / total:.1f}%)" for f, known, total in partial)
    return (
        f"fundamentals missing: the strategy's FIELDS are known {parts} stock-sessions between {start} and "
        f"{end}; it sees null elsewhere (sync daily_basic: huice data sync --dataset daily_basic)"
    )


def check_fields(
    session: Session, context: BacktestContext, pin: MarketPin, fields: tuple[str, ...], *, field: str
) -> list[str]:
    """The fundamentals a strategy declares, checked against market_data's daily_basic over the universe's
    stock-sessions (a selection: its point-in-time membership; a list: every session each code has bars in
    the snapshot), as a run's bars would carry them. A field known on none of them is INVALID_INPUT naming
    `field` (the strategy would rank on nulls only: no result could mean anything); a field known on only
    some gives the warning of `fields_warning`."""
    if not fields:
        return []
    start, end = context.window.start, context.window.end
    selection = context.universe if isinstance(context.universe, UniverseSelection) else None
    if selection is not None:
        pairs = membership(session, selection, start, end).filter(pl.col("symbol").is_in(pin.symbols))
    else:
        pairs = _listed_pairs(session, pin.snapshot_id, context.frequency, pin.symbols, start, end)
    pairs = pairs.select("symbol", "date").sort("symbol", "date")
    if pairs.is_empty():
        return []
    basics = _field(lambda: market.fundamentals(session, pin.symbols, start - _KNOWN_WITHIN, end), "context.universe")
    known = join_fundamentals(pairs, basics, fields, intraday=context.frequency != "1d")
    coverage = field_coverage(known, fields)
    empty = [f for f, (n, _) in coverage.items() if n == 0]
    if empty:
        raise InvalidInput(
            f"the strategy declares FIELDS {', '.join(fields)}, but market_data holds no {', '.join(empty)} "
            f"(daily_basic) for its universe between {start} and {end}: sync daily_basic "
            "(huice data sync --dataset daily_basic) or load the sample",
            field=field,
            details={"missing_fields": empty, "coverage": {f: list(c) for f, c in coverage.items()}},
        )
    warning = fields_warning(coverage, start, end)
    return [warning] if warning else []


def _listed_pairs(
    session: Session, snapshot_id: str, freq: str, symbols: list[str], start: date, end: date
) -> pl.DataFrame:
    """(symbol, date) of every session of [start, end] inside each code's bar coverage in the snapshot."""
    sessions = pl.DataFrame({"date": market.trading_sessions(session, start, end)}, schema={"date": pl.Date})
    wanted = set(symbols)
    spans = [
        (p.symbol, p.first_date, p.last_date)
        for p in market.coverage(session, snapshot_id=snapshot_id, freq=freq)
        if p.symbol in wanted and p.rows and p.first_date is not None and p.last_date is not None
    ]
    frame = pl.DataFrame(spans, schema={"symbol": pl.Utf8, "first": pl.Date, "last": pl.Date}, orient="row")
    frame = frame.group_by("symbol").agg(pl.col("first").min(), pl.col("last").max())
    return (
        frame.join(sessions, how="cross")
        .filter(pl.col("date").is_between(pl.col("first"), pl.col("last")))
        .select("symbol", "date")
    )


def _snapshot(session: Session, snapshot_id: str | None) -> Any:
    try:
        return market.get_snapshot(session, snapshot_id) if snapshot_id else market.default_snapshot(session)
    except NotFound as exc:
        raise InvalidInput(exc.message, field="context.datasource_version", details=exc.details) from None


def _require_coverage(
    session: Session, snapshot_id: str, freq: str, symbols: list[str], start: date, end: date
) -> None:
    covered = _covered(session, snapshot_id, freq, symbols, start, end)
    missing = [s for s in symbols if s not in covered]
    if missing:
        raise InvalidInput(
            f"no {freq} bars between {start} and {end} in snapshot {snapshot_id} for: {', '.join(missing)}",
            field="context.frequency" if len(missing) == len(symbols) else "context.universe",
            details={"frequency": freq, "missing": missing, "snapshot_id": snapshot_id},
        )


def _covered(session: Session, snapshot_id: str, freq: str, symbols: list[str], start: date, end: date) -> set[str]:
    """Those of `symbols` with bars of `freq` between `start` and `end` in the snapshot."""
    parts, wanted = market.coverage(session, snapshot_id=snapshot_id, freq=freq), set(symbols)
    return {
        p.symbol
        for p in parts
        if p.symbol in wanted
        and p.rows
        and p.first_date is not None
        and p.last_date is not None
        and p.first_date <= end
        and p.last_date >= start
    }


@dataclass
class MarketInputs:
    bars: pl.DataFrame
    instruments: pl.DataFrame
    benchmark: pl.DataFrame | None


def load_inputs(
    session: Session,
    env: BacktestEnv,
    *,
    symbols: list[str],
    freq: str,
    start: date,
    end: date,
    adjust: str,
    snapshot_id: str,
    benchmark: str | None,
) -> MarketInputs:
    """Bars, instrument reference and benchmark of the pinned snapshot (read together: `market.get_inputs`)."""
    bars, instruments, bench = market.get_inputs(
        session, env.market, symbols=symbols, freq=freq, start=start, end=end, adjust=adjust,
        snapshot_id=snapshot_id, benchmark=benchmark,
    )  # fmt: skip
    return MarketInputs(bars=bars, instruments=instruments, benchmark=bench)


def warm_market_reads(session: Session) -> None:
    """market_data's statements of `load_inputs` (see `service.attempt.warm_reads`)."""
    market.warm_reads(session)


def context_inputs(
    session: Session, env: BacktestEnv, context: BacktestContext, *, start: date | None = None, end: date | None = None
) -> MarketInputs:
    """`load_inputs` for a backtest's context (universe, frequency, adjustment, pinned snapshot, benchmark),
    over its window or the part `start`..`end` of it."""
    return load_inputs(
        session,
        env,
        symbols=context.universe,
        freq=context.frequency,
        start=start or context.window.start,
        end=end or context.window.end,
        adjust=context.adjust,
        snapshot_id=context.datasource_version,
        benchmark=context.benchmark,
    )


# --- jobs ----------------------------------------------------------------------------------------------


def submit_job(
    session: Session, env: BacktestEnv, principal: Principal, run_id: uuid.UUID, *, priority: str, budget_s: int
) -> JobRead:
    return jobs.submit(
        session,
        env.jobs,
        principal,
        kind=JOB_KIND,
        payload={"run_id": str(run_id)},
        priority=priority,
        idempotency_key=f"{JOB_KIND}:{run_id}",
        budget_s=budget_s,
    )


def cancel_job(session: Session, env: BacktestEnv, principal: Principal, job_id: uuid.UUID) -> JobRead:
    return jobs.cancel(session, env.jobs, principal, job_id)


def submit_batch_job(
    session: Session,
    env: BacktestEnv,
    principal: Principal,
    task_id: uuid.UUID,
    optimization_id: uuid.UUID,
    *,
    priority: str,
    budget_s: int,
) -> JobRead:
    """One batch of a sweep as an ordinary job; `parent_id` groups a sweep's batch jobs under its id."""
    return jobs.submit(
        session,
        env.jobs,
        principal,
        kind=OPTIMIZE_KIND,
        payload={"task_id": str(task_id)},
        priority=priority,
        idempotency_key=f"{OPTIMIZE_KIND}:{task_id}",
        parent_id=optimization_id,
        budget_s=budget_s,
    )
