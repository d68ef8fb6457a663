"""A real `huice worker` keeps one spare work-horse per RQ worker, forked and warm, waiting for the next job
(`job_orchestration.rq_worker.ResilientWorker`): the spare runs that job exactly as a freshly forked horse
would, cancel and kills still end it, a spare that dies is replaced, and a worker takes its spare along
when it stops or is killed."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from datetime import timedelta

import psutil
import pytest
from redis import Redis
from sqlalchemy import delete, func, select, update

from huice.bootstrap import Container
from job_orchestration import service
from job_orchestration.config import JobsEnv
from job_orchestration.repository import JobRow
from platform_core.db import Database
from platform_core.ids import utcnow
from tests.job_orchestration.cluster import Cluster, alive, principal_for, run_cluster
from tests.job_orchestration.conftest import fast_env
from tests.job_orchestration.factories import THREE_STEPS_EVENTS, event_types, read, submit, wait_for, wait_status

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def cluster(settings, test_servers, migrated, tmp_path_factory) -> Iterator[Cluster]:
    """One RQ worker process (under `huice worker`'s supervisor), so that every job goes to its spare, and
    no scheduled job to take that spare first: monitoring's schedules (alerts every minute, retention),
    which the supervisor's tick submits, are created here and moved a day ahead; nor any delivery left in the
    RQ queues by earlier tests (jobs of other databases: each would take the spare, ignored as stale, and
    a horse busy with one looks like the idle spare, for it writes no job row)."""
    from huice.contexts import configure_contexts
    from job_orchestration.rq_worker import priority_queues
    from monitoring.config import env_of
    from monitoring.repository import ScheduleRow
    from monitoring.service.schedules import ensure_schedules

    db, redis = Database.from_url(migrated, pool_size=1), Redis.from_url(test_servers.redis_url)
    for queue in priority_queues(redis):
        queue.empty()
    c = Container(settings=settings, servers=test_servers, db=db, redis=redis)
    configure_contexts(c)
    with db.transaction() as session:
        before = dict(session.execute(select(ScheduleRow.name, ScheduleRow.next_run_at)).all())
        ensure_schedules(session, env_of(c))
        session.execute(update(ScheduleRow).values(next_run_at=utcnow() + timedelta(days=1)))
    try:
        with run_cluster(migrated, test_servers.redis_url, tmp_path_factory.mktemp("spare-cluster"), 1) as cluster:
            wait_for(lambda: jobs_where(db, JobRow.status.in_(("queued", "running"))) == 0, timeout=60)
            yield cluster
    finally:  # the schedules as they were: later tests read them (`tests/huice/test_health.py`: overdue ones)
        with db.transaction() as session:
            session.execute(delete(ScheduleRow).where(ScheduleRow.name.not_in(list(before))))
            for name, next_run_at in before.items():
                session.execute(update(ScheduleRow).where(ScheduleRow.name == name).values(next_run_at=next_run_at))
    db.dispose()
    redis.close()


@pytest.fixture
def live(settings, test_servers, committed_db) -> Iterator[JobsEnv]:
    from huice.contexts import configure_contexts

    redis = Redis.from_url(test_servers.redis_url)
    c = Container(settings=settings, servers=test_servers, db=committed_db, redis=redis)
    configure_contexts(c)
    yield fast_env(c)
    redis.close()


def forked_children(worker_pid: int) -> list[int]:
    """The worker's forked children (its own command line; the sandbox zygote runs another one): the idle
    spare, or the work-horse running a job."""
    try:
        worker = psutil.Process(worker_pid)
        return [p.pid for p in worker.children() if p.cmdline() == worker.cmdline() and alive(p.pid)]
    except psutil.Error:  # gone, or a zombie its supervisor has not reaped yet
        return []


def jobs_where(db: Database, condition) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(JobRow).where(condition))


def spare_of(cluster: Cluster, db, other_than: int = 0, timeout: float = 30.0) -> int:
    """The one RQ worker's idle spare work-horse (a new one when `other_than` is given): its one forked
    child that has run no job (the horse of a job that just finished may still be exiting)."""
    cluster.wait_workers()

    def one() -> int:
        [worker] = cluster.worker_pids()
        children = forked_children(worker)
        if len(children) != 1 or children[0] == other_than:
            return 0
        return children[0] if jobs_where(db, JobRow.worker_pid == children[0]) == 0 else 0

    return wait_for(one, timeout=timeout)


def worker_pid_of(db, job_id: uuid.UUID) -> int:
    from job_orchestration import repository as repo

    with db.transaction() as session:
        return repo.get(session, job_id).worker_pid


def test_the_idle_worker_s_spare_runs_the_next_job_and_a_new_spare_follows(cluster, live):
    spare = spare_of(cluster, live.db)
    job = submit(live, uuid.uuid4(), "diag.progress", {"steps": 3, "delay": 0.05})
    done = wait_status(live.db, job.id, "succeeded", "failed")
    assert (done.status, done.attempts, done.result, done.progress) == ("succeeded", 1, {"steps": 3, "attempt": 1}, 100)
    assert event_types(live.db, job.id) == THREE_STEPS_EVENTS
    assert worker_pid_of(live.db, job.id) == spare  # the job ran in the spare that waited for it
    wait_for(lambda: not alive(spare), timeout=10)  # a spare runs one job, like any work-horse
    assert spare_of(cluster, live.db, other_than=spare) != spare


def test_a_job_in_a_spare_keeps_its_lease_by_heartbeats(cluster, live):
    spare = spare_of(cluster, live.db)
    job = submit(live, uuid.uuid4(), "diag.sleep", {"seconds": 3, "cooperative": False})
    done = wait_status(live.db, job.id, "succeeded", "failed", timeout=30)
    assert (done.status, done.attempts) == ("succeeded", 1)  # twice the 1.5 s lease timeout: the beats held it
    assert worker_pid_of(live.db, job.id) == spare
    assert "retrying" not in event_types(live.db, job.id)


def test_cancel_of_a_job_in_a_spare_kills_that_horse(cluster, live):
    spare = spare_of(cluster, live.db)
    owner = uuid.uuid4()
    job = submit(live, owner, "diag.sleep", {"seconds": 60, "cooperative": False})
    wait_for(lambda: read(live.db, job.id).status == "running")
    assert worker_pid_of(live.db, job.id) == spare
    with live.db.transaction() as session:
        service.cancel(session, live, principal_for(owner), job.id)
    done = wait_status(live.db, job.id, "cancelled", "failed", "succeeded", timeout=20)
    assert (done.status, done.attempts) == ("cancelled", 1)
    wait_for(lambda: not alive(spare), timeout=10)
    spare_of(cluster, live.db, other_than=spare)


def test_a_sigkilled_job_in_a_spare_is_retried_by_a_later_horse(cluster, live):
    spare = spare_of(cluster, live.db)
    job = submit(live, uuid.uuid4(), "diag.sleep", {"seconds": 2})
    wait_for(lambda: read(live.db, job.id).status == "running")
    assert worker_pid_of(live.db, job.id) == spare
    os.kill(spare, signal.SIGKILL)
    done = wait_status(live.db, job.id, "succeeded", "failed", timeout=40)
    assert (done.status, done.attempts, done.result) == ("succeeded", 2, {"slept": 2.0, "attempt": 2})
    assert worker_pid_of(live.db, job.id) != spare


def test_a_spare_killed_while_idle_is_replaced_and_jobs_still_run(cluster, live):
    first = spare_of(cluster, live.db)
    os.kill(first, signal.SIGKILL)
    second = spare_of(cluster, live.db, other_than=first)  # replaced while the worker is idle
    os.kill(second, signal.SIGKILL)  # and killed again just before a job arrives: a fresh fork runs it
    job = submit(live, uuid.uuid4(), "diag.progress", {"steps": 2, "delay": 0.01})
    done = wait_status(live.db, job.id, "succeeded", "failed")
    assert (done.status, done.attempts, done.result) == ("succeeded", 1, {"steps": 2, "attempt": 1})
    assert worker_pid_of(live.db, job.id) not in (first, second)
    spare_of(cluster, live.db, other_than=second)


def test_a_sigkilled_worker_takes_its_spare_along(cluster, live):
    spare = spare_of(cluster, live.db)
    [worker] = cluster.worker_pids()
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: not alive(spare), timeout=10)  # no orphan spare survives its worker
    spare_of(cluster, live.db, other_than=spare)  # the supervisor's new worker has its own


def test_a_stopped_worker_leaves_no_spare_behind(test_servers, migrated, tmp_path) -> None:
    with run_cluster(migrated, test_servers.redis_url, tmp_path / "stop", 2) as c:
        spares = [wait_for(lambda pid=pid: forked_children(pid), timeout=30)[0] for pid in c.worker_pids()]
        assert all(alive(pid) for pid in spares)
    assert not [pid for pid in spares if alive(pid)]  # `huice worker` stopped: every spare went with it
