"""End to end: `huice data sync` submits a `market_data.sync` job, a real worker process runs it against the
Tushare stand-in, and the CLI follows it to the result (its own database, really committing)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys

from typer.testing import CliRunner

from market_data import service
from market_data.cli import app
from market_data.config import env_of
from platform_core.cli import LazyContainer
from tests.backtest import support
from tests.databases import create_database, drop_database
from tests.market_data.conftest import SLICE, standin_settings


def test_the_cli_follows_a_sync_job_that_a_worker_runs(test_servers, data_dir, migrated, tushare) -> None:
    from huice import migrate

    url, name = create_database(test_servers.database_url, prefix="huice_mke2e")
    migrate.upgrade(url)
    c = support.build_container(url, test_servers.redis_url, data_dir / "market-e2e")
    worker = None
    try:
        with c.db.transaction() as session:
            sample = service.load_sample(session, env_of(c), symbols=SLICE)
        env = {
            **support.worker_env(c),
            "HUICE_TUSHARE_TOKEN": "test-token",
            "HUICE_TUSHARE_URL": tushare.url,
            "HUICE_TUSHARE_BACKOFF": "0",
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "huice", "worker-process"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        with standin_settings(env_of(c), tushare):
            out = CliRunner().invoke(
                app,
                ["sync", "--all", "--start", "2025-03-03", "--end", "2025-03-07", "--json"],
                obj=LazyContainer(lambda: c),
            )
        assert out.exit_code == 0, out.output
        result = json.loads(out.stdout)
        assert result["created"] is True and result["plan"] == "by_date" and result["snapshot"]["source"] == "tushare"
        assert len(tushare.bar_requests()) == 20  # 4 calls per session, made by the worker
        with c.db.transaction() as session:
            assert service.default_snapshot(session).id == sample.snapshot.id  # stocks only: not the default
    finally:
        if worker is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=15)
            worker.stderr.close()
        support.close_container(c)
        drop_database(test_servers.database_url, name)


def test_the_daily_refresh_job_reports_progress_without_blocking_on_its_own_lease(
    test_servers, data_dir, migrated, tushare
) -> None:
    """`monitoring.tushare_refresh` syncs through market_data with progress reports: each report updates the
    job's row, which a lease-locking transaction around the whole sync would hold (it would wait forever)."""
    import threading
    import uuid

    from huice import migrate
    from job_orchestration import attempt
    from job_orchestration import service as jobs
    from job_orchestration.config import env_of as jobs_env_of
    from monitoring.service.schedules import SCHEDULER_OWNER
    from monitoring.service.summary import TUSHARE_REFRESH_KIND
    from user_auth.principal import Plan, Principal, Role

    url, name = create_database(test_servers.database_url, prefix="huice_mkref")
    migrate.upgrade(url)
    c = support.build_container(url, test_servers.redis_url, data_dir / "market-refresh")
    try:
        with c.db.transaction() as session:
            service.load_sample(session, env_of(c), symbols=SLICE)
        days = 10  # the last 10 calendar days: about 7 sessions, 4 calls each
        with standin_settings(env_of(c), tushare), c.db.transaction() as session:
            job = jobs.submit(
                session, jobs_env_of(c), SCHEDULER_OWNER, kind=TUSHARE_REFRESH_KIND, payload={"days": days},
                plan="admin",
            )  # fmt: skip
        outcome: list[object] = []
        with standin_settings(env_of(c), tushare):
            runner = threading.Thread(
                target=lambda: outcome.append(
                    attempt.execute(jobs_env_of(c), job.id, worker_name="t", pid=os.getpid(), kill=lambda: None)
                ),
                daemon=True,
            )
            runner.start()
            runner.join(timeout=120)
        assert not runner.is_alive(), "the refresh job is blocked"
        admin = Principal(user_id=uuid.uuid4(), email="a@huice.local", role=Role.ADMIN, plan=Plan.PRO, via="t")
        with c.db.transaction() as session:
            done = jobs.get(session, admin, job.id)
        assert str(done.status) in ("succeeded", "failed") and done.progress > 0, done
    finally:
        support.close_container(c)
        drop_database(test_servers.database_url, name)
