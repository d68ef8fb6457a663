"""Real worker processes (`huice worker --processes 3`): success, retries, kills, cancel, budget, fairness."""

from __future__ import annotations

import dataclasses
import os
import signal
import uuid
from collections.abc import Iterator

import pytest
from redis import Redis

from huice.bootstrap import Container
from job_orchestration import service
from job_orchestration.config import JobsEnv
from job_orchestration.domain import JobStatus
from tests.job_orchestration.cluster import Cluster, alive, principal_for, run_cluster
from tests.job_orchestration.conftest import fast_env
from tests.job_orchestration.factories import THREE_STEPS_EVENTS, event_types, read, submit, wait_for, wait_status

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def cluster(test_servers, migrated, tmp_path_factory) -> Iterator[Cluster]:
    with run_cluster(migrated, test_servers.redis_url, tmp_path_factory.mktemp("jobs-cluster"), 3) as c:
        yield c


@pytest.fixture
def live(settings, test_servers, committed_db) -> Iterator[JobsEnv]:
    """The job runtime of a composition root over the committed database and the shared Redis (never
    flushed: workers use it)."""
    from huice.contexts import configure_contexts

    redis = Redis.from_url(test_servers.redis_url)
    c = Container(settings=settings, servers=test_servers, db=committed_db, redis=redis)
    configure_contexts(c)
    yield fast_env(c)
    redis.close()


def _running_attempt(db, job_id, attempt: int = 1):
    return wait_for(lambda: (j := read(db, job_id)).status == "running" and j.attempts == attempt and j)


def _horse_pid(db, job_id) -> int:
    from job_orchestration import repository as repo

    with db.transaction() as session:
        return repo.get(session, job_id).worker_pid


def test_a_job_runs_to_success_on_a_worker(cluster, live):
    job = submit(live, uuid.uuid4(), "diag.progress", {"steps": 3, "delay": 0.05})
    done = wait_status(live.db, job.id, "succeeded", "failed")
    assert (done.status, done.attempts, done.result, done.progress) == ("succeeded", 1, {"steps": 3, "attempt": 1}, 100)
    assert done.queue_wait_s is not None and done.finished_at >= done.started_at >= done.submitted_at
    assert event_types(live.db, job.id) == THREE_STEPS_EVENTS


def test_transient_error_is_retried_and_user_error_is_not(cluster, live):
    owner = uuid.uuid4()
    flaky = submit(live, owner, "diag.fail", {"fail_attempts": 2})
    user = submit(live, owner, "diag.fail", {"mode": "user"})
    done = wait_status(live.db, flaky.id, "succeeded", "failed")
    assert (done.status, done.attempts, done.result) == ("succeeded", 3, {"attempt": 3})
    assert event_types(live.db, flaky.id).count("retrying") == 2
    failed = wait_status(live.db, user.id, "succeeded", "failed")
    assert (failed.status, failed.attempts, failed.error.code, failed.error.message) == (
        "failed",
        1,
        "INVALID_INPUT",
        "diagnostic user error",
    )


@pytest.mark.parametrize("victim", ["horse", "parent", "both"])
def test_a_sigkilled_worker_is_retried_never_run_twice_never_stuck(cluster, live, victim):
    job = submit(live, uuid.uuid4(), "diag.sleep", {"seconds": 2})
    _running_attempt(live.db, job.id)
    horse = _horse_pid(live.db, job.id)
    import psutil

    parent = psutil.Process(horse).ppid()
    assert parent in cluster.worker_pids()
    targets = {"horse": [horse], "parent": [parent], "both": [parent, horse]}[victim]
    for pid in targets:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(horse), timeout=10)  # a killed worker takes its work-horse with it: no orphan
    done = wait_status(live.db, job.id, "succeeded", "failed", timeout=40)
    assert (done.status, done.attempts, done.result) == ("succeeded", 2, {"slept": 2.0, "attempt": 2})
    types = event_types(live.db, job.id)
    assert types.count("succeeded") == 1 and types.count("started") == 2
    assert types[types.index("retrying") - 1] in ("progress", "started")


