"""One attempt of one job, inside an RQ work-horse: take the lease, run the handler, finish under the lease.

Fencing: `start` gives the attempt a fresh token; every later write (progress, heartbeat, results via
`ctx.transaction()`, the final status) first checks that the token still holds the lease. A late or
duplicate attempt finds its token stale and stops without writing. A keeper thread heartbeats the lease;
when a cancel request is not honoured within the grace period, or the budget is overrun and the handler
does not stop, the keeper records the outcome under the lease and kills its own work-horse.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Select,
    String,
    bindparam,
    case,
    func,
    insert,
    literal,
    literal_column,
    null,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from job_orchestration import repository as repo
from job_orchestration import transitions
from job_orchestration.config import JobsEnv
from job_orchestration.domain import (
    BudgetExceeded,
    EventType,
    JobCancelled,
    JobStatus,
    LeaseLost,
    budget_error,
    error_of,
    is_deterministic,
)
from job_orchestration.repository import TS, JobEventRow, JobRow
from job_orchestration.schemas import JobEvent
from platform_core.db import Database
from platform_core.errors import AppError, ErrorCode
from platform_core.ids import new_token, utcnow

log = logging.getLogger("job_orchestration.attempt")


def database_unavailable(exc: BaseException) -> bool:
    """True for errors that mean "the database cannot be reached right now" (a restart, a failover, a
    dropped connection), as opposed to errors in what was asked of it."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


@dataclass
class Lease:
    job_id: uuid.UUID
    token: str
    attempt: int
    kind: str
    owner_id: uuid.UUID
    payload: dict[str, Any]
    budget_s: int
    started_monotonic: float = field(default_factory=time.monotonic)


_jobs, _events = JobRow.__table__, JobEventRow.__table__
# the job row while `token` holds its lease (the bind parameters `job_id` and `token` of the statements below)
_UNDER_LEASE = (
    _jobs.c.id == bindparam("job_id"),
    _jobs.c.lease_token == bindparam("token"),
    _jobs.c.status == JobStatus.RUNNING,
)


def _with_event(moved: Any, type_: EventType, message: Any, *extra: Any) -> Select:
    """`moved` (a CTE updating one job … RETURNING its new state) and, in the same statement, the event of
    that state (`transitions.emit`'s row): one round trip where an UPDATE and an INSERT took two. Selects
    the columns of `moved`, `extra` and the event's `event_id`; no row when nothing was updated (nor
    inserted)."""
    event = (
        insert(_events)
        .from_select(
            ["job_id", "type", "status", "progress", "message", "attempt", "data", "created_at"],
            select(
                moved.c.id,
                literal(str(type_), String),
                moved.c.status,
                moved.c.progress,
                message,
                moved.c.attempts,
                bindparam("data", type_=JSONB),
                bindparam("now", type_=TS),
            ),
        )
        .returning(_events.c.id.label("event_id"))
        .cte("event")
    )
    return select(*moved.c, *extra, event.c.event_id).select_from(moved.join(event, true()))


_MOVED = (_jobs.c.id, _jobs.c.status, _jobs.c.progress, _jobs.c.attempts)

_LEASE_MOVED = (
    update(_jobs)
    .where(_jobs.c.id == bindparam("job_id"), _jobs.c.status == JobStatus.QUEUED, _jobs.c.enqueued_at.is_not(None))
    .values(
        status=JobStatus.RUNNING,
        attempts=_jobs.c.attempts + 1,
        lease_token=bindparam("token"),
        attempt_started_at=bindparam("now"),
        heartbeat_at=bindparam("now"),
        not_before=None,
        started_at=func.coalesce(_jobs.c.started_at, bindparam("now")),
        worker_name=bindparam("worker"),
        worker_pid=bindparam("pid"),
    )
    .returning(*_MOVED, _jobs.c.kind, _jobs.c.owner_id, _jobs.c.payload, _jobs.c.budget_s)
    .cte("moved")
)
_LEASE = _with_event(_LEASE_MOVED, EventType.STARTED, func.concat("attempt ", _LEASE_MOVED.c.attempts, " started"))


