"""A real `huice worker --processes N` (supervisor + reaper + RQ workers) for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
from redis import Redis
from rq import Worker

from tests.job_orchestration.conftest import FAST
from user_auth.principal import Principal


def cluster_env(
    database_url: str, redis_url: str, data_dir: Path, jobs: dict | None = None, extra: dict | None = None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUICE_")}
    env.update(
        {
            "HUICE_DATABASE_URL": database_url,
            "HUICE_REDIS_URL": redis_url,
            "HUICE_DATA_DIR": str(data_dir),
            "HUICE_LOG_LEVEL": "WARNING",
            "HUICE_LOG_FORMAT": "console",
            "HUICE_WORKER_HEARTBEAT_TTL": "20",
        }
    )
    for key, value in {**FAST, **(jobs or {})}.items():
        env[f"HUICE_JOBS_{key.upper()}"] = json.dumps(value)
    env.update(extra or {})
    return env


class Cluster:
    def __init__(self, proc: subprocess.Popen, redis_url: str, processes: int, log: Path) -> None:
        self.proc, self.redis_url, self.processes, self.log = proc, redis_url, processes, log

    def worker_pids(self) -> list[int]:
        """The live RQ worker processes (a killed one the supervisor has not reaped yet is left out)."""
        pids = []
        for p in psutil.Process(self.proc.pid).children():
            try:
                if "worker-process" in " ".join(p.cmdline()):
                    pids.append(p.pid)
            except psutil.Error:
                continue
        return pids

    def wait_workers(self, timeout: float = 90.0) -> None:
        client = Redis.from_url(self.redis_url)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, f"huice worker exited: {self.log.read_text()[-2000:]}"
                try:
                    names = {w.name for w in Worker.all(connection=client)}
                except Exception:
                    names = set()
                pids = self.worker_pids()
                if len(pids) == self.processes and all(any(n.endswith(f"-{p}") for n in names) for p in pids):
                    return
                time.sleep(0.2)
        finally:
            client.close()
        raise AssertionError(f"workers not up in {timeout}s: {self.log.read_text()[-2000:]}")


@contextmanager
def run_cluster(
    database_url: str,
    redis_url: str,
    data_dir: Path,
    processes: int,
    jobs: dict | None = None,
    extra_env: dict | None = None,
) -> Iterator[Cluster]:
    """`jobs`: job settings on top of the fast test timings (`FAST`); `extra_env`: more variables."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "worker.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "huice", "worker", "--processes", str(processes)],
            env=cluster_env(database_url, redis_url, data_dir, jobs, extra_env),
            stdout=sink,
            stderr=sink,
            start_new_session=True,
        )
    cluster = Cluster(proc, redis_url, processes, log)
    try:
        cluster.wait_workers()
        yield cluster
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def principal_for(owner_id: uuid.UUID, plan: str = "free") -> Principal:
    """The principal of a plain owner id (end-to-end tests submit for fresh owners, no account needed)."""
    return Principal(user_id=owner_id, email=f"{owner_id.hex[:12]}@example.com", role="user", plan=plan, via="test")


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
