"""The backtest test environment: its own database on the test PostgreSQL server (migrated, with a
committed slice of the sample data), a composition root over it, real worker processes for the end-to-end
tests, and helpers (users, request bodies, API calls).

Why its own database: the runs need committed market data (worker processes read it), and a committed
data snapshot in the shared test database would change what other contexts' rolled-back tests see.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from huice.bootstrap import Container, Servers
from platform_core.db import Database
from platform_core.settings import CoreSettings
from tests.suite_settings import SUITE_ENV
from tests.user_auth.factories import auth_headers, create_user
from user_auth import service as auth_service
from user_auth.config import env_of
from user_auth.principal import Principal

SYMBOLS = ["600010.SH", "000010.SZ", "300010.SZ"]
BENCHMARK = "000300.SH"
DATA_START, DATA_END = date(2023, 1, 1), date(2024, 6, 30)
WINDOW = {"start": "2023-03-01", "end": "2024-06-28"}
TERMINAL = {"succeeded", "failed", "cancelled"}


def build_container(database_url: str, redis_url: str, data_dir: Path) -> Container:
    from redis import Redis

    from huice.contexts import configure_contexts

    settings = CoreSettings(
        env="test",
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        log_format="console",
        _env_file=None,
    )
    c = Container(
        settings=settings,
        servers=Servers(database_url=database_url, redis_url=redis_url),
        db=Database.from_url(database_url, pool_size=3),
        redis=Redis.from_url(redis_url),
    )
    configure_contexts(c)
    return c


@contextlib.contextmanager
def committed_container(
    servers: Servers, data_dir: Path, prefix: str, *, sample: bool = False
) -> Iterator[tuple[Container, str]]:
    """A composition root over a new database of its own (migrated, committing, the sample slice loaded when
    `sample`), yielded with the database's URL; closed and the database dropped afterwards."""
    from huice import migrate
    from tests.databases import create_database, drop_database

    url, name = create_database(servers.database_url, prefix=prefix)
    migrate.upgrade(url)
    c = build_container(url, servers.redis_url, data_dir)
    try:
        if sample:
            load_sample(c)
        yield c, url
    finally:
        close_container(c)
        drop_database(servers.database_url, name)


def close_container(c: Container) -> None:
    """Release what a test-built container holds: its contexts' closers, Redis, the database pool."""
    for closer in c.extras.pop("_closers", []):
        closer()
    c.redis.close()
    c.db.dispose()


def load_sample(c: Container) -> Any:
    from market_data import service as market
    from market_data.config import env_of

    with c.db.transaction() as session:
        return market.load_sample(session, env_of(c), symbols=[*SYMBOLS, BENCHMARK], start=DATA_START, end=DATA_END)


def worker_env(c: Container) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUICE_")}
    env.update(SUITE_ENV)
    env.update(
        {
            "HUICE_DATABASE_URL": c.servers.database_url,
            "HUICE_REDIS_URL": c.servers.redis_url,
            "HUICE_DATA_DIR": str(c.settings.resolved_data_dir),
            "HUICE_LOG_LEVEL": "WARNING",
            "HUICE_LOG_FORMAT": "console",
            "HUICE_JOBS_HEARTBEAT_INTERVAL_S": "1",
        }
    )
    return env


class Workers:
    """`python -m huice worker-process` children, stopped (by pid) at the end."""

    def __init__(self, c: Container, count: int, env: dict[str, str] | None = None) -> None:
        self.container = c
        # stderr into files, not pipes: nobody reads a pipe while the module runs, and a worker (or its
        # work-horse) that has written a pipe's 64 KiB of log lines blocks on the next one, mid-job
        self.logs = [tempfile.TemporaryFile() for _ in range(count)]  # noqa: SIM115 - closed by stop()
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "huice", "worker-process"],
                env=env if env is not None else worker_env(c),
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
            for log in self.logs
        ]

    def stderr(self, i: int) -> str:
        """The last 2,000 characters worker `i` wrote to stderr."""
        self.logs[i].seek(0)
        return self.logs[i].read().decode(errors="replace")[-2000:]

    def wait_ready(self, timeout: float = 60.0) -> None:
        from rq import Worker

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None:
                    raise AssertionError(f"worker exited with {proc.returncode}: {self.stderr(i)}")
            if Worker.count(connection=self.container.redis) >= len(self.procs):
                return
            time.sleep(0.2)
        raise AssertionError("workers did not register in time")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        for log in self.logs:
            log.close()


@dataclass
class User:
    principal: Principal
    headers: dict[str, str]

    @property
    def id(self) -> uuid.UUID:
        return self.principal.user_id


def new_user(c: Container, plan: str = "pro") -> User:
    with c.db.transaction() as session:
        principal = create_user(session, c, plan=plan)
    return User(principal, auth_headers(c, principal))


def api_key_for(c: Container, user: User) -> str:
    with c.db.transaction() as session:
        return auth_service.create_api_key(session, env_of(c), user.principal, name="backtest cli tests").key


def backtest_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "strategyRef": {"template": "ma_cross", "params": {"fast": 5, "slow": 20}},
        "context": {"universe": list(SYMBOLS), "frequency": "1d", "window": dict(WINDOW), "benchmark": BENCHMARK},
        "notes": "均线策略评估",
    }
    for key, value in overrides.items():
        if key in ("universe", "frequency", "window", "benchmark", "datasource_version", "rules", "initial_cash"):
            body["context"][key] = value
        else:
            body[key] = value
    return body


def wait_for(read: Callable[[], dict[str, Any]], until: Callable[[dict[str, Any]], bool], timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = read()
        if until(last):
            return last
        time.sleep(0.2)
    raise AssertionError(f"condition not reached in {timeout}s; last: {last}")


# --- the API ---------------------------------------------------------------------------------------------


def submit(client: Any, user: User, backtest: dict, params: dict, key: str | None = None) -> httpx.Response:
    headers = {**user.headers, **({"Idempotency-Key": key} if key else {})}
    return client.post(
        f"/api/backtests/{backtest['id']}/runs", json={"mode": "single", "params": params}, headers=headers
    )


def read_run(client: Any, user: User, run_id: str) -> dict[str, Any]:
    return client.get(f"/api/runs/{run_id}", headers=user.headers).json()


def artifact(client: Any, user: User, run_id: str, kind: str, fmt: str) -> httpx.Response:
    return client.get(f"/api/runs/{run_id}/artifacts/{kind}", params={"format": fmt}, headers=user.headers)


def envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error of `response`, which must be `status` with `code`."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    return error