def start(env: JobsEnv, job_id: uuid.UUID, *, worker_name: str, pid: int) -> Lease | None:
    """Take the lease of a queued job handed to RQ; None when this delivery is stale (not queued any more).
    One statement: the UPDATE under the condition (queued and handed to RQ — a locking read first would
    see the same row, as the UPDATE re-checks it after any concurrent change) and the STARTED event."""
    with env.db.transaction() as session:
        now, token = utcnow(), new_token(24)
        data = {"worker": worker_name}
        row = _lease_row(session, job_id, token, worker_name, pid, data, now)
        if row is None:
            return None
        message = f"attempt {row.attempts} started"
        transitions.publish_after_commit(session, env, _event(row, EventType.STARTED, message, data, now))
        return Lease(row.id, token, row.attempts, row.kind, row.owner_id, dict(row.payload), row.budget_s)


def _lease_row(
    session: Session, job_id: uuid.UUID, token: str, worker: str, pid: int, data: dict[str, Any], now: Any
) -> Any:
    params = {"job_id": job_id, "token": token, "worker": worker[:200], "pid": pid, "data": data, "now": now}
    return session.execute(_LEASE, params).first()


def _event(row: Any, type_: EventType, message: str, data: dict[str, Any], now: Any) -> JobEvent:
    """The event `_with_event` stored, as `transitions.event_read` reads it back."""
    return JobEvent(
        id=row.event_id,
        job_id=row.id,
        type=type_,
        status=row.status,
        progress=row.progress,
        message=message,
        attempt=row.attempts,
        data=data,
        at=now,
    )


_SYNC_OFF = literal_column("set_config('synchronous_commit', 'off', true)")
"""Selected by the writes an attempt makes on the way — heartbeats and progress, which the next one
supersedes — never by the lease, the results or the outcome: their transaction alone commits without
waiting for its WAL flush (`SET LOCAL synchronous_commit TO OFF`, in the write's own statement rather than
one round trip more). Other sessions see the write at once; only a crash of PostgreSQL itself within a
fraction of a second could lose it. Saves a disk flush (milliseconds) per write. Evaluated for the row the
statement returns, so only when something was written."""


def beat(db: Database, lease: Lease) -> JobRow | None:
    """Heartbeat the lease; the job row when still held, None when the lease is lost."""
    return db.alone(_BEAT, {"job_id": lease.job_id, "token": lease.token, "now": utcnow()})


_BEAT = (
    update(_jobs)
    .where(*_UNDER_LEASE)
    .values(heartbeat_at=bindparam("now"))
    .returning(_jobs.c.cancel_requested_at, _SYNC_OFF)
)


def _beat_row(session: Session, job_id: uuid.UUID, token: str) -> Any:
    return session.execute(_BEAT, {"job_id": job_id, "token": token, "now": utcnow()}).first()


_PROGRESS = _with_event(
    update(_jobs)
    .where(
        *_UNDER_LEASE,
        _jobs.c.cancel_requested_at.is_(None),
    )
    .values(progress=bindparam("pct"), progress_message=bindparam("message"), heartbeat_at=bindparam("now"))
    .returning(*_MOVED)
    .cte("moved"),
    EventType.PROGRESS,
    bindparam("message", type_=String),
    _SYNC_OFF,
)


def _progress_params(job_id: uuid.UUID, token: str, pct: float, message: str, now: Any) -> dict[str, Any]:
    return {"job_id": job_id, "token": token, "pct": pct, "message": message, "data": {}, "now": now}


def _progress_row(session: Session, job_id: uuid.UUID, token: str, pct: float, message: str, now: Any) -> Any:
    """The job's progress recorded with its event (`message` already cut to size), committed without waiting
    for the flush (`_SYNC_OFF`); None when `token` lost the lease or a cancel was requested."""
    return session.execute(_PROGRESS, _progress_params(job_id, token, pct, message, now)).first()


_UNREACHABLE = object()  # a heartbeat that could not reach the database


