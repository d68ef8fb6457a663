"""A small process supervisor: keeps child processes running, restarts the ones that die, stops them all.

Children run in their own session (so a stop reaches their whole process group, RQ work-horses included)
and get SIGTERM if the supervisor itself dies (PR_SET_PDEATHSIG), so no child outlives `huice serve`.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger("huice.supervisor")


def _child_setup() -> None:  # pragma: no cover - runs between fork and exec
    os.setsid()
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = field(default=0.0)

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL, preexec_fn=_child_setup)
        self.started_at = time.monotonic()
        log.info("started %s", self.name, extra={"pid": self.proc.pid, "child": self.name})

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Supervisor:
    """Start children, restart them with capped backoff when they exit, stop them on request."""

    def __init__(self, stop_timeout: float = 15.0) -> None:
        self.children: list[Child] = []
        self.stop_timeout = stop_timeout
        self.stopping = threading.Event()

    def add(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.children.append(Child(name, argv, env))

    def start_all(self) -> None:
        for child in self.children:
            child.start()

    def poll(self) -> None:
        """Restart any child that exited (backoff 1 s doubling to 30 s; reset after a minute of uptime)."""
        now = time.monotonic()
        for child in self.children:
            if child.alive or self.stopping.is_set():
                continue
            if child.next_start == 0.0:
                code = child.proc.returncode if child.proc else None
                uptime = now - child.started_at
                if uptime > 60:
                    child.restarts = 0
                delay = min(30.0, 2**child.restarts)
                child.next_start = now + delay
                log.warning(
                    "%s exited with %s; restarting in %.0fs",
                    child.name,
                    code,
                    delay,
                    extra={"child": child.name, "exit_code": code},
                )
            elif now >= child.next_start:
                child.restarts += 1
                child.next_start = 0.0
                child.start()

    def run_until_stopped(self, tick: float = 0.5, on_tick=None) -> None:
        while not self.stopping.wait(tick):
            self.poll()
            if on_tick is not None:
                on_tick()

    def stop_all(self) -> None:
        """SIGTERM every child's process group; a second SIGTERM after 5 s; SIGKILL at the timeout."""
        self.stopping.set()
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        second_sent = False
        while any(c.alive for c in self.children) and time.monotonic() < deadline:
            if not second_sent and time.monotonic() > deadline - self.stop_timeout + 5:
                self._signal_all(signal.SIGTERM)
                second_sent = True
            time.sleep(0.1)
        self._signal_all(signal.SIGKILL, only_alive=False)
        for child in self.children:
            if child.proc is not None:
                try:
                    child.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    log.error("%s did not exit", child.name)

    def _signal_all(self, sig: int, only_alive: bool = True) -> None:
        for child in self.children:
            if child.proc is None or (only_alive and not child.alive):
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.proc.pid, sig)
