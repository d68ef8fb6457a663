"""Tables of the backtest context (schema `backtest`) and every query. Private to the context.

Every query that reaches a backtest, run or idempotency record starts from its owner, so another owner's
object is simply not found.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from platform_core.db import declarative_base

SCHEMA = "backtest"
Base = declarative_base(SCHEMA)
metadata = Base.metadata

TS = DateTime(timezone=True)


class BacktestRow(Base):
    """A backtest: strategy version + context (universe, frequency, window, pinned snapshot, rules)."""

    __tablename__ = "backtests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column()
    strategy_id: Mapped[uuid.UUID] = mapped_column()
    version_id: Mapped[uuid.UUID] = mapped_column()
    strategy_name: Mapped[str] = mapped_column(String(100))
    version_number: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(80))
    universe: Mapped[list[str]] = mapped_column(JSONB)
    universe_selection: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # a point-in-time selection
    frequency: Mapped[str] = mapped_column(String(10))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    adjust: Mapped[str] = mapped_column(String(10))
    data_source: Mapped[str] = mapped_column(String(20))
    snapshot_id: Mapped[str] = mapped_column(String(100))
    initial_cash: Mapped[float] = mapped_column(Float)
    rules: Mapped[dict[str, Any]] = mapped_column(JSONB)
    benchmark: Mapped[str | None] = mapped_column(String(20))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    notes: Mapped[str] = mapped_column(Text, server_default=text("''"))
    created_at: Mapped[datetime] = mapped_column(TS)

    __table_args__ = (Index("ix_backtests_owner_created", "owner_id", text("created_at DESC")),)


class RunRow(Base):
    """One execution of a backtest with one parameter set; 1:1 with a job of job_orchestration."""

    __tablename__ = "runs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column()
    backtest_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.backtests.id", ondelete="CASCADE"))
    job_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    priority: Mapped[str] = mapped_column(String(10))
    budget_s: Mapped[int] = mapped_column(Integer)
    rerun_of: Mapped[uuid.UUID | None] = mapped_column()
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    artifacts: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(TS)
    completed_at: Mapped[datetime | None] = mapped_column(TS)

    __table_args__ = (
        Index("ix_runs_owner_created", "owner_id", text("created_at DESC")),
        Index("ix_runs_backtest_created", "backtest_id", text("created_at DESC")),
    )


class IdempotencyRow(Base):
    """The first response to a POST carrying an `Idempotency-Key`, per owner (kept 24 h)."""

    __tablename__ = "idempotency_keys"

    owner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(TS)


class ShareRow(Base):
    """A read-only share link of a run or of a sweep (exactly one of the two): only the SHA-256 of its token
    is kept; it expires, can be revoked, and counts its visits."""

    __tablename__ = "shares"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column()
    run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey(f"{SCHEMA}.runs.id", ondelete="CASCADE"))
    optimization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(f"{SCHEMA}.optimizations.id", ondelete="CASCADE")
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    include: Mapped[dict[str, Any]] = mapped_column(JSONB)
    expires_at: Mapped[datetime] = mapped_column(TS)
    revoked_at: Mapped[datetime | None] = mapped_column(TS)
    visits: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_visit_at: Mapped[datetime | None] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS)

    __table_args__ = (
        Index("ix_shares_owner_created", "owner_id", text("created_at DESC")),
        Index("ix_shares_run", "run_id"),
        Index("ix_shares_optimization", "optimization_id"),
        CheckConstraint("(run_id IS NULL) <> (optimization_id IS NULL)", name="one_subject"),
    )


class OptimizationRow(Base):
    """A parameter sweep of a backtest (grid, random or bayes): the parent of its batch tasks and results.
    Its counters and best-so-far are recomputed from the result rows under a row lock after every batch."""

    __tablename__ = "optimizations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column()
    backtest_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.backtests.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(10))
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20))
    total: Mapped[int] = mapped_column(Integer)
    evaluated: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    failed: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    metric: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(3))
    best_index: Mapped[int | None] = mapped_column(Integer)
    best_params: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    best_metric: Mapped[float | None] = mapped_column(Float)
    early_stop_policy: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    max_evals: Mapped[int | None] = mapped_column(Integer)
    budget_ms: Mapped[int | None] = mapped_column(BigInteger)
    concurrency_limit: Mapped[int] = mapped_column(Integer)
    batch_size: Mapped[int] = mapped_column(Integer)
    priority: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(Text)
    diagnostics: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(TS)
    started_at: Mapped[datetime | None] = mapped_column(TS)
    finished_at: Mapped[datetime | None] = mapped_column(TS)

    __table_args__ = (Index("ix_optimizations_owner_created", "owner_id", text("created_at DESC")),)


class OptimizationTaskRow(Base):
    """One batch of a sweep: the combinations (`points`, from `first_index` on) one job evaluates."""

    __tablename__ = "optimization_tasks"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    optimization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.optimizations.id", ondelete="CASCADE"))
    batch_index: Mapped[int] = mapped_column(Integer)
    first_index: Mapped[int] = mapped_column(Integer)
    points: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    job_id: Mapped[uuid.UUID | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(20))
    retries: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_run_at: Mapped[datetime | None] = mapped_column(TS)
    timing: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    returns_key: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(TS)
    started_at: Mapped[datetime | None] = mapped_column(TS)
    finished_at: Mapped[datetime | None] = mapped_column(TS)

    __table_args__ = (
        UniqueConstraint("optimization_id", "batch_index"),
        Index("ix_optimization_tasks_job_id", "job_id"),
        Index("ix_optimization_tasks_status_next_run", "status", "next_run_at"),
    )


class OptimizationResultRow(Base):
    """One evaluated combination: params, the summary metrics, the score (the sweep's metric), status and
    error. The primary key (optimization, combination index) makes a re-run batch's writes idempotent."""

    __tablename__ = "optimization_results"

    optimization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.optimizations.id", ondelete="CASCADE"), primary_key=True
    )
    combo_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column()
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    score: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20))
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(TS)

    __table_args__ = (Index("ix_optimization_results_score", "optimization_id", "score"),)


