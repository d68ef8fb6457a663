"""`huice serve` on embedded servers: ready within the limit, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from platform_core.embedded import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _clean_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUICE_")}
    env.update(
        {
            "HUICE_DATA_DIR": str(data_dir),
            "HUICE_API_PORT": str(port),
            "HUICE_WORKERS": "1",
            "HUICE_LOG_FORMAT": "json",
        }
    )
    return env


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"huice serve exited early with {proc.returncode}"
        try:
            last = httpx.get(url, timeout=2)
            if last.status_code == 200:
                return last.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"not ready in {timeout}s: {last.text if last is not None else 'no answer'}")


def _survivors(data_dir: Path) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(data_dir) in cmdline:
            found.append(f"{proc.info['pid']}: {cmdline[:120]}")
    return found


def test_serve_on_embedded_servers_gets_ready_and_stops_clean(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    port = free_port()
    child_pids: list[int] = []
    proc = subprocess.Popen(
        [sys.executable, "-m", "huice", "serve"],
        env=_clean_env(data_dir, port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        report = _wait_ready(f"http://127.0.0.1:{port}/ready", proc, timeout=90)
        assert report["ready"] is True
        assert set(report["checks"]) == {
            "postgres",
            "redis",
            "migrations",
            "workers",
            "data_provider",
            "scheduler",
            "storage",
        }
        assert report["gates"] == ["postgres", "redis", "migrations", "workers"]
        assert httpx.get(f"http://127.0.0.1:{port}/health").json()["status"] == "ok"
        children = psutil.Process(proc.pid).children(recursive=True)
        child_pids = [c.pid for c in children]
        assert len(children) >= 3  # api, worker, redis-server (+ postgres, which daemonises)
        assert _survivors(data_dir), "embedded servers should run under the data dir"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    deadline = time.monotonic() + 10
    while _survivors(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _survivors(data_dir) == []
    alive = [pid for pid in child_pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert alive == []
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    assert not (data_dir / "redis" / "redis.pid").exists()
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