class Attempt:
    """The `JobContext` a handler receives."""

    def __init__(self, env: JobsEnv, lease: Lease) -> None:
        self.env, self.db, self.lease = env, env.db, lease
        self.job_id, self.owner_id, self.payload, self.attempt = (
            lease.job_id,
            lease.owner_id,
            lease.payload,
            lease.attempt,
        )
        self.cancel_seen = threading.Event()
        self.lost = threading.Event()

    def _overrun(self) -> bool:
        return time.monotonic() - self.lease.started_monotonic > self.lease.budget_s

    def _check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(str(self.job_id))
        if self.cancel_seen.is_set():
            raise JobCancelled(str(self.job_id))
        if self._overrun():
            raise BudgetExceeded(str(self.job_id))

    def progress(self, pct: float, message: str = "") -> None:
        """Record progress under the lease. Best effort while the database is unreachable: the update is
        skipped (the keeper keeps retrying the heartbeat) rather than failing the attempt."""
        self._check()
        pct = max(0.0, min(100.0, float(pct)))
        try:
            self._record_progress(pct, message)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            log.warning("progress of job %s not recorded: database unavailable", self.job_id)

    def _record_progress(self, pct: float, message: str) -> None:
        """One statement: the UPDATE under the lease (no cancel requested) and the progress event, committed
        without waiting for the WAL flush. Nothing is written when the lease is lost or a cancel was
        requested; which of the two is read afterwards (a unit of work of its own, whose snapshot sees a
        cancel committed while the UPDATE waited for the row). The statement is its own transaction
        (`Database.alone`: no BEGIN or COMMIT round trip), so its event is published once it returns."""
        now, message = utcnow(), message[:500]
        row = self.db.alone(_PROGRESS, _progress_params(self.job_id, self.lease.token, pct, message, now))
        if row is None:
            with self.db.transaction() as session:
                held = repo.held(session, self.job_id, self.lease.token, lock=False)
            if held is not None and held.cancel_requested_at is not None:
                self.cancel_seen.set()
                raise JobCancelled(str(self.job_id))
            self.lost.set()
            raise LeaseLost(str(self.job_id))
        transitions.publish_committed(self.env, _event(row, EventType.PROGRESS, message, {}, now))

    def heartbeat(self) -> None:
        """Prove the lease is still held (LeaseLost otherwise); a no-op while the database is unreachable."""
        if self.lost.is_set() or self._beat() is None:
            self.lost.set()
            raise LeaseLost(str(self.job_id))

    def is_cancel_requested(self) -> bool:
        if self.cancel_seen.is_set():
            return True
        state = self._beat()
        if state is _UNREACHABLE:
            return False
        if state is None:
            self.lost.set()
            return False
        if state.cancel_requested_at is not None:
            self.cancel_seen.set()
        return self.cancel_seen.is_set()

    def _beat(self) -> Any:
        try:
            return beat(self.db, self.lease)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            log.warning("heartbeat of job %s skipped: database unavailable", self.job_id)
            return _UNREACHABLE

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        self._check()
        with self.db.transaction() as session:
            if repo.held(session, self.job_id, self.lease.token) is None:
                self.lost.set()
                raise LeaseLost(str(self.job_id))
            yield session


class Keeper(threading.Thread):
    """Heartbeats the lease; enforces cancel and budget by recording the outcome and killing the horse."""

    def __init__(self, attempt: Attempt, kill: Callable[[], None]) -> None:
        super().__init__(name=f"lease-{attempt.job_id}", daemon=True)
        self.attempt, self.kill = attempt, kill
        self.done = threading.Event()
        self.cancel_seen_at: float | None = None
        self.lost_at: float | None = None

    def run(self) -> None:
        settings = self.attempt.env.settings
        while not self.done.wait(settings.heartbeat_interval_s):
            try:
                self._beat(settings)
            except Exception as exc:  # the database may be restarting: keep trying until the lease expires
                log.warning("heartbeat of job %s failed: %s", self.attempt.job_id, type(exc).__name__)

    def _beat(self, settings: Any) -> None:
        attempt, now = self.attempt, time.monotonic()
        state = beat(attempt.db, attempt.lease)
        if self.done.is_set():
            return
        if state is None:
            attempt.lost.set()
            self.lost_at = self.lost_at or now
            if now - self.lost_at > settings.cancel_grace_s:
                self._stop_horse("lease lost")
        elif state.cancel_requested_at is not None:
            attempt.cancel_seen.set()
            self.cancel_seen_at = self.cancel_seen_at or now
            if now - self.cancel_seen_at > settings.cancel_grace_s:
                self._enforce(JobStatus.CANCELLED)
        elif now - attempt.lease.started_monotonic > attempt.lease.budget_s + settings.cancel_grace_s:
            self._enforce(JobStatus.FAILED)

    def _enforce(self, outcome: JobStatus) -> None:
        """The handler did not stop by itself: record `outcome` under the lease, then stop the work-horse."""
        error = budget_error(self.attempt.lease.budget_s) if outcome == JobStatus.FAILED else None
        if conclude(self.attempt, outcome, error=error) or not self.done.is_set():
            self._stop_horse(str(outcome))

    def _stop_horse(self, why: str) -> None:
        if self.done.is_set():
            return
        log.warning("stopping the work-horse of job %s (%s)", self.attempt.job_id, why)
        self.done.set()
        self.kill()