def test_cancel_of_a_running_job_stops_its_work_horse(cluster, live):
    owner = uuid.uuid4()
    job = submit(live, owner, "diag.sleep", {"seconds": 60, "cooperative": False})
    _running_attempt(live.db, job.id)
    horse = _horse_pid(live.db, job.id)
    with live.db.transaction() as session:
        first = service.cancel(session, live, principal_for(owner), job.id)
    with live.db.transaction() as session:
        second = service.cancel(session, live, principal_for(owner), job.id)
    assert (first.status, first.cancel_requested) == (second.status, second.cancel_requested) == ("running", True)
    done = wait_status(live.db, job.id, "cancelled", "failed", "succeeded", timeout=20)
    assert (done.status, done.attempts, done.result) == ("cancelled", 1, None)
    wait_for(lambda: not alive(horse), timeout=10)
    with live.db.transaction() as session:
        third = service.cancel(session, live, principal_for(owner), job.id)
    assert (third.status, third.finished_at) == ("cancelled", done.finished_at)
    assert event_types(live.db, job.id)[-2:] == ["cancel_requested", "cancelled"]


def test_a_job_over_its_budget_fails_with_the_reason(cluster, live):
    job = submit(live, uuid.uuid4(), "diag.sleep", {"seconds": 60, "cooperative": False}, budget_s=1)
    done = wait_status(live.db, job.id, "failed", "succeeded", timeout=20)
    assert (done.status, done.attempts) == ("failed", 1)
    assert done.error.model_dump() == {
        "code": "INTERNAL_ERROR",
        "message": "job exceeded its wall budget of 1 s",
        "details": {"reason": "budget_exceeded", "budget_s": 1},
    }


def test_a_queued_job_lost_by_redis_is_re_enqueued_and_runs(cluster, live):
    blind = dataclasses.replace(live, redis=None)  # the after-commit enqueue never reaches Redis
    job = submit(blind, uuid.uuid4(), "diag.sleep", {"seconds": 0.1})
    assert job.enqueued_at is not None
    done = wait_status(live.db, job.id, "succeeded", "failed", timeout=20)
    assert (done.status, done.attempts) == ("succeeded", 1)
    assert "requeued" in event_types(live.db, job.id)


def test_per_owner_limit_holds_under_a_burst_and_others_are_not_starved(cluster, live):
    cluster.wait_workers()  # killed workers are back (the supervisor restarts them)
    busy, other = uuid.uuid4(), uuid.uuid4()
    burst = [submit(live, busy, "diag.sleep", {"seconds": 0.6}) for _ in range(6)]
    late = submit(live, other, "diag.sleep", {"seconds": 0.1})
    jobs = [wait_status(live.db, j.id, "succeeded", "failed", timeout=40) for j in burst]
    theirs = wait_status(live.db, late.id, "succeeded", "failed", timeout=40)
    assert {j.status for j in jobs} == {"succeeded"} and theirs.status == "succeeded"
    spans = sorted((j.started_at, j.finished_at) for j in jobs)
    points = sorted([(s, 1) for s, _ in spans] + [(f, -1) for _, f in spans], key=lambda p: (p[0], p[1]))
    running = peak = 0
    for _, delta in points:
        running += delta
        peak = max(peak, running)
    assert peak == 2  # free plan: two at a time, never more
    assert theirs.started_at < max(j.started_at for j in jobs)  # the other owner did not wait for the batch


def test_queue_stats_see_the_workers(cluster, live):
    with live.db.transaction() as session:
        stats = service.stats(session, live)
    assert stats.workers_alive >= 3  # killed workers count until their RQ heartbeat expires
    assert [q.queue for q in stats.queues] == ["high", "default", "low"]
    assert stats.finished_in_window >= 1 and JobStatus.SUCCEEDED in stats.by_status
