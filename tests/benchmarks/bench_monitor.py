"""Monitoring benchmark (`make bench`): the operations summary on a database with 100,000 runs.

A fresh database (on `HUICE_TEST_DATABASE_URL`'s server, else an embedded PostgreSQL) is migrated and
filled with 100,000 `backtest.run` jobs and their runs (statuses mixed, submissions spread over 30 days,
~1/30 of them in the last 24 h) plus 1,000 users; the job counts' tally folded (as the reaper does every
pass) and `VACUUM ANALYZE`, then `build_summary` over 24h is timed
cold (first call) and warm (median of 10). Redis: `HUICE_TEST_REDIS_URL` or an embedded one. Target ≤ 50 ms.
Prints a markdown table row."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

RUNS = 100_000
USERS = 1_000

FILL = """
INSERT INTO user_auth.users (id, email, password_hash, role, plan, status, email_verified_at, created_at, updated_at)
SELECT gen_random_uuid(), 'bench-' || i || '@example.com', NULL, 'user', 'free', 'active',
       CASE WHEN i % 2 = 0 THEN now() END, now(), now()
FROM generate_series(1, :users) AS i;

INSERT INTO backtest.backtests (id, owner_id, strategy_id, version_id, strategy_name, version_number, content_hash,
    universe, frequency, start_date, end_date, adjust, data_source, snapshot_id, initial_cash, rules, benchmark,
    params, notes, created_at)
VALUES ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a1', gen_random_uuid(),
    gen_random_uuid(), 's', 1, 'h', '["600010.SH"]', '1d', '2023-01-03', '2023-12-29', 'qfq', 'sample', 'snap',
    1000000, '{}', NULL, '{}', '', now());

CREATE TEMP TABLE bench_jobs AS
SELECT gen_random_uuid() AS id, i,
       now() - (i % 43200) * interval '1 minute' AS submitted,
       (ARRAY['succeeded','succeeded','succeeded','failed','cancelled','running','queued'])[1 + i % 7] AS status
FROM generate_series(1, :runs) AS i;

INSERT INTO job_orchestration.jobs (id, kind, owner_id, owner_plan, payload, status, queue, progress,
    progress_message, attempts, max_attempts, budget_s, submitted_at, enqueued_at, started_at, attempt_started_at,
    heartbeat_at, finished_at, error)
SELECT id, 'backtest.run', '00000000-0000-0000-0000-0000000000a1', 'free', '{}', status, 'default', 0, '', 1, 3,
       900, submitted, submitted,
       CASE WHEN status <> 'queued' THEN submitted + (i % 60) * interval '1 second' END,
       CASE WHEN status <> 'queued' THEN submitted + (i % 60) * interval '1 second' END,
       CASE WHEN status <> 'queued' THEN submitted + (i % 60) * interval '1 second' END,
       CASE WHEN status IN ('succeeded','failed','cancelled')
            THEN submitted + (i % 60) * interval '1 second' + (1 + i % 300) * interval '1 second' END,
       NULL
FROM bench_jobs;

INSERT INTO backtest.runs (id, owner_id, backtest_id, job_id, params, priority, budget_s, created_at)
SELECT gen_random_uuid(), '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000b1', id, '{}',
       'default', 900, submitted
