"""A worker parent warms its engine before it forks work-horses (`job_orchestration.attempt.warm`, called by
`huice.worker.prewarm`): afterwards a run's attempt compiles none of its statements — its reads, the lease's
own statements on a ghost job row, the results' UPDATE and the usage count, all run and rolled back — and the
parent holds no connection a horse could inherit. A spare work-horse runs the same statements on its own
connection before its job arrives (`job_orchestration.jobs.prepare_work_horse`)."""

from __future__ import annotations

import os
import uuid
from typing import Any

from sqlalchemy import event

from backtest.config import env_of
from huice.bootstrap import Container
from job_orchestration import attempt
from tests.backtest import support


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


def test_a_warmed_engine_compiles_none_of_a_runs_statements(bt: Container, client: Any, user) -> None:
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
    assert missed == []


def test_a_spare_work_horse_runs_a_jobs_statements_on_its_own_connection(bt: Container) -> None:
    """A spare's warm-up (`prepare_work_horse`, then `warm_work_horse_connection`) opens the horse's own
    connection and runs an attempt's statements and the job kinds' reads on it, rolled back: the PostgreSQL
    backend behind it then holds the catalog entries of their tables, so the job's first statements do not
    read them — and the attempt's writes on a ghost job row, which fire (and so compile) the jobs'
    status-tally trigger. The connection stays pooled for the job; nothing is written."""
    from sqlalchemy import text

    from huice.worker import WARM_HORSE
    from job_orchestration.jobs import prepare_work_horse, warm_work_horse_connection
    from platform_core.runtime import runtime, set_runtime

    fresh = support.build_container(bt.servers.database_url, bt.servers.redis_url, bt.settings.resolved_data_dir)
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    try:
        previous = runtime()
    except RuntimeError:
        previous = None
    jobs, tally = "job_orchestration.jobs", "job_orchestration.job_status_tally"
    counts = f"SELECT (SELECT count(*) FROM {jobs}), (SELECT count(*) FROM {tally})"
    with bt.db.transaction() as session:
        before = tuple(session.execute(text(counts)).one())
    set_runtime(fresh)
    event.listen(fresh.db.engine, "before_cursor_execute", record)
    try:
        prepare_work_horse()
        warm_work_horse_connection()
        assert fresh.db.engine.pool.checkedin() == 1  # the horse's own connection, kept for its job
    finally:
        event.remove(fresh.db.engine, "before_cursor_execute", record)
        set_runtime(previous)
        support.close_container(fresh)
    assert WARM_HORSE[-1] is warm_work_horse_connection  # last: a job that arrives before skips it
    heads = {s.split(" WHERE ")[0][:60] for s in seen}
    assert any(s.startswith("WITH moved AS (UPDATE job_orchestration.jobs SET status") for s in seen), heads
    assert any("FROM backtest.runs" in s for s in seen) and any("FROM market_data.snapshot_files" in s for s in seen)
    ghost = seen.index(next(s for s in seen if s.startswith("INSERT INTO job_orchestration.jobs ")))
    assert any(s.startswith("WITH moved AS (UPDATE job_orchestration.jobs SET status") for s in seen[ghost:])
    with bt.db.transaction() as session:
        assert tuple(session.execute(text(counts)).one()) == before  # rolled back: no job, no tally delta
