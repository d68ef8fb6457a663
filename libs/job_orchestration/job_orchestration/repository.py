"""The `job_orchestration` schema: jobs (the source of truth) and their events. Private to the context."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    Row,
    Select,
    String,
    Uuid,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from job_orchestration.domain import PRIORITY_RANK, JobStatus
from platform_core.db import declarative_base

Base = declarative_base("job_orchestration")
metadata = Base.metadata

TS = DateTime(timezone=True)


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(100))
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    owner_plan: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20))
    queue: Mapped[str] = mapped_column(String(20))
    progress: Mapped[float] = mapped_column(Float)
    progress_message: Mapped[str] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer)
    budget_s: Mapped[int] = mapped_column(Integer)
    lease_token: Mapped[str | None] = mapped_column(String(64))
    worker_name: Mapped[str | None] = mapped_column(String(200))
    worker_pid: Mapped[int | None] = mapped_column(Integer)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(TS)
    submitted_at: Mapped[datetime] = mapped_column(TS)
    enqueued_at: Mapped[datetime | None] = mapped_column(TS)
    not_before: Mapped[datetime | None] = mapped_column(TS)
    started_at: Mapped[datetime | None] = mapped_column(TS)
    attempt_started_at: Mapped[datetime | None] = mapped_column(TS)
    heartbeat_at: Mapped[datetime | None] = mapped_column(TS)
    finished_at: Mapped[datetime | None] = mapped_column(TS)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_jobs_owner_submitted", "owner_id", "submitted_at"),
        Index("ix_jobs_status", "status"),
        Index("ix_jobs_parent_id", "parent_id"),
        Index("uq_jobs_owner_idempotency", "owner_id", "idempotency_key", unique=True),
        # the monitoring figures (job_orchestration_0002): per-kind counts, windows, the newest of a kind
        Index("ix_jobs_kind_status", "kind", "status"),
        Index("ix_jobs_kind_submitted", "kind", "submitted_at"),
        Index("ix_jobs_started_at", "started_at"),
        Index("ix_jobs_finished_at", "finished_at"),
        # queue depth per queue (job_orchestration_0003): only the queued jobs
        Index("ix_jobs_queued_queue", "queue", "enqueued_at", postgresql_where=text("status = 'queued'")),
    )


class JobEventRow(Base):
    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    type: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))
    progress: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(String(500))
    attempt: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(TS)

    __table_args__ = (Index("ix_job_events_job_id_id", "job_id", "id"),)


class JobStatusTallyRow(Base):
    """Signed deltas of the jobs per (kind, status), written by triggers on `jobs` (job_orchestration_0003):
    their sums are the counts by status without a scan of every job. Folded by `compact_status_tally`."""

    __tablename__ = "job_status_tally"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    delta: Mapped[int] = mapped_column(BigInteger)


ACTIVE = or_(
    JobRow.status == JobStatus.RUNNING,
    (JobRow.status == JobStatus.QUEUED) & JobRow.enqueued_at.is_not(None),
)
_RANK = case({str(k): v for k, v in PRIORITY_RANK.items()}, value=JobRow.queue, else_=9)


def lock_owner(session: Session, owner_id: uuid.UUID) -> None:
    """Serialise admission decisions of one owner until the transaction ends."""
    session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"job_orchestration.owner:{owner_id}"))))


def owner_lock(owner_id: Any) -> Any:
    """`lock_owner`'s lock as an expression of a statement's `owner_id` column (the same key): taken where
    that statement produces the owner's row, so after the locks its row needed."""
    return func.pg_advisory_xact_lock(func.hashtext(func.concat("job_orchestration.owner:", owner_id)))


def try_lock_maintenance(session: Session) -> bool:
    """Only one reaper pass at a time across every process (released at transaction end)."""
    stmt = text("SELECT pg_try_advisory_xact_lock(hashtext('job_orchestration.reaper'))")
    return bool(session.execute(stmt).scalar())