# --- backtests -----------------------------------------------------------------------------------------


def add(session: Session, row: Any) -> Any:
    session.add(row)
    session.flush()
    return row


def get_backtest(session: Session, owner_id: uuid.UUID, backtest_id: uuid.UUID) -> BacktestRow | None:
    return session.scalar(select(BacktestRow).where(BacktestRow.owner_id == owner_id, BacktestRow.id == backtest_id))


def list_backtests(session: Session, owner_id: uuid.UUID, limit: int, offset: int) -> tuple[list[BacktestRow], int]:
    where = BacktestRow.owner_id == owner_id
    total = session.scalar(select(func.count()).select_from(BacktestRow).where(where)) or 0
    rows = session.scalars(
        select(BacktestRow)
        .where(where)
        .order_by(BacktestRow.created_at.desc(), BacktestRow.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


# --- runs ----------------------------------------------------------------------------------------------


# One of the owner's runs, its values the bind parameters `owner_id` and `run_id`: a statement built once,
# for a read that adds to it (the run's job) and runs it on every poll.
RUN = select(RunRow).where(RunRow.owner_id == bindparam("owner_id"), RunRow.id == bindparam("run_id"))


def get_run(session: Session, owner_id: uuid.UUID, run_id: uuid.UUID, *, for_update: bool = False) -> RunRow | None:
    query = select(RunRow).where(RunRow.owner_id == owner_id, RunRow.id == run_id)
    return session.scalar(query.with_for_update() if for_update else query)


def _owned_backtests(owner_id: uuid.UUID, condition: Any) -> Any:
    return select(BacktestRow.id).where(BacktestRow.owner_id == owner_id, condition)


def list_runs(
    session: Session,
    owner_id: uuid.UUID,
    limit: int | None,
    offset: int,
    *,
    backtest_id: uuid.UUID | None = None,
    strategy_id: uuid.UUID | None = None,
    content_hash: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
    sort: tuple[str, bool] | None = None,
) -> tuple[list[RunRow], int]:
    """The owner's runs matching the filters, newest first or by `sort` = (`created_at` or a metric name,
    descending), runs without that metric last; `limit` None = all of them."""
    where = [RunRow.owner_id == owner_id]
    if backtest_id is not None:
        where.append(RunRow.backtest_id == backtest_id)
    if strategy_id is not None:
        where.append(RunRow.backtest_id.in_(_owned_backtests(owner_id, BacktestRow.strategy_id == strategy_id)))
    if content_hash is not None:
        where.append(RunRow.backtest_id.in_(_owned_backtests(owner_id, BacktestRow.content_hash == content_hash)))
    if created_from is not None:
        where.append(func.date(RunRow.created_at) >= created_from)
    if created_to is not None:
        where.append(func.date(RunRow.created_at) <= created_to)
    total = session.scalar(select(func.count()).select_from(RunRow).where(*where)) or 0
    order = [RunRow.created_at.desc(), RunRow.id.desc()]
    if sort is not None:
        name, descending = sort
        if name == "created_at":
            order = [RunRow.created_at.desc() if descending else RunRow.created_at.asc(), RunRow.id.desc()]
        else:
            value = RunRow.metrics[name].as_float()
            order = [(value.desc() if descending else value.asc()).nulls_last(), *order]
    query = select(RunRow).where(*where).order_by(*order).offset(offset)
    rows = session.scalars(query.limit(limit) if limit is not None else query).all()
    return list(rows), total


def backtests_by_id(session: Session, owner_id: uuid.UUID, ids: set[uuid.UUID]) -> dict[uuid.UUID, BacktestRow]:
    if not ids:
        return {}
    rows = session.scalars(select(BacktestRow).where(BacktestRow.owner_id == owner_id, BacktestRow.id.in_(ids)))
    return {r.id: r for r in rows}


# --- optimisations -------------------------------------------------------------------------------------


def get_optimization(
    session: Session, owner_id: uuid.UUID, optimization_id: uuid.UUID, *, for_update: bool = False
) -> OptimizationRow | None:
    query = select(OptimizationRow).where(OptimizationRow.owner_id == owner_id, OptimizationRow.id == optimization_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalar(query)


def list_optimizations(
    session: Session, owner_id: uuid.UUID, limit: int, offset: int, *, backtest_id: uuid.UUID | None = None
) -> tuple[list[OptimizationRow], int]:
    where = [OptimizationRow.owner_id == owner_id]
    if backtest_id is not None:
        where.append(OptimizationRow.backtest_id == backtest_id)
    total = session.scalar(select(func.count()).select_from(OptimizationRow).where(*where)) or 0
    rows = session.scalars(
        select(OptimizationRow)
        .where(*where)
        .order_by(OptimizationRow.created_at.desc(), OptimizationRow.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def tasks_of(session: Session, optimization_id: uuid.UUID) -> list[OptimizationTaskRow]:
    return list(
        session.scalars(
            select(OptimizationTaskRow)
            .where(OptimizationTaskRow.optimization_id == optimization_id)
            .order_by(OptimizationTaskRow.batch_index)
            .execution_options(populate_existing=True)
        )
    )


def get_task(session: Session, task_id: uuid.UUID) -> OptimizationTaskRow | None:
    return session.get(OptimizationTaskRow, task_id, populate_existing=True)


def insert_results(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert result rows; a combination already stored (a re-run batch) is left as it is."""
    if not rows:
        return 0
    result = session.execute(
        insert(OptimizationResultRow)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["optimization_id", "combo_index"])
        .returning(OptimizationResultRow.combo_index)
    )
    return len(result.all())


def result_scores(session: Session, optimization_id: uuid.UUID) -> list[tuple[int, float | None, str]]:
    """(combination index, score, status) of every stored result, in combination order."""
    rows = session.execute(
        select(OptimizationResultRow.combo_index, OptimizationResultRow.score, OptimizationResultRow.status)
        .where(OptimizationResultRow.optimization_id == optimization_id)
        .order_by(OptimizationResultRow.combo_index)
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def results_of(session: Session, optimization_id: uuid.UUID) -> list[OptimizationResultRow]:
    return list(
        session.scalars(
            select(OptimizationResultRow)
            .where(OptimizationResultRow.optimization_id == optimization_id)
            .order_by(OptimizationResultRow.combo_index)
        )
    )


def get_result(session: Session, optimization_id: uuid.UUID, combo_index: int) -> OptimizationResultRow | None:
    return session.get(OptimizationResultRow, (optimization_id, combo_index))


# --- idempotency ---------------------------------------------------------------------------------------


def claim_key(session: Session, owner_id: uuid.UUID, key: str, request_hash: str, now: datetime) -> bool:
    """Insert the key's record; False when it already exists. A concurrent claim of the same key waits
    on the unique index until the first transaction ends, then sees its record."""
    result = session.execute(
        insert(IdempotencyRow)
        .values(owner_id=owner_id, key=key, request_hash=request_hash, created_at=now)
        .on_conflict_do_nothing(index_elements=["owner_id", "key"])
        .returning(IdempotencyRow.key)
    )
    return result.first() is not None


def get_key(session: Session, owner_id: uuid.UUID, key: str) -> IdempotencyRow | None:
    return session.scalar(
        select(IdempotencyRow)
        .where(IdempotencyRow.owner_id == owner_id, IdempotencyRow.key == key)
        .execution_options(populate_existing=True)
    )


def purge_keys(session: Session, owner_id: uuid.UUID, before: datetime) -> int:
    """Forget the owner's keys older than `before`."""
    result = session.execute(
        delete(IdempotencyRow).where(IdempotencyRow.owner_id == owner_id, IdempotencyRow.created_at < before)
    )
    return result.rowcount or 0


# --- shares --------------------------------------------------------------------------------------------


def get_share(session: Session, owner_id: uuid.UUID, share_id: uuid.UUID) -> ShareRow | None:
    return session.scalar(select(ShareRow).where(ShareRow.owner_id == owner_id, ShareRow.id == share_id))


def list_shares(session: Session, owner_id: uuid.UUID, limit: int, offset: int) -> tuple[list[ShareRow], int]:
    where = ShareRow.owner_id == owner_id
    total = session.scalar(select(func.count()).select_from(ShareRow).where(where)) or 0
    rows = session.scalars(
        select(ShareRow)
        .where(where)
        .order_by(ShareRow.created_at.desc(), ShareRow.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def live_share_by_hash(session: Session, token_hash: str, now: datetime) -> ShareRow | None:
    """The share whose token hashes to `token_hash`, if neither revoked nor expired at `now`. The token is
    the credential here (the public view has no owner to start from)."""
    return session.scalar(
        select(ShareRow).where(
            ShareRow.token_hash == token_hash, ShareRow.revoked_at.is_(None), ShareRow.expires_at > now
        )
    )


def count_visit(session: Session, share_id: uuid.UUID, now: datetime) -> None:
    """One more visit of a share, atomically (concurrent visits are all counted)."""
    session.execute(
        update(ShareRow)
        .where(ShareRow.id == share_id)
        .values(visits=ShareRow.visits + 1, last_visit_at=now)
        .execution_options(synchronize_session=False)
    )


# --- operations figures and retention (monitoring) ------------------------------------------------------


def counts(session: Session) -> tuple[int, int]:
    """(backtests, runs) across every owner."""
    backtests = session.execute(select(func.count()).select_from(BacktestRow)).scalar_one()
    runs = session.execute(select(func.count()).select_from(RunRow)).scalar_one()
    return int(backtests), int(runs)


def optimisations_running(session: Session) -> int:
    """Sweeps queued or running now (every owner)."""
    stmt = select(func.count()).select_from(OptimizationRow).where(OptimizationRow.status.in_(("queued", "running")))
    return int(session.execute(stmt).scalar_one())


def share_link_visits(session: Session) -> int:
    """Visits of every share link so far (every owner; revoked and expired links included)."""
    return int(session.execute(select(func.coalesce(func.sum(ShareRow.visits), 0))).scalar_one())


def purge_expired_keys(session: Session, before: datetime) -> int:
    """Forget every owner's idempotency keys older than `before`."""
    result = session.execute(delete(IdempotencyRow).where(IdempotencyRow.created_at < before))
    return result.rowcount or 0
