"""Periodic maintenance: admit waiting jobs, reap dead and lost ones, and queue statistics.

`reap()` finds jobs whose heartbeat stopped (dead worker) and retries or fails them, fails attempts that
overran their budget, re-enqueues queued jobs that Redis lost, and admits waiting jobs. `MaintenanceLoop`
runs it periodically in the supervising process of `huice serve` / `huice worker`; several loops may run
at once (an advisory lock lets one pass run at a time, rows are taken with SKIP LOCKED).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.job import Job
from rq.job import JobStatus as RQStatus
from rq.serializers import JSONSerializer
from sqlalchemy.orm import Session

from job_orchestration import core
from job_orchestration import repository as repo
from job_orchestration.domain import EventType, JobStatus, Priority, budget_error, percentile, worker_lost_error
from job_orchestration.registry import JobRegistry, current
from job_orchestration.schemas import QueueDepth, QueueStats, ReapReport
from platform_core.db import Database
from platform_core.ids import utcnow

log = logging.getLogger("job_orchestration.reaper")

_GONE = {RQStatus.FINISHED, RQStatus.FAILED, RQStatus.STOPPED, RQStatus.CANCELED}


def dispatch(session: Session, now: datetime | None = None) -> list[Any]:
    """Admit the due waiting jobs of every owner (limits permitting); RQ receives them after commit."""
    registry = current()
    now = now or utcnow()
    admitted: list[Any] = []
    for owner_id in repo.owners_waiting(session, now):
        admitted.extend(core.admit(session, registry, owner_id, now))
    return admitted


def reap(session: Session, redis: Redis, now: datetime | None = None) -> ReapReport:
    """One reaper pass (see module doc). Returns what it did; `skipped` when another process is reaping."""
    registry = current()
    now = now or utcnow()
    if not repo.try_lock_maintenance(session):
        return ReapReport(skipped=True)
    report = ReapReport()
    _reap_overrun(session, registry, now, report)
    _reap_dead(session, registry, now, report)
    _reenqueue_lost(session, registry, redis, now, report)
    report.dispatched = dispatch(session, now)
    return report


def _reap_dead(session: Session, registry: JobRegistry, now: datetime, report: ReapReport) -> None:
    before = now - timedelta(seconds=registry.settings.lease_timeout_s)
    for row in repo.dead_leases(session, before):
        log.warning("job %s lost its worker (last heartbeat %s)", row.id, row.heartbeat_at)
        if row.cancel_requested_at is not None:
            core.finish(session, registry, row, JobStatus.CANCELLED, now, message="cancelled (worker gone)")
            report.cancelled.append(row.id)
        elif row.attempts >= row.max_attempts:
            core.finish(session, registry, row, JobStatus.FAILED, now, error=worker_lost_error(row.attempts))
            report.failed.append(row.id)
        else:
            core.retry_later(session, registry, row, now, worker_lost_error(row.attempts), "worker_lost")
            report.retried.append(row.id)


def _reap_overrun(session: Session, registry: JobRegistry, now: datetime, report: ReapReport) -> None:
    """Attempts past budget + grace whose worker could not stop them itself."""
    slack = registry.settings.cancel_grace_s + registry.settings.lease_timeout_s
    for row in repo.running(session):
        started = row.attempt_started_at or now
        if (now - started).total_seconds() > row.budget_s + slack:
            core.finish(session, registry, row, JobStatus.FAILED, now, error=budget_error(row.budget_s))
            report.failed.append(row.id)


def _reenqueue_lost(session: Session, registry: JobRegistry, redis: Redis, now: datetime, report: ReapReport) -> None:
    """Queued jobs handed to RQ that Redis no longer knows (restart without persistence, flush)."""
    before = now - timedelta(seconds=registry.settings.enqueue_grace_s)
    rows = repo.dispatched_before(session, before)
    if not rows:
        return
    jobs = Job.fetch_many([str(r.id) for r in rows], connection=redis, serializer=JSONSerializer)
    for row, job in zip(rows, jobs, strict=True):
        if job is not None and job.get_status(refresh=False) not in _GONE and _in_redis_queue(redis, job):
            continue
        row.enqueued_at = now
        session.flush()
        core.emit(session, registry, row, EventType.REQUEUED, now, "re-enqueued: the queue had lost the job")
        core.enqueue_after_commit(session, registry, row)
        report.reenqueued.append(row.id)


def _in_redis_queue(redis: Redis, job: Job) -> bool:
    """Waiting in its queue, or being worked on (started registry)."""
    if job.get_status(refresh=False) in (RQStatus.STARTED, RQStatus.SCHEDULED, RQStatus.DEFERRED):
        return True
    queue = Queue(job.origin, connection=redis, serializer=JSONSerializer)
    return redis.lpos(queue.key, job.id) is not None


def stats(session: Session, redis: Redis | None) -> QueueStats:
    """Depth per queue, running jobs, live workers, queue wait p50/p95 and failure rate over the window."""
    settings = current().settings
    now = utcnow()
    since = now - timedelta(seconds=settings.stats_window_s)
    pg = repo.queued_counts(session)
    by_status = repo.status_counts(session)
    depths = []
    for name in (p.value for p in Priority):
        depth = None
        if redis is not None:
            try:
                depth = Queue(name, connection=redis, serializer=JSONSerializer).count
            except RedisError:
                depth = None
        counts = pg.get(name, {"waiting": 0, "enqueued": 0})
        depths.append(QueueDepth(queue=name, redis=depth, **counts))
    waits = repo.queue_waits(session, since)
    finished = repo.finished_counts(session, since)
    total = sum(finished.values())
    failed = finished.get(JobStatus.FAILED, 0)
    return QueueStats(
        queues=depths,
        by_status=by_status,
        running=by_status.get(JobStatus.RUNNING, 0),
        workers_alive=_workers_alive(redis, now, settings.worker_alive_s),
        window_s=settings.stats_window_s,
        queue_wait_p50_s=_round(percentile(waits, 50)),
        queue_wait_p95_s=_round(percentile(waits, 95)),
        finished_in_window=total,
        failed_in_window=failed,
        failure_rate=round(failed / total, 4) if total else None,
    )


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def _workers_alive(redis: Redis | None, now: datetime, alive_s: float) -> int | None:
    if redis is None:
        return None
    try:
        workers = Worker.all(connection=redis)
    except RedisError:
        return None
    alive = 0
    for worker in workers:
        beat = worker.last_heartbeat
        if beat is not None and beat.tzinfo is None:
            beat = beat.replace(tzinfo=now.tzinfo)
        if beat is not None and (now - beat).total_seconds() <= alive_s:
            alive += 1
    return alive


class MaintenanceLoop:
    """A daemon thread: `dispatch` every `dispatch_interval_s`, `reap` every `reap_interval_s`.

    Errors (PostgreSQL or Redis down) are logged and the loop carries on, so it comes back by itself.
    """

    def __init__(self, db: Database, redis: Redis, registry: JobRegistry) -> None:
        self.db, self.redis, self.registry = db, redis, registry
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-maintenance", daemon=True)
        self._last_reap = 0.0

    def start(self) -> MaintenanceLoop:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def tick(self, monotonic_now: float) -> None:
        settings = self.registry.settings
        if monotonic_now - self._last_reap >= settings.reap_interval_s:
            self._last_reap = monotonic_now
            with self.db.transaction() as session:
                report = reap(session, self.redis)
            if any((report.retried, report.failed, report.cancelled, report.reenqueued)):
                log.warning("reaper: %s", report.model_dump(mode="json", exclude={"dispatched", "skipped"}))
        else:
            with self.db.transaction() as session:
                dispatch(session)

    def _run(self) -> None:
        import time

        interval = min(self.registry.settings.dispatch_interval_s, self.registry.settings.reap_interval_s)
        while not self._stop.wait(interval):
            try:
                self.tick(time.monotonic())
            except Exception as exc:  # keep going through database/Redis outages
                log.warning("job maintenance pass failed: %s", type(exc).__name__)