FROM bench_jobs;
"""


def main() -> None:
    from huice import migrate
    from huice.bootstrap import Container, Servers
    from huice.contexts import configure_contexts
    from job_orchestration import service as jobs
    from monitoring import service
    from monitoring.config import env_of
    from platform_core.db import Database
    from platform_core.embedded import EmbeddedPostgres, EmbeddedRedis
    from platform_core.settings import CoreSettings
    from tests.databases import create_database, drop_database

    tmp = Path(tempfile.mkdtemp(prefix="bench_monitor_"))
    server_url, redis_url = os.environ.get("HUICE_TEST_DATABASE_URL"), os.environ.get("HUICE_TEST_REDIS_URL")
    embedded = []
    if not server_url:
        pg = EmbeddedPostgres(tmp)
        server_url = pg.start()
        embedded.append(pg)
    if not redis_url:
        rd = EmbeddedRedis(tmp, appendonly=False)
        redis_url = rd.start()
        embedded.append(rd)
    url, name = create_database(server_url, prefix="huice_bench_mon")
    try:
        migrate.upgrade(url)
        from redis import Redis

        settings = CoreSettings(env="test", data_dir=tmp, database_url=url, redis_url=redis_url, _env_file=None)
        db = Database.from_url(url, pool_size=2)
        c = Container(settings=settings, servers=Servers(url, redis_url), db=db, redis=Redis.from_url(redis_url))
        configure_contexts(c)
        with db.transaction() as session:
            for statement in FILL.split(";\n\n"):
                session.execute(text(statement), {"runs": RUNS, "users": USERS})
        with db.transaction() as session:  # what the reaper does every pass (HUICE_JOBS_REAP_INTERVAL_S)
            jobs.compact_counts(session)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        env = env_of(c)

        def once() -> float:
            started = time.perf_counter()
            with db.transaction() as session:
                summary = service.build_summary(session, env, window="24h")
            elapsed = (time.perf_counter() - started) * 1000
            assert summary.backtests.runs == RUNS
            return elapsed

        cold = once()
        if os.environ.get("BENCH_PROFILE"):
            _profile(db, env)
        warm = statistics.median(once() for _ in range(10))
        print("| scenario | cold ms | warm ms (median of 10) | target |")
        print("| --- | ---: | ---: | ---: |")
        print(f"| summary over 24h, {RUNS:,} runs, {USERS:,} users | {cold:.1f} | {warm:.1f} | ≤ 50 |")
        for closer in c.extras.pop("_closers", []):
            closer()
        c.redis.close()
        db.dispose()
    finally:
        drop_database(server_url, name)
        for srv in embedded:
            srv.stop()


def _profile(db, env) -> None:
    """Each figure's call, warm (median of 10), and the SQL statements of one summary by their time
    (BENCH_PROFILE=1)."""
    from sqlalchemy import event

    from backtest import service as backtests
    from job_orchestration import service as jobs
    from market_data import service as market
    from monitoring import service
    from strategy_management import service as strategies
    from user_auth import service as users

    calls = {
        "users": lambda s: users.user_counts(s),
        "strategies": lambda s: strategies.strategy_counts(s),
        "backtests": lambda s: backtests.backtest_counts(s),
        "runs": lambda s: backtests.run_stats(s, env.backtest, window_s=86400),
        "jobs": lambda s: jobs.stats(s, env.jobs, window_s=86400),
        "data": lambda s: market.data_freshness(s, env.market),
        "last_sync": lambda s: jobs.latest_job(s, "monitoring.tushare_refresh"),
    }
    for name, call in calls.items():
        times = []
        for _ in range(11):
            with db.transaction() as session:
                started = time.perf_counter()
                call(session)
                times.append((time.perf_counter() - started) * 1000)
        print(f"{name}: {statistics.median(times[1:]):.1f} ms")
    statements: list[tuple[float, str]] = []

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(((time.perf_counter() - conn.info["bench_started"]) * 1000, " ".join(statement.split())))

    event.listen(db.engine, "before_cursor_execute", before)
    event.listen(db.engine, "after_cursor_execute", after)
    with db.transaction() as session:
        service.build_summary(session, env, window="24h")
    event.remove(db.engine, "before_cursor_execute", before)
    event.remove(db.engine, "after_cursor_execute", after)
    print(f"SQL of one summary: {sum(t for t, _ in statements):.1f} ms in {len(statements)} statements; costliest:")
    for elapsed, statement in sorted(statements, reverse=True)[:5]:
        print(f"  {elapsed:6.2f} ms  {statement[:150]}")


if __name__ == "__main__":
    main()
