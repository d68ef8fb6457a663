"""A real `huice serve` subprocess for the tests of the HTTP transport (the CLI with `--api`, the Python
client): API (uvicorn) plus supervised RQ workers on a given database and Redis, stopped by its pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from platform_core.embedded import free_port
from tests.suite_settings import SUITE_ENV


def server_env(database_url: str, redis_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUICE_")}
    env.update(SUITE_ENV)
    env.update(
        {
            "HUICE_ENV": "test",
            "HUICE_DATABASE_URL": database_url,
            "HUICE_REDIS_URL": redis_url,
            "HUICE_DATA_DIR": str(data_dir),
            "HUICE_LOG_LEVEL": "WARNING",
            "HUICE_LOG_FORMAT": "console",
            "HUICE_JOBS_HEARTBEAT_INTERVAL_S": "1",
            "HUICE_AUTH_ARGON2_TIME_COST": "1",
            "HUICE_AUTH_ARGON2_MEMORY_COST": "1024",
            # every request of the suite comes from 127.0.0.1: the per-address throttles (tested on their own,
            # with limits set low) would otherwise count the whole suite as one client
            **{
                f"HUICE_AUTH_{name}_ADDRESS_LIMIT": "1000000/minute"
                for name in ("LOGIN", "REGISTER", "RESET", "VERIFY")
            },
        }
    )
    return env


@contextmanager
def api_server(database_url: str, redis_url: str, data_dir: Path, *, workers: int) -> Iterator[str]:
    """Serve the (already migrated) database on a free port; yields the base URL once `/health` answers
    (and, with workers, once `/ready` does)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "huice", "serve", "--no-migrate", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(
        command,
        env=server_env(database_url, redis_url, data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _wait(f"{url}/ready" if workers else f"{url}/health", proc, timeout=90)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stderr = proc.stderr.read().decode(errors="replace")[-3000:] if proc.stderr else ""
            raise AssertionError(f"huice serve exited early with {proc.returncode}: {stderr}")
        try:
            answer = httpx.get(url, timeout=2)
            if answer.status_code == 200:
                return
            last = answer.text
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.3)
    raise AssertionError(f"huice serve not ready in {timeout}s: {last}")
