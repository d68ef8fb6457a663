"""A worker parent warms its engine before it forks work-horses (`job_orchestration.attempt.warm`, called by
`huice.worker.prewarm`): afterwards a run's attempt compiles none of its reads nor the lease's own
statements — only the unit of work's writes, which no statement that changes nothing can compile — and
the parent holds no connection a horse could inherit."""

from __future__ import annotations

import os
import uuid
from typing import Any

from sqlalchemy import event

from backtest.config import env_of
from huice.bootstrap import Container
from job_orchestration import attempt
from tests.backtest import support

# the writes of a run's attempt (the lease taken and ended, its events, the results, the usage count)
WRITES = {
    "UPDATE job_orchestration.jobs",
    "INSERT INTO job_orchestration.job_events",
    "UPDATE backtest.runs",
    "INSERT INTO user_auth.usage",
}


def _stay() -> None:
    return None


def _compiled_during(fresh: Container, job_id: uuid.UUID) -> list[str]:
    """The statements `fresh`'s engine compiled (missed its cache for) while it ran the attempt of `job_id`."""
    missed: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if context is not None and context.cache_hit == context.dialect.CACHE_MISS:
            missed.append(" ".join(statement.split()))

    event.listen(fresh.db.engine, "before_cursor_execute", seen)
    try:
        outcome = attempt.execute(
            env_of(fresh).jobs, job_id, worker_name="in-process", pid=os.getpid(), kill=_stay
        )  # fmt: skip
    finally:
        event.remove(fresh.db.engine, "before_cursor_execute", seen)
    assert str(outcome) == "succeeded"
    return missed


def test_a_warmed_engine_compiles_only_the_writes_of_a_run(bt: Container, client: Any, user) -> None:
    created = client.post("/api/backtests", json=support.backtest_body(), headers=user.headers)
    assert created.status_code == 201, created.text
    answer = support.submit(client, user, created.json()["backtest"], {"fast": 5, "slow": 20})
    assert answer.status_code == 201, answer.text
    [run_id] = answer.json()["run_ids"]
    job_id = uuid.UUID(support.read_run(client, user, run_id)["job_id"])

    # its own engine, so an empty compiled cache, as a worker parent's after start-up
    fresh = support.build_container(bt.servers.database_url, bt.servers.redis_url, bt.settings.resolved_data_dir)
    try:
        attempt.warm(env_of(fresh).jobs)
        assert fresh.db.engine.pool.checkedin() == 0  # closed again: a forked horse opens its own
        missed = _compiled_during(fresh, job_id)
    finally:
        support.close_container(fresh)
    assert support.read_run(client, user, run_id)["status"] == "succeeded"
    assert missed, "the writes are compiled in the attempt"
    assert {s.split(" SET ")[0].split(" (")[0] for s in missed} <= WRITES, missed
    assert len(missed) <= 5, missed
