"""A confined child never outlives the process that started it (issue 13, item 5): a work-horse killed with
SIGKILL — whether the run was started from its main thread or from another thread — takes its sandbox with
it (parent-death signal); a child whose parent is already gone when it starts exits at once; and a child
whose runner is stopped (SIGSTOP: it neither kills nor dies) ends at its own alarm past the wall limit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.strategy_management.sandboxes import SLEEPER, running, wait_for_sandbox, wait_gone

pytestmark = [pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]
HORSE = """
import sys, threading
from strategy_management import domain
from strategy_management.confined_runner import MiB, RunnerConfig, execute

config = RunnerConfig(cpu_seconds=60, wall_seconds=float(sys.argv[2]), memory_bytes=512 * MiB, python_guards=False)


def run():
    execute("targets", sys.argv[3], config, bars=domain.sample_bars(), param_sets=[{}])


if sys.argv[1] == "thread":
    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
else:
    run()
"""


@pytest.fixture
def horse() -> Iterator:
    started: list[subprocess.Popen] = []

    def start(where: str, wall_seconds: float) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", HORSE, where, str(wall_seconds), SLEEPER], cwd=ROOT, start_new_session=True
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize("where", ["main", "thread"])
def test_a_sandbox_dies_with_its_sigkilled_work_horse(horse, where: str) -> None:
    proc = horse(where, 120)
    child = wait_for_sandbox(proc.pid)
    assert running(child)
    proc.kill()
    proc.wait()
    assert wait_gone(child, timeout=5) is not None, f"sandbox {child} outlived its work-horse"


def test_a_sandbox_whose_parent_is_already_gone_exits_at_once() -> None:
    """The race between fork and the prctl: the runner's pid on the command line is no longer the parent."""
    proc = subprocess.run(
        [sys.executable, "-I", "-B", "-m", "strategy_management.sandbox", str(os.getpid() + 1_000_000)],
        input=b"",
        capture_output=True,
        timeout=30,
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == -signal.SIGKILL


def test_a_sandbox_whose_request_never_arrives_ends_at_its_alarm() -> None:
    """A runner stopped before it wrote the whole request: the child's alarm (the wall limit from its command
    line) is armed before it reads, so it does not wait on its stdin forever."""
    proc = subprocess.Popen(
        [sys.executable, "-I", "-B", "-m", "strategy_management.sandbox", str(os.getpid()), "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
    )
    try:
        assert proc.wait(timeout=30) == -signal.SIGALRM  # 1 s + the 5 s grace, never the request
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdin.close()


def test_a_sandbox_of_a_stalled_runner_ends_at_its_alarm_past_the_wall_limit(horse) -> None:
    proc = horse("main", 2)
    child = wait_for_sandbox(proc.pid)
    os.killpg(proc.pid, signal.SIGSTOP)  # the runner can neither kill the child nor die
    try:
        assert wait_gone(child, timeout=20) is not None, "the sandbox of a stopped runner kept running"
    finally:
        os.killpg(proc.pid, signal.SIGCONT)


def test_a_sandbox_runs_at_a_lower_cpu_priority_than_its_runner(horse) -> None:
    """Strategy code yields the CPU: the child's niceness is its runner's plus 10 (issue 13, item 1)."""
    import psutil

    proc = horse("main", 120)
    child = wait_for_sandbox(proc.pid)
    expected = psutil.Process(proc.pid).nice() + 10
    deadline = time.monotonic() + 20  # the child lowers its priority first thing after it starts
    while psutil.Process(child).nice() != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert psutil.Process(child).nice() == expected
