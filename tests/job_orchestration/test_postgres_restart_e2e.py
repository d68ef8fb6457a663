"""PostgreSQL restarts while jobs run (the source of truth goes away for a few seconds): an attempt's
progress and heartbeats are skipped while the database is unreachable and resume after it, an outcome
reached during the outage is recorded once it is back, and the worker and the reaper carry on — all on
the first attempt, as long as the outage is shorter than the lease timeout."""

from __future__ import annotations

import time
import uuid

import pytest
from redis import Redis

from huice import migrate
from huice.bootstrap import Container, Servers
from platform_core.db import Database
from platform_core.embedded import EmbeddedPostgres
from tests.job_orchestration.cluster import run_cluster
from tests.job_orchestration.conftest import fast_env
from tests.job_orchestration.factories import event_types, submit, wait_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LEASE_S = 15.0  # longer than each outage below


def _outage(server: EmbeddedPostgres, url: str, seconds: float) -> None:
    server.stop()
    time.sleep(seconds)
    assert server.start() == url  # back on the same socket, with every committed row


def test_postgres_restarts_mid_job_cost_no_attempt(settings, test_servers, tmp_path):
    from huice.contexts import configure_contexts

    server = EmbeddedPostgres(tmp_path / "pg")
    url = server.start()
    db = redis = None
    try:
        migrate.upgrade(url)
        db = Database.from_url(url, pool_size=2)
        redis = Redis.from_url(test_servers.redis_url)
        live = Container(settings=settings, servers=Servers(url, test_servers.redis_url), db=db, redis=redis)
        configure_contexts(live)
        env = fast_env(live, lease_timeout_s=LEASE_S)
        jobs = {"lease_timeout_s": LEASE_S}
        with run_cluster(url, test_servers.redis_url, tmp_path / "cluster", processes=1, jobs=jobs):
            owner = uuid.uuid4()
            # 1. the outage falls in the middle of the handler: progress and heartbeats resume after it
            job = submit(env, owner, "diag.sleep", {"seconds": 6})
            wait_status(db, job.id, "running")
            _outage(server, url, 2.0)
            done = wait_status(db, job.id, "succeeded", "failed", timeout=60)
            assert (done.status, done.attempts) == ("succeeded", 1)
            assert event_types(db, job.id).count("progress") > 0

            # 2. the handler finishes during the outage: its outcome is written once the database is back
            job = submit(env, owner, "diag.sleep", {"seconds": 1})
            wait_status(db, job.id, "running")
            _outage(server, url, 3.0)
            done = wait_status(db, job.id, "succeeded", "failed", timeout=60)
            assert (done.status, done.attempts, done.result["slept"]) == ("succeeded", 1, 1.0)
            assert "retrying" not in event_types(db, job.id)

            after = submit(env, owner, "diag.sleep", {"seconds": 0.1})  # the same worker takes new work
            assert wait_status(db, after.id, "succeeded", "failed", timeout=30).status == "succeeded"
    finally:
        if redis is not None:
            redis.close()
        if db is not None:
            db.dispose()
        server.stop()
