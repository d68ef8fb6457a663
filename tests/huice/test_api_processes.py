"""`huice.api_processes`: the acceptor deals connections round robin to its uvicorn server processes (so a burst
of connections is served evenly by them, which uvicorn's shared-socket `--workers` did not do), skips and
restarts a dead one, and stops them all on SIGTERM. Served here: a minimal ASGI app that answers its own pid."""

from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

PID_APP = """
import os


def factory():
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = str(os.getpid()).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    return app
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid_of(conn: socket.socket) -> int:
    """Send one keep-alive GET on `conn` and return the pid in the answer."""
    conn.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(4096) or b"!"
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")).split(b":")[1]
    )
    while len(body) < length:
        body += conn.recv(4096)
    return int(body)


def _burst(port: int, n: int) -> list[int]:
    """Open `n` connections at once (all connected before any request), then ask each which process serves it."""
    conns = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(n)]
    try:
        return [_pid_of(conn) for conn in conns]
    finally:
        for conn in conns:
            conn.close()


def _wait_serving(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, "the API processes exited"
        try:
            _burst(port, 1)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def served(tmp_path: Path):
    (tmp_path / "pid_app.py").write_text(PID_APP)
    port = _free_port()
    argv = [sys.executable, "-m", "huice.api_processes", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", "2", "--app", "pid_app:factory", "--timeout-graceful-shutdown", "1"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_serving(port, proc)
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def test_a_burst_of_connections_is_served_evenly_by_the_server_processes(served) -> None:
    port, _ = served
    for _ in range(5):
        shares = collections.Counter(_burst(port, 8))
        assert sorted(shares.values()) == [4, 4], shares


def test_a_dead_server_process_is_skipped_and_started_again(served) -> None:
    port, proc = served
    victim, survivor = sorted(set(_burst(port, 8)))
    os.kill(victim, signal.SIGKILL)
    while _running(victim):  # dead once a zombie (its descriptors closed) or reaped; what it held is lost
        time.sleep(0.01)
    seen: set[int] = set()
    deadline = time.monotonic() + 60
    while not seen - {victim, survivor}:  # until the restarted process serves
        assert time.monotonic() < deadline, f"no new server process; served by {seen}"
        pids = _burst(port, 4)  # every connection is answered, none by the dead process
        assert victim not in pids
        seen.update(pids)
        time.sleep(0.05)
    assert proc.poll() is None


def test_sigterm_stops_the_acceptor_and_its_server_processes(served) -> None:
    port, proc = served
    pids = set(_burst(port, 8))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):  # reaped by the acceptor: gone, not a zombie
            os.kill(pid, 0)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