def get(session: Session, job_id: uuid.UUID, *, for_update: bool = False) -> JobRow | None:
    stmt = select(JobRow).where(JobRow.id == job_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


@dataclass(frozen=True)
class WithJob:
    """Another context's select with the job its column names, outer-joined, in the two forms a read takes:
    only the owner's job (the bind parameter `job_owner_id`), or any owner's (admins). Built once, at import,
    over a select whose values are bind parameters too: a read then pays neither building the statement nor
    its cache key (SQLAlchemy memoizes the key on the statement), only its parameters."""

    owned: Select
    anyone: Select


def with_job(stmt: Select, job_id: Any) -> WithJob:
    """`stmt` (another context's select) with the job its column `job_id` names (see `WithJob`)."""
    joined = stmt.add_columns(JobRow)
    return WithJob(
        owned=joined.outerjoin(JobRow, and_(JobRow.id == job_id, JobRow.owner_id == bindparam("job_owner_id"))),
        anyone=joined.outerjoin(JobRow, JobRow.id == job_id),
    )


def first_with_job(session: Session, joined: WithJob, params: dict[str, Any], owner_id: uuid.UUID | None) -> Row | None:
    """The first row of `joined` for `params` (its select's bind parameters) with its job last: None there
    when that job is missing or not `owner_id`'s (any owner when None — admins)."""
    if owner_id is None:
        return session.execute(joined.anyone, params).first()
    return session.execute(joined.owned, {**params, "job_owner_id": owner_id}).first()


def get_owned(
    session: Session, job_id: uuid.UUID, owner_id: uuid.UUID | None, *, for_update: bool = False
) -> JobRow | None:
    """A job of `owner_id` (any owner when None — admins)."""
    stmt = select(JobRow).where(JobRow.id == job_id)
    if owner_id is not None:
        stmt = stmt.where(JobRow.owner_id == owner_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def get_many_owned(session: Session, job_ids: Sequence[uuid.UUID], owner_id: uuid.UUID | None) -> Sequence[JobRow]:
    """The jobs among `job_ids` that belong to `owner_id` (any owner when None), in one query."""
    stmt = select(JobRow).where(JobRow.id.in_(list(job_ids)))
    if owner_id is not None:
        stmt = stmt.where(JobRow.owner_id == owner_id)
    return session.execute(stmt).scalars().all()


def by_idempotency_key(session: Session, owner_id: uuid.UUID, key: str) -> JobRow | None:
    stmt = select(JobRow).where(JobRow.owner_id == owner_id, JobRow.idempotency_key == key)
    return session.execute(stmt).scalar_one_or_none()


def held(session: Session, job_id: uuid.UUID, token: str, *, lock: bool = True) -> JobRow | None:
    """The job if `token` still holds its lease (a running job), locked for the rest of the transaction."""
    stmt = select(JobRow).where(JobRow.id == job_id, JobRow.lease_token == token, JobRow.status == JobStatus.RUNNING)
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def list_jobs(
    session: Session, owner_id: uuid.UUID | None, *, status: str | None, kind: str | None, limit: int, offset: int
) -> tuple[Sequence[JobRow], int]:
    conditions = []
    if owner_id is not None:
        conditions.append(JobRow.owner_id == owner_id)
    if status is not None:
        conditions.append(JobRow.status == status)
    if kind is not None:
        conditions.append(JobRow.kind == kind)
    total = session.execute(select(func.count()).select_from(JobRow).where(*conditions)).scalar_one()
    rows = (
        session.execute(
            select(JobRow)
            .where(*conditions)
            .order_by(JobRow.submitted_at.desc(), JobRow.id.desc())
            .limit(limit)
            .offset(offset)
        )
        .scalars()
        .all()
    )
    return rows, total


def count_active(session: Session, owner_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(JobRow).where(JobRow.owner_id == owner_id, ACTIVE)
    return session.execute(stmt).scalar_one()


def waiting(session: Session, owner_id: uuid.UUID, now: datetime, limit: int) -> Sequence[JobRow]:
    """Queued jobs of the owner not yet handed to RQ and due, best priority and oldest first."""
    stmt = (
        select(JobRow)
        .where(
            JobRow.owner_id == owner_id,
            JobRow.status == JobStatus.QUEUED,
            JobRow.enqueued_at.is_(None),
            or_(JobRow.not_before.is_(None), JobRow.not_before <= now),
        )
        .order_by(_RANK, JobRow.submitted_at, JobRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.execute(stmt).scalars().all()


def owners_waiting(session: Session, now: datetime, limit: int = 500) -> Sequence[uuid.UUID]:
    stmt = (
        select(JobRow.owner_id)
        .where(
            JobRow.status == JobStatus.QUEUED,
            JobRow.enqueued_at.is_(None),
            or_(JobRow.not_before.is_(None), JobRow.not_before <= now),
        )
        .group_by(JobRow.owner_id)
        .order_by(func.min(JobRow.submitted_at))
        .limit(limit)
    )
    return session.execute(stmt).scalars().all()


def dead_leases(session: Session, heartbeat_before: datetime, limit: int = 200) -> Sequence[JobRow]:
    stmt = (
        select(JobRow)
        .where(JobRow.status == JobStatus.RUNNING, JobRow.heartbeat_at < heartbeat_before)
        .order_by(JobRow.heartbeat_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.execute(stmt).scalars().all()


def running(session: Session, limit: int = 1000) -> Sequence[JobRow]:
    stmt = select(JobRow).where(JobRow.status == JobStatus.RUNNING).limit(limit).with_for_update(skip_locked=True)
    return session.execute(stmt).scalars().all()


def dispatched_before(session: Session, before: datetime, limit: int = 1000) -> Sequence[JobRow]:
    """Queued jobs handed to RQ before `before` (candidates for the "lost from Redis" check)."""
    stmt = (
        select(JobRow)
        .where(JobRow.status == JobStatus.QUEUED, JobRow.enqueued_at.is_not(None), JobRow.enqueued_at < before)
        .order_by(JobRow.enqueued_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.execute(stmt).scalars().all()


def add_event(session: Session, event: JobEventRow) -> JobEventRow:
    session.add(event)
    session.flush()
    return event


def events_after(session: Session, job_id: uuid.UUID, after_id: int | None, limit: int = 1000) -> Sequence[JobEventRow]:
    stmt = select(JobEventRow).where(JobEventRow.job_id == job_id)
    if after_id is not None:
        stmt = stmt.where(JobEventRow.id > after_id)
    return session.execute(stmt.order_by(JobEventRow.id).limit(limit)).scalars().all()


def status_counts(session: Session) -> dict[str, int]:
    """Jobs by status (every kind), from the tally."""
    counts: dict[str, int] = {}
    for (_, status), n in kind_status_counts(session).items():
        counts[status] = counts.get(status, 0) + n
    return counts


def compact_status_tally(session: Session) -> int:
    """Fold the tally's deltas into one row per (kind, status); returns how many rows were folded. Safe
    beside concurrent transitions (their uncommitted deltas are not seen, so not folded) and beside another
    fold (which skips the rows this one deletes)."""
    folded = session.execute(
        text(
            "WITH moved AS (DELETE FROM job_orchestration.job_status_tally RETURNING kind, status, delta), "
            "kept AS (INSERT INTO job_orchestration.job_status_tally (kind, status, delta) "
            "SELECT kind, status, sum(delta) FROM moved GROUP BY kind, status HAVING sum(delta) <> 0 RETURNING 1) "
            "SELECT (SELECT count(*) FROM moved)"
        )
    ).scalar_one()
    return int(folded)


def queued_counts(session: Session) -> dict[str, dict[str, int]]:
    """Queued jobs per queue: `waiting` (not yet admitted) and `enqueued` (handed to RQ)."""
    rows = session.execute(
        select(JobRow.queue, JobRow.enqueued_at.is_not(None), func.count())
        .where(JobRow.status == JobStatus.QUEUED)
        .group_by(JobRow.queue, JobRow.enqueued_at.is_not(None))
    ).all()
    result: dict[str, dict[str, int]] = {}
    for queue, enqueued, count in rows:
        result.setdefault(queue, {"waiting": 0, "enqueued": 0})["enqueued" if enqueued else "waiting"] += count
    return result


def queue_wait_figures(session: Session, since: datetime) -> dict[str, float | None]:
    """Seconds from submission to first start of the jobs started since `since` (every kind): mean and the
    nearest-rank p50/p95 in SQL (as `kind_window_figures`), over the window's rows of `ix_jobs_started_at`."""
    wait = func.extract("epoch", JobRow.started_at - JobRow.submitted_at)
    mean, p50, p95 = session.execute(
        select(
            func.avg(wait),
            func.percentile_disc(0.5).within_group(wait),
            func.percentile_disc(0.95).within_group(wait),
        ).where(JobRow.started_at >= since)
    ).one()
    return {"mean": _float(mean), "p50": _float(p50), "p95": _float(p95)}


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None


def finished_counts(session: Session, since: datetime) -> dict[str, int]:
    rows = session.execute(
        select(JobRow.status, func.count()).where(JobRow.finished_at >= since).group_by(JobRow.status)
    ).all()
    return {status: count for status, count in rows}


# --- per-kind figures (monitoring) ----------------------------------------------------------------------


def kind_status_counts(session: Session, kind: str | None = None) -> dict[tuple[str, str], int]:
    """Jobs by (kind, status), of one kind or of every kind: the sums of the tally the triggers keep
    (`JobStatusTallyRow`), exact in any transaction, without a scan of the jobs."""
    t = JobStatusTallyRow
    total = func.sum(t.delta)
    stmt = select(t.kind, t.status, total).group_by(t.kind, t.status).having(total != 0)
    if kind is not None:
        stmt = stmt.where(t.kind == kind)
    return {(k, s): int(n) for k, s, n in session.execute(stmt).all()}


def kind_window_figures(session: Session, kind: str, since: datetime) -> dict[str, Any]:
    """Of the jobs of `kind`: queue wait (first start − submission) of those started since `since`, and run
    time (finish − first start) of those that succeeded since `since` — nearest-rank percentiles in SQL."""
    wait = func.extract("epoch", JobRow.started_at - JobRow.submitted_at)
    waits = session.execute(
        select(
            func.count(),
            func.avg(wait),
            func.percentile_disc(0.5).within_group(wait),
            func.percentile_disc(0.95).within_group(wait),
        ).where(JobRow.kind == kind, JobRow.started_at >= since)
    ).one()
    run = func.extract("epoch", JobRow.finished_at - JobRow.started_at)
    runs = session.execute(
        select(
            func.count(),
            func.avg(run),
            func.percentile_disc(0.5).within_group(run),
            func.percentile_disc(0.95).within_group(run),
        ).where(
            JobRow.kind == kind,
            JobRow.status == JobStatus.SUCCEEDED,
            JobRow.finished_at >= since,
            JobRow.started_at.is_not(None),
        )
    ).one()
    finished = session.execute(
        select(JobRow.status, func.count())
        .where(JobRow.kind == kind, JobRow.finished_at >= since)
        .group_by(JobRow.status)
    ).all()
    return {
        "started": int(waits[0]),
        "wait_mean": waits[1],
        "wait_p50": waits[2],
        "wait_p95": waits[3],
        "succeeded": int(runs[0]),
        "run_mean": runs[1],
        "run_p50": runs[2],
        "run_p95": runs[3],
        "finished": {status: int(count) for status, count in finished},
    }


def run_time_buckets(session: Session, kind: str, bounds: Sequence[float]) -> tuple[list[int], int, float]:
    """Cumulative counts of succeeded jobs of `kind` with run time ≤ each bound, their count and sum (s)."""
    run = func.extract("epoch", JobRow.finished_at - JobRow.started_at)
    columns = [func.count().filter(run <= bound) for bound in bounds]
    row = session.execute(
        select(*columns, func.count(), func.coalesce(func.sum(run), 0)).where(
            JobRow.kind == kind, JobRow.status == JobStatus.SUCCEEDED, JobRow.started_at.is_not(None)
        )
    ).one()
    return [int(v) for v in row[: len(bounds)]], int(row[len(bounds)]), float(row[len(bounds) + 1])


def purge_events(session: Session, before: datetime, limit: int = 10_000) -> int:
    """Delete job events older than `before` of jobs that have finished (at most `limit` per call)."""
    old = (
        select(JobEventRow.id)
        .join(JobRow, JobRow.id == JobEventRow.job_id)
        .where(JobEventRow.created_at < before, JobRow.finished_at.is_not(None))
        .limit(limit)
    )
    result = session.execute(JobEventRow.__table__.delete().where(JobEventRow.id.in_(old)))
    return int(result.rowcount or 0)


def latest_of_kind(session: Session, kind: str) -> JobRow | None:
    stmt = select(JobRow).where(JobRow.kind == kind).order_by(JobRow.submitted_at.desc(), JobRow.id.desc()).limit(1)
    return session.execute(stmt).scalar_one_or_none()
