"""A Redis restart mid-job (losing every key): the running job completes, the queued one is re-enqueued."""

from __future__ import annotations

import uuid

import pytest
from redis import Redis
from rq import Worker

from huice.bootstrap import Container, Servers
from platform_core.embedded import EmbeddedRedis, free_port
from tests.job_orchestration.cluster import run_cluster
from tests.job_orchestration.conftest import fast_env
from tests.job_orchestration.factories import event_types, submit, wait_for, wait_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_redis_restart_mid_job_completes_and_lost_jobs_are_re_enqueued(settings, migrated, committed_db, tmp_path):
    from huice.contexts import configure_contexts

    port = free_port()
    server = EmbeddedRedis(tmp_path / "redis", appendonly=True, port=port)
    url = server.start()
    redis = Redis.from_url(url)
    live = Container(settings=settings, servers=Servers(migrated, url), db=committed_db, redis=redis)
    configure_contexts(live)
    env = fast_env(live)
    restarted = None
    try:
        with run_cluster(migrated, url, tmp_path / "cluster", processes=1):
            owner = uuid.uuid4()
            running = submit(env, owner, "diag.sleep", {"seconds": 3})
            queued = submit(env, owner, "diag.sleep", {"seconds": 0.1})  # waits in RQ behind the first
            wait_status(live.db, running.id, "running")
            assert str(queued.id).encode() in redis.lrange("rq:queue:default", 0, -1)
            redis.set("test:before-restart", 1)
            server.stop()  # Redis goes away mid-job...
            restarted = EmbeddedRedis(tmp_path / "redis", appendonly=False, port=port)
            assert restarted.start() == url  # ...and comes back empty on the same port (the workers' own
            assert not redis.exists("test:before-restart")  # heartbeats may write to it at once: not a count)

            first = wait_status(live.db, running.id, "succeeded", "failed", timeout=30)
            assert (first.status, first.attempts) == ("succeeded", 1)  # the busy worker survived the restart
            second = wait_status(live.db, queued.id, "succeeded", "failed", timeout=30)
            assert (second.status, second.attempts) == ("succeeded", 1)
            assert "requeued" in event_types(live.db, queued.id)
            wait_for(lambda: len(Worker.all(connection=redis)) == 1, timeout=30)  # registered again
    finally:
        redis.close()
        for srv in (restarted, server):
            if srv is not None:
                srv.stop()
