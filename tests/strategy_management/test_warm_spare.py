"""The confined runner's warm spare (issue 20, performance), its fallback when the zygote is unavailable (and
its path for Landlock-free runs): a confined child started, confined and imported ahead of the request. The
zygote is off in these tests (`test_zygote.py` covers it). A second `execute()` in a process is answered by
the pre-started child; a spare serves one request only; an idle one ends itself; it dies with its owner
(SIGKILL), whichever thread asked for it; a forked process never uses its parent's spare; its limits count
from the request (wall alarm, CPU); and it starts with the clean environment, never the owner's secrets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from strategy_management import confined_runner as runner
from strategy_management.confined_runner import (
    CLEAN_ENV,
    PROBE_SOURCE,
    SPARE_IDLE_SECONDS,
    MiB,
    RunnerConfig,
    StrategyRuntimeError,
    configure_spares,
    configure_zygote,
    execute,
    prestart,
    spare_pid,
    wait_for_spare,
)
from strategy_management.sandbox import protocol
from tests.strategy_management.sandboxes import running, sandboxes_of, spares_of, wait_gone

pytestmark = [pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]
CONFIG = RunnerConfig(cpu_seconds=20, wall_seconds=60, memory_bytes=1024 * MiB)
LOOP = "def generate(bars, params):\n    while True:\n        pass\n"


@pytest.fixture(autouse=True)
def spares() -> Iterator[None]:
    configure_zygote(enabled=False)
    configure_spares(enabled=False)  # no spare left over from another test: each starts from none
    configure_spares(enabled=True, idle_seconds=SPARE_IDLE_SECONDS, replenish=True)
    yield
    configure_spares(enabled=True, idle_seconds=SPARE_IDLE_SECONDS, replenish=True)
    configure_zygote(enabled=True)


def _ready_spare() -> int:
    prestart()
    pid = wait_for_spare(60)
    assert pid is not None, "no spare became ready within 60 s"
    return pid


def test_a_second_call_is_answered_by_the_pre_started_spare() -> None:
    first = execute("describe", PROBE_SOURCE, CONFIG)
    assert not first.prestarted  # no spare yet: started for the request
    spare = wait_for_spare(60)  # the first call started the next one
    assert spare is not None and spare != first.pid
    assert spares_of(os.getpid()) == [spare] and spare not in sandboxes_of(os.getpid())
    second = execute("describe", PROBE_SOURCE, CONFIG)
    assert second.prestarted and second.pid == spare  # the pid the child itself reported
    assert second.result["model"] == "vectorised"


def test_a_spare_serves_exactly_one_request() -> None:
    pids = []
    for _ in range(3):
        spare = _ready_spare()
        outcome = execute("describe", PROBE_SOURCE, CONFIG)
        assert outcome.pid == spare
        assert wait_gone(spare, timeout=5) is not None, "a spare lived on after its request"
        pids.append(outcome.pid)
    assert len(set(pids)) == 3


def test_an_idle_spare_ends_itself_at_its_idle_alarm() -> None:
    """The child's own bound (its runner does nothing): ready byte, then SIGALRM after the idle seconds."""
    command = runner._command(True, 2, spare=True)
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd="/", env=dict(CLEAN_ENV))
    try:
        assert proc.stdout.read(1) == protocol.READY  # confined and imported, waiting for a request
        started = time.monotonic()
        assert proc.wait(timeout=30) == -signal.SIGALRM
        assert time.monotonic() - started >= 1.5
        assert proc.stdout.read() == b""  # it answered nothing
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdin.close()
        proc.stdout.close()


def test_the_runner_retires_an_unused_spare_and_does_not_replace_it() -> None:
    configure_spares(idle_seconds=12)  # retired by the runner 9 s after its start, before its own alarm
    spare = _ready_spare()
    assert wait_gone(spare, timeout=30) is not None, "an idle spare outlived its idle time"
    time.sleep(0.5)
    assert spare_pid() is None and spares_of(os.getpid()) == []
    assert not execute("describe", PROBE_SOURCE, CONFIG).prestarted  # the next call starts cold again


