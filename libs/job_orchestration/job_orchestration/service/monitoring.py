"""What operators watch: queue statistics and the one definition of a live worker.

A worker is alive when its RQ heartbeat is at most `HUICE_JOBS_WORKER_ALIVE_S` old; `/ready`,
`huice doctor` and the queue statistics all count workers with `live_workers`.
"""

from __future__ import annotations

from datetime import timedelta

from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.serializers import JSONSerializer
from sqlalchemy.orm import Session

from job_orchestration import repository as repo
from job_orchestration.config import JobsEnv
from job_orchestration.domain import QUEUE_NAMES, JobStatus
from job_orchestration.schemas import (
    JobCount,
    JobError,
    KindStats,
    LatestJob,
    LiveWorker,
    QueueDepth,
    QueueStats,
    RunTimeHistogram,
)
from platform_core.ids import utcnow


def live_workers(env: JobsEnv) -> list[LiveWorker]:
    """The RQ workers whose heartbeat is recent enough (none without Redis); Redis errors propagate."""
    if env.redis is None:
        return []
    now = utcnow()
    window = timedelta(seconds=env.settings.worker_alive_s)
    alive = []
    for worker in Worker.all(connection=env.redis):
        beat = worker.last_heartbeat
        if beat is not None and beat.tzinfo is None:
            beat = beat.replace(tzinfo=now.tzinfo)
        if beat is not None and now - beat <= window:
            alive.append(
                LiveWorker(name=worker.name, queues=worker.queue_names(), state=worker.get_state(), last_heartbeat=beat)
            )
    return alive


def stats(session: Session, env: JobsEnv, *, window_s: int | None = None) -> QueueStats:
    """Depth per queue, running jobs, live workers, queue wait p50/p95/mean and failure rate over the window
    (`HUICE_JOBS_STATS_WINDOW_S` unless `window_s` is given)."""
    settings = env.settings
    window_s = window_s or settings.stats_window_s
    since = utcnow() - timedelta(seconds=window_s)
    pg = repo.queued_counts(session)
    by_status = repo.status_counts(session)
    depths = [
        QueueDepth(queue=name, redis=_depth(env, name), **pg.get(name, {"waiting": 0, "enqueued": 0}))
        for name in QUEUE_NAMES
    ]
    waits = repo.queue_wait_figures(session, since)
    finished = repo.finished_counts(session, since)
    total = sum(finished.values())
    failed = finished.get(JobStatus.FAILED, 0)
    return QueueStats(
        queues=depths,
        by_status=by_status,
        running=by_status.get(JobStatus.RUNNING, 0),
        workers_alive=_workers_alive(env),
        window_s=window_s,
        queue_wait_mean_s=_round(waits["mean"]),
        queue_wait_p50_s=_round(waits["p50"]),
        queue_wait_p95_s=_round(waits["p95"]),
        finished_in_window=total,
        failed_in_window=failed,
        failure_rate=round(failed / total, 4) if total else None,
    )


def kind_stats(session: Session, env: JobsEnv, kind: str, *, window_s: int | None = None) -> KindStats:
    """The jobs of one kind: by status now, and over the window (`HUICE_JOBS_STATS_WINDOW_S` unless given)
    queue wait mean/p50/p95 (same rule as `stats`: first start − submission), run time of the succeeded
    ones, failure rate and completion rate (failed resp. succeeded / finished)."""
    window_s = window_s or env.settings.stats_window_s
    by_status = {status: n for (_, status), n in repo.kind_status_counts(session, kind).items()}
    figures = repo.kind_window_figures(session, kind, utcnow() - timedelta(seconds=window_s))
    finished = figures["finished"]
    total = sum(finished.values())
    failed = finished.get(JobStatus.FAILED, 0)
    succeeded = finished.get(JobStatus.SUCCEEDED, 0)
    return KindStats(
        kind=kind,
        window_s=window_s,
        by_status=by_status,
        running=by_status.get(JobStatus.RUNNING, 0),
        queued=by_status.get(JobStatus.QUEUED, 0),
        started_in_window=figures["started"],
        queue_wait_mean_s=_round(figures["wait_mean"]),
        queue_wait_p50_s=_round(figures["wait_p50"]),
        queue_wait_p95_s=_round(figures["wait_p95"]),
        succeeded_in_window=figures["succeeded"],
        run_time_mean_s=_round(figures["run_mean"]),
        run_time_p50_s=_round(figures["run_p50"]),
        run_time_p95_s=_round(figures["run_p95"]),
        finished_in_window=total,
        failed_in_window=failed,
        failure_rate=round(failed / total, 4) if total else None,
        completion_rate=round(succeeded / total, 4) if total else None,
    )


def job_counts(session: Session) -> list[JobCount]:
    """Every job by kind and status (the Prometheus job counters)."""
    rows = repo.kind_status_counts(session)
    return [JobCount(kind=k, status=s, count=n) for (k, s), n in sorted(rows.items())]


def run_time_histogram(session: Session, kind: str, bounds: list[float]) -> RunTimeHistogram:
    """Cumulative run-time counts of the succeeded jobs of `kind` (for a Prometheus histogram)."""
    cumulative, count, total = repo.run_time_buckets(session, kind, bounds)
    return RunTimeHistogram(kind=kind, bounds=bounds, cumulative=cumulative, count=count, sum_s=total)


def latest_job(session: Session, kind: str) -> LatestJob | None:
    """The newest job of `kind` (any owner), or None."""
    row = repo.latest_of_kind(session, kind)
    if row is None:
        return None
    return LatestJob(
        id=row.id,
        kind=row.kind,
        status=JobStatus(row.status),
        submitted_at=row.submitted_at,
        finished_at=row.finished_at,
        error=JobError(**row.error) if row.error else None,
    )


def purge_events(session: Session, *, older_than_days: int) -> int:
    """Retention: delete the events of finished jobs older than `older_than_days`; returns how many."""
    return repo.purge_events(session, utcnow() - timedelta(days=older_than_days))


def _depth(env: JobsEnv, queue: str) -> int | None:
    if env.redis is None:
        return None
    try:
        return Queue(queue, connection=env.redis, serializer=JSONSerializer).count
    except RedisError:
        return None


def _workers_alive(env: JobsEnv) -> int | None:
    if env.redis is None:
        return None
    try:
        return len(live_workers(env))
    except RedisError:
        return None


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None
