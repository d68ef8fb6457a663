"""The reaper on a rolled-back database: dead heartbeats, overrun budgets, jobs lost by Redis; stats."""

from __future__ import annotations

from datetime import timedelta

from rq import Worker
from rq.job import Job
from rq.utils import utcformat

from job_orchestration import service
from job_orchestration.attempt import Attempt, Lease, beat, conclude, start
from job_orchestration.domain import JobStatus
from job_orchestration.rq_worker import priority_queues
from platform_core.ids import utcnow
from tests.job_orchestration.conftest import fast_env
from tests.job_orchestration.factories import event_types, read, submit


def _reap(env, seconds_later: float):
    with env.db.transaction() as session:
        return service.reap(session, env, utcnow() + timedelta(seconds=seconds_later))


def _running(env, owner, **kw):
    job = submit(env, owner, **kw)
    start(env, job.id, worker_name="w", pid=1)
    return job


def test_a_dead_heartbeat_is_retried_then_failed_when_attempts_run_out(db, env, redis, make_user):
    owner = make_user(plan="pro")
    job = _running(env, owner)
    assert job.id not in _reap(env, 0.5).retried  # heartbeat still fresh
    report = _reap(env, 5)
    assert job.id in report.retried
    retrying = read(db, job.id)
    assert (retrying.status, retrying.attempts) == (JobStatus.QUEUED, 1)
    assert retrying.error.details == {"reason": "worker_lost", "attempts": 1}
    for attempt, later in ((2, 10), (3, 30)):
        assert job.id in _reap(env, later).dispatched  # the retry is admitted once its backoff passed
        lease = start(env, job.id, worker_name="w", pid=1)
        assert lease.attempt == attempt
        report = _reap(env, later + 10)
    assert job.id in report.failed
    failed = read(db, job.id)
    assert (failed.status, failed.attempts) == (JobStatus.FAILED, 3)
    assert failed.error.model_dump() == {
        "code": "INTERNAL_ERROR",
        "message": "worker lost (no heartbeat) after 3 attempt(s)",
        "details": {"reason": "worker_lost", "attempts": 3},
    }


def test_a_dead_job_with_a_cancel_request_is_cancelled_not_retried(db, env, redis, make_user):
    owner = make_user()
    job = _running(env, owner)
    with db.transaction() as session:
        service.cancel(session, env, owner, job.id)
    assert job.id in _reap(env, 5).cancelled
    assert read(db, job.id).status == JobStatus.CANCELLED


def test_an_attempt_past_its_budget_is_failed(db, env, redis, make_user):
    job = _running(env, make_user(), budget_s=2)
    beat(db, Lease(job.id, _token(db, job.id), 1, "diag.sleep", job.owner_id, {}, 2))
    report = _reap(env, 2 + 0.8 + 1.5 + 1)
    assert job.id in report.failed
    assert read(db, job.id).error.details == {"reason": "budget_exceeded", "budget_s": 2}


def _token(db, job_id):
    from job_orchestration import repository as repo

    with db.transaction() as session:
        return repo.get(session, job_id).lease_token


def test_queued_jobs_lost_by_redis_are_re_enqueued(db, env, redis, make_user):
    owner = make_user()
    job = submit(env, owner)
    assert Job.exists(str(job.id), connection=redis)
    assert job.id not in _reap(env, 5).reenqueued  # still in its queue
    redis.flushdb()
    assert job.id not in _reap(env, 0.2).reenqueued  # too recent: the enqueue may be in flight
    report = _reap(env, 5)
    assert job.id in report.reenqueued
    assert Job.exists(str(job.id), connection=redis)
    assert str(job.id).encode() in redis.lrange("rq:queue:default", 0, -1)
    assert event_types(db, job.id)[-1] == "requeued"


def test_stats_count_queues_running_and_failures(db, env, redis, make_user):
    owner = make_user(plan="pro")
    submit(env, owner, priority="high")
    running = _running(env, owner)
    failing = _running(env, owner, kind="diag.fail")
    attempt = Attempt(env, Lease(failing.id, _token(db, failing.id), 1, "diag.fail", owner.user_id, {}, 60))
    conclude(attempt, JobStatus.FAILED, error={"code": "INVALID_INPUT", "message": "bad"})
    with db.transaction() as session:
        stats = service.stats(session, env)
    depth = {q.queue: q for q in stats.queues}
    assert (depth["high"].redis, depth["high"].enqueued, depth["high"].waiting) == (1, 1, 0)
    assert stats.running >= 1 and stats.by_status["running"] >= 1
    assert stats.failed_in_window >= 1 and stats.failure_rate is not None
    assert stats.queue_wait_p50_s is not None and stats.queue_wait_p95_s >= stats.queue_wait_p50_s
    assert running.id


def test_a_worker_is_live_while_its_heartbeat_is_within_the_window(container, redis):
    env = fast_env(container, worker_alive_s=30)
    for name, age_s in (("fresh", 5), ("stale", 31)):
        worker = Worker(priority_queues(redis), connection=redis, name=name)
        worker.register_birth()
        redis.hset(worker.key, "last_heartbeat", utcformat(utcnow() - timedelta(seconds=age_s)))
    [live] = service.live_workers(env)
    assert (live.name, live.queues) == ("fresh", ["high", "default", "low"])
    with env.db.transaction() as session:
        assert service.stats(session, env).workers_alive == 1