def test_a_spare_that_waited_past_the_wall_limit_still_serves_its_request() -> None:
    """The wall alarm starts when the request arrives: a spare idle for longer than wall + grace (8 s)."""
    spare = _ready_spare()
    time.sleep(9)
    outcome = execute("describe", PROBE_SOURCE, RunnerConfig(cpu_seconds=20, wall_seconds=3, memory_bytes=1024 * MiB))
    assert outcome.prestarted and outcome.pid == spare


def test_the_cpu_limit_applies_to_a_spare_from_its_request_on() -> None:
    spare = _ready_spare()
    config = RunnerConfig(cpu_seconds=1, wall_seconds=60, memory_bytes=1024 * MiB)
    with pytest.raises(StrategyRuntimeError) as caught:
        execute("targets", LOOP, config, bars=_bars(), param_sets=[{}])
    assert caught.value.kind == "timeout" and "CPU time limit (1 s)" in caught.value.message
    assert not running(spare)  # the spare served it
    assert execute("describe", PROBE_SOURCE, config).prestarted  # its imports did not eat the 1 s


def test_the_wall_limit_applies_to_a_spare() -> None:
    spare = _ready_spare()
    config = RunnerConfig(cpu_seconds=60, wall_seconds=2, memory_bytes=1024 * MiB)
    with pytest.raises(StrategyRuntimeError) as caught:
        execute("targets", LOOP, config, bars=_bars(), param_sets=[{}])
    assert caught.value.kind == "timeout" and "within 2 s" in caught.value.message
    assert not running(spare)


def test_a_spare_has_the_clean_environment_only(monkeypatch) -> None:
    monkeypatch.setenv("HUICE_SECRET_KEY", "a-secret-that-must-not-leak")
    monkeypatch.setenv("DATABASE_URL", "postgresql://user:password@db/huice")
    spare = _ready_spare()
    raw = Path(f"/proc/{spare}/environ").read_bytes()
    environ = dict(item.split("=", 1) for item in raw.decode().split("\0") if item)
    assert environ == CLEAN_ENV
    links = [os.readlink(f"/proc/{spare}/fd/{fd}") for fd in os.listdir(f"/proc/{spare}/fd")]
    assert not [link for link in links if link.startswith("socket:")]  # none of the owner's connections


def test_a_spare_of_another_landlock_setting_is_not_used() -> None:
    spare = _ready_spare()
    outcome = execute("describe", PROBE_SOURCE, RunnerConfig(landlock=False, cpu_seconds=20, wall_seconds=60))
    assert not outcome.prestarted and outcome.pid != spare
    assert wait_gone(spare, timeout=5) is not None  # retired, not left behind


OWNER = """
import os, sys, threading, time
from strategy_management.confined_runner import PROBE_SOURCE, RunnerConfig, configure_zygote, execute, prestart
from strategy_management.confined_runner import wait_for_spare

configure_zygote(enabled=False)  # the spare: the fallback when there is no zygote
config = RunnerConfig(cpu_seconds=20, wall_seconds=60)
asker = threading.Thread(target=prestart)  # a short-lived thread asks: the spare must not die with it
asker.start()
asker.join()
spare = wait_for_spare(60)
time.sleep(0.5)
if sys.argv[1] == "fork":
    child = os.fork()
    if child == 0:  # the parent's spare is not ours: a fresh child answers
        outcome = execute("describe", PROBE_SOURCE, config)
        os._exit(0 if outcome.pid != spare and not outcome.prestarted else 3)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
    outcome = execute("describe", PROBE_SOURCE, config)
    assert outcome.prestarted and outcome.pid == spare, (outcome.pid, spare)
    print("ok", flush=True)
else:
    print(spare, flush=True)
    time.sleep(600)
"""


def test_a_spare_dies_with_its_sigkilled_owner() -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, "wait"], cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        spare = int(owner.stdout.readline())
        assert running(spare) and spares_of(owner.pid) == [spare]
        owner.kill()
        owner.wait()
        assert wait_gone(spare, timeout=5) is not None, f"spare {spare} outlived its owner"
    finally:
        if owner.poll() is None:
            os.killpg(owner.pid, signal.SIGKILL)
            owner.wait()
        owner.stdout.close()


def test_a_forked_process_never_uses_its_parents_spare() -> None:
    done = subprocess.run([sys.executable, "-c", OWNER, "fork"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def _bars():
    from strategy_management import domain

    return domain.sample_bars()
