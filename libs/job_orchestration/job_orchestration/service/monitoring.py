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
from job_orchestration.domain import QUEUE_NAMES, JobStatus, percentile
from job_orchestration.schemas import LiveWorker, QueueDepth, QueueStats
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


def stats(session: Session, env: JobsEnv) -> QueueStats:
    """Depth per queue, running jobs, live workers, queue wait p50/p95 and failure rate over the window."""
    settings = env.settings
    since = utcnow() - timedelta(seconds=settings.stats_window_s)
    pg = repo.queued_counts(session)
    by_status = repo.status_counts(session)
    depths = [
        QueueDepth(queue=name, redis=_depth(env, name), **pg.get(name, {"waiting": 0, "enqueued": 0}))
        for name in QUEUE_NAMES
    ]
    waits = repo.queue_waits(session, since)
    finished = repo.finished_counts(session, since)
    total = sum(finished.values())
    failed = finished.get(JobStatus.FAILED, 0)
    return QueueStats(
        queues=depths,
        by_status=by_status,
        running=by_status.get(JobStatus.RUNNING, 0),
        workers_alive=_workers_alive(env),
        window_s=settings.stats_window_s,
        queue_wait_p50_s=_round(percentile(waits, 50)),
        queue_wait_p95_s=_round(percentile(waits, 95)),
        finished_in_window=total,
        failed_in_window=failed,
        failure_rate=round(failed / total, 4) if total else None,
    )


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