def conclude(
    attempt: Attempt,
    outcome: JobStatus,
    *,
    result: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
    deterministic: bool = True,
) -> bool:
    """Record the attempt's outcome under its lease; False when the lease was lost (nothing written).
    While the database is unreachable the write is retried until a lease timeout has passed (the reaper
    would then hand the job to a new attempt, and this one's token no longer holds the lease)."""
    settings = attempt.env.settings
    deadline = time.monotonic() + settings.lease_timeout_s
    delay = max(settings.heartbeat_interval_s, 0.05)
    while True:
        try:
            return _conclude_once(attempt, outcome, result=result, error=error, deterministic=deterministic)
        except Exception as exc:
            if not database_unavailable(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning("job %s: outcome not recorded yet, database unavailable; retrying", attempt.job_id)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def _conclude_once(
    attempt: Attempt,
    outcome: JobStatus,
    *,
    result: dict[str, Any] | None,
    error: dict[str, Any] | None,
    deterministic: bool,
) -> bool:
    env, lease = attempt.env, attempt.lease
    if outcome == JobStatus.SUCCEEDED and error is None:
        return _succeed(attempt, result)
    with attempt.db.transaction() as session:
        row = repo.held(session, lease.job_id, lease.token)
        if row is None:
            log.warning("job %s: attempt %s lost its lease; outcome dropped", lease.job_id, lease.attempt)
            return False
        now = utcnow()
        if outcome == JobStatus.FAILED and not deterministic and row.attempts < row.max_attempts:
            transitions.retry_later(session, env, row, now, error or {}, "transient_error")
        elif outcome == JobStatus.CANCELLED:
            transitions.finish(session, env, row, JobStatus.CANCELLED, now, message="cancelled while running")
        else:
            transitions.finish(session, env, row, outcome, now, result=result, error=error)
        return True


_SUCCEEDED_MOVED = (
    update(_jobs)
    .where(*_UNDER_LEASE)
    .values(
        status=JobStatus.SUCCEEDED,
        finished_at=bindparam("now"),
        lease_token=None,
        not_before=None,
        progress=100.0,
        result=bindparam("result", type_=JSONB(none_as_null=True)),
        error=case((_jobs.c.error.is_(None), null()), else_=literal_column("'null'::jsonb")),
    )
    .returning(*_MOVED, _jobs.c.owner_id)
    .cte("moved")
)
_SUCCEEDED = _with_event(
    _SUCCEEDED_MOVED, EventType.SUCCEEDED, literal("", String), repo.owner_lock(_SUCCEEDED_MOVED.c.owner_id)
)
"""`transitions.finish` of a success in one statement with the lease check (the UPDATE under the lease in
place of a locking read first) and the owner's lock `admit` then needs: the values the ORM would write —
`error` becomes JSON null only where it held an error (an earlier attempt's), and a result of None leaves
SQL NULL, as an unchanged attribute does."""


def _succeed(attempt: Attempt, result: dict[str, Any] | None) -> bool:
    """`_conclude_once` of a success: the job finished with its event and the owner locked in one statement,
    then the owner's next jobs admitted."""
    env, lease = attempt.env, attempt.lease
    with attempt.db.transaction() as session:
        now = utcnow()
        params = {"job_id": lease.job_id, "token": lease.token, "result": result, "data": {}, "now": now}
        row = session.execute(_SUCCEEDED, params).first()
        if row is None:
            log.warning("job %s: attempt %s lost its lease; outcome dropped", lease.job_id, lease.attempt)
            return False
        transitions.publish_after_commit(session, env, _event(row, EventType.SUCCEEDED, "", {}, now))
        transitions.admit(session, env, row.owner_id, now, exclude=frozenset({row.id}), locked=True)
        return True


def warm(env: JobsEnv) -> None:
    """Prepare a worker parent, before it forks its first work-horse, for the statements its horses make:
    an attempt's own (take the lease, heartbeat, progress, check the lease, admit the owner's next jobs)
    and those of every kind's `warm` hook, run for a job that does not exist in a transaction that is
    rolled back. SQLAlchemy's compiled cache (~1 ms a statement to compile) and the dialect's
    first-connect set-up live in this process's engine, so every horse forked afterwards inherits them
    instead of doing both again. The parent's connections are closed afterwards: a horse opens its own.
    Best effort: a worker whose database is unreachable at start still starts (its horses then compile)."""
    ghost, token, now = uuid.uuid4(), new_token(24), utcnow()
    try:
        with env.db.rolled_back() as session:
            repo.get(session, ghost, for_update=True)
            repo.held(session, ghost, token)
            repo.held(session, ghost, token, lock=False)
            _lease_row(session, ghost, token, "", 0, {}, now)
            session.execute(_SUCCEEDED, {"job_id": ghost, "token": token, "result": None, "data": {}, "now": now})
            _beat_row(session, ghost, token)
            _progress_row(session, ghost, token, 0.0, "", now)
            repo.lock_owner(session, ghost)
            repo.waiting(session, ghost, now, limit=50)
            repo.count_active(session, ghost)
            for name in env.registry.kinds():
                spec = env.registry.get(name)
                if spec is not None and spec.warm is not None:
                    spec.warm(session)
    except Exception as exc:
        log.warning("statements not warmed before the first work-horse: %s", type(exc).__name__)
    finally:
        env.db.engine.dispose()


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def execute(
    env: JobsEnv,
    job_id: uuid.UUID,
    *,
    worker_name: str,
    pid: int,
    kill: Callable[[], None] = _kill_self,
) -> JobStatus | None:
    """Run one attempt of `job_id`; returns the outcome recorded (None when nothing was written)."""
    lease = start(env, job_id, worker_name=worker_name, pid=pid)
    if lease is None:
        log.info("job %s: stale delivery ignored", job_id)
        return None
    spec = env.registry.get(lease.kind)
    attempt = Attempt(env, lease)
    if spec is None:
        error = {
            "code": str(ErrorCode.INVALID_INPUT),
            "message": f"no handler for job kind {lease.kind!r}",
            "details": {"reason": "unknown_kind"},
        }
        return JobStatus.FAILED if conclude(attempt, JobStatus.FAILED, error=error) else None
    keeper = Keeper(attempt, kill)
    keeper.start()
    with transitions.held_deliveries():  # the jobs it submits start once its outcome is recorded
        try:
            outcome, kwargs = _run_handler(spec.handler, attempt)
        finally:
            keeper.done.set()
        if outcome is None:
            return None
        return outcome if conclude(attempt, outcome, **kwargs) else None


def _run_handler(handler: Callable[[Any], Any], attempt: Attempt) -> tuple[JobStatus | None, dict[str, Any]]:
    from rq.timeouts import JobTimeoutException

    try:
        result = handler(attempt)
        if result is not None and not isinstance(result, dict):
            result = {"value": result}
        return JobStatus.SUCCEEDED, {"result": result}
    except JobCancelled:
        return JobStatus.CANCELLED, {}
    except LeaseLost:
        log.warning("job %s: attempt %s stopped: lease lost", attempt.job_id, attempt.attempt)
        return None, {}
    except (BudgetExceeded, JobTimeoutException):
        return JobStatus.FAILED, {"error": budget_error(attempt.lease.budget_s)}
    except Exception as exc:
        deterministic = is_deterministic(exc)
        # an exception that is not one of the product's errors is a bug or an outage: ERROR with its
        # traceback (redacted by the log filter), which error tracking (Sentry, when configured) reports
        unexpected = not deterministic and not isinstance(exc, AppError)
        log.log(
            logging.ERROR if unexpected else logging.WARNING,
            "job %s: attempt %s failed (%s): %s",
            attempt.job_id,
            attempt.attempt,
            "deterministic" if deterministic else "transient",
            type(exc).__name__,
            exc_info=exc if unexpected else None,
        )
        return JobStatus.FAILED, {"error": error_of(exc), "deterministic": deterministic}
