"""Through the real RQ worker: a backtest run of a user strategy is executing in its confined child on a
`huice worker-process`. SIGKILL of the work-horse takes the sandbox with it (issue 13, item 5); SIGKILL of
the sandbox itself — what the OOM killer does — is retried as an infrastructure failure, not failed as the
user's error (item 10).

The strategy loops only on the run's bars (three symbols), not on the two-symbol sample of the create-time
dry run, so the backtest can be created; its CPU and wall limits are raised so nothing but the horse's
death can end the sandbox within the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from huice.bootstrap import Container, Servers
from tests.backtest import support
from tests.databases import create_database, drop_database
from tests.strategy_management.sandboxes import running, sandboxes_of, wait_gone

pytestmark = [pytest.mark.e2e]
BUSY = '''"""Busy on the run's bars only."""

import polars as pl


def generate(bars, params):
    if bars["symbol"].n_unique() >= 3:
        while True:
            pass
    return bars.select("ts", "symbol", pl.lit(1.0).alias("weight"))
'''


@pytest.fixture(scope="module")
def bt(test_servers: Servers, data_dir: Path, migrated: str) -> Iterator[Container]:
    from huice import migrate

    url, name = create_database(test_servers.database_url, prefix="huice_sbx")
    migrate.upgrade(url)
    c = support.build_container(url, test_servers.redis_url, data_dir / "sandbox-e2e")
    support.load_sample(c)
    try:
        yield c
    finally:
        c.redis.close()
        c.db.dispose()
        drop_database(test_servers.database_url, name)


@pytest.fixture(scope="module")
def worker(bt: Container) -> Iterator[subprocess.Popen]:
    env = {**support.worker_env(bt), "HUICE_STRATEGY_CPU_SECONDS": "300", "HUICE_STRATEGY_WALL_SECONDS": "300"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "huice", "worker-process"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="module")
def client(bt: Container) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from huice.api import create_app

    with TestClient(create_app(bt), raise_server_exceptions=False) as test_client:
        yield test_client


def _busy_sandbox_under(worker: subprocess.Popen, timeout: float = 120.0) -> tuple[int, int]:
    """(work-horse pid, sandbox pid) of the strategy looping on `worker`: a confined child that has already
    burnt 3 CPU seconds (more than a short describe/validate run, which would end by itself)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.poll() is None, "the worker exited"
        for horse in psutil.Process(worker.pid).children():
            for pid in sandboxes_of(horse.pid):
                try:
                    if psutil.Process(pid).cpu_times().user >= 3.0:
                        return horse.pid, pid
                except psutil.NoSuchProcess:
                    continue
        time.sleep(0.2)
    raise AssertionError(f"no confined run started on the worker within {timeout} s")


def _submit_busy_run(bt: Container, client: Any) -> support.User:
    user = support.new_user(bt)
    created = client.post("/api/strategies", json={"name": "busy", "source": BUSY}, headers=user.headers)
    assert created.status_code == 201, created.text
    body = support.backtest_body(strategyRef={"strategy_id": created.json()["id"]})
    backtest = client.post("/api/backtests", json=body, headers=user.headers)
    assert backtest.status_code == 201, backtest.text
    run = support.submit(client, user, backtest.json()["backtest"], {})
    assert run.status_code in (201, 202), run.text
    return user


def _only_job(client: Any, user: support.User) -> dict[str, Any]:
    [job] = client.get("/api/jobs", headers=user.headers).json()["items"]
    return job


def test_a_sigkilled_work_horse_takes_its_sandbox_with_it(bt: Container, worker, client) -> None:
    user = _submit_busy_run(bt, client)
    try:
        horse, sandbox = _busy_sandbox_under(worker)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the user's job: {_only_job(client, user)}") from None
    assert running(sandbox)
    os.kill(horse, signal.SIGKILL)
    assert wait_gone(sandbox, timeout=5) is not None, f"sandbox {sandbox} outlived its work-horse {horse}"

    client.post(f"/api/jobs/{_only_job(client, user)['id']}/cancel", headers=user.headers)


def test_a_sandbox_killed_from_outside_is_retried_not_failed_as_the_users_error(bt: Container, worker, client):
    for horse in psutil.Process(worker.pid).children():  # the previous test's horse, if any, is done
        for pid in sandboxes_of(horse.pid):
            os.kill(pid, signal.SIGKILL)
    user = _submit_busy_run(bt, client)
    _, sandbox = _busy_sandbox_under(worker)
    assert _only_job(client, user)["attempts"] == 1
    os.kill(sandbox, signal.SIGKILL)  # what the kernel's OOM killer does
    job = support.wait_for(
        lambda: _only_job(client, user),
        lambda j: j["status"] == "failed" or j["retry_at"] is not None or j["attempts"] >= 2,
        timeout=60,
    )
    assert job["status"] != "failed", job["error"]  # before: INVALID_INPUT "exceeded its CPU time limit", final
    assert job["retry_at"] is not None or job["attempts"] >= 2
    assert job["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert job["error"]["details"] == {"kind": "killed", "signal": 9, "signal_name": "SIGKILL", "retryable": True}
    client.post(f"/api/jobs/{job['id']}/cancel", headers=user.headers)
