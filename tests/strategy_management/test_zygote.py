"""The confined runner's zygote (issue 20, performance): a fork server, started, confined by Landlock and
imported once per process, which forks each request's confined child. Real processes throughout: a forked
caller (a work-horse) gets its child from its parent's zygote and sees its exit status, signal and CPU limit
as for a child of its own; the child holds nothing but /dev/null and its two pipes (never the zygote's
socket) and the clean environment; killing the caller kills its child; the zygote's death kills its
children; the zygote forks with no thread but polars' idle out-of-core cleaner (no jemalloc background
threads, no polars pool); and hundreds of forks with polars work in each child all answer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from strategy_management import domain
from strategy_management.confined_runner import (
    CLEAN_ENV,
    PROBE_SOURCE,
    MiB,
    RunnerConfig,
    StrategyRuntimeError,
    configure_spares,
    configure_zygote,
    execute,
    spare_pid,
    wait_for_zygote,
    zygote_pid,
)
from tests.strategy_management.sandboxes import SLEEPER, running, sandboxes_of, wait_gone, zygotes_of

pytestmark = [pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]
CONFIG = RunnerConfig(cpu_seconds=20, wall_seconds=60, memory_bytes=1024 * MiB)

OWNER = """
import json, os, sys, time
from strategy_management.confined_runner import MiB, RunnerConfig, execute, wait_for_zygote, zygote_pid
from strategy_management import confined_runner

assert wait_for_zygote(120)
print(json.dumps({"zygote": zygote_pid(), "owner": os.getpid()}), flush=True)
CALLS = {
    "ok": ("def generate(bars, params):\\n    return bars\\n", True, 20),
    "cpu": ("while True:\\n    pass\\n", True, 1),
    "sigterm": ("import os, signal\\nos.kill(os.getpid(), signal.SIGTERM)\\n", False, 20),
    "raise": ("x = 1\\nraise ValueError('no good')\\n", True, 20),
    "sleep": (sys.argv[2] if len(sys.argv) > 2 else "", False, 20),
}


def call(name):
    source, guards, cpu = CALLS[name]
    config = RunnerConfig(cpu_seconds=cpu, wall_seconds=120, memory_bytes=1024 * MiB, python_guards=guards)
    try:
        outcome = execute("describe", source, config)
        out = {"ok": True, "pid": outcome.pid, "prestarted": outcome.prestarted}
    except Exception as exc:
        out = {"ok": False, "error": type(exc).__name__, "message": str(exc), "details": exc.details}
    out.update(name=name, inherited=confined_runner._ZYGOTE.inherited, own_zygote=zygote_pid())
    return out


for name in sys.argv[1].split(","):
    pid = os.fork()
    if pid == 0:  # a fake work-horse (no polars work in the parent before the fork, as in the worker)
        print(json.dumps({"horse": os.getpid(), "name": name}), flush=True)
        print(json.dumps(call(name)), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
print(json.dumps({"done": True}), flush=True)
time.sleep(600)
"""


@pytest.fixture
def owner() -> Iterator:
    started: list[subprocess.Popen] = []

    def start(*args: str) -> tuple[subprocess.Popen, dict]:
        proc = subprocess.Popen(
            [sys.executable, "-c", OWNER, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        started.append(proc)
        return proc, json.loads(proc.stdout.readline())

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()


def _lines(proc: subprocess.Popen, until: str) -> list[dict]:
    out = []
    while True:
        line = proc.stdout.readline()
        assert line, "the owner ended early"
        out.append(json.loads(line))
        if until in out[-1]:
            return out


def test_forked_callers_get_their_children_from_their_parents_zygote(owner) -> None:
    proc, first = owner("ok,cpu,sigterm,raise")
    answers = {line["name"]: line for line in _lines(proc, "done") if "inherited" in line}
    assert zygotes_of(first["owner"]) == [first["zygote"]]  # one zygote, the owner's; the horses start none
    for answer in answers.values():
        assert answer["inherited"] and answer["own_zygote"] is None, answer
    assert answers["ok"]["ok"] and answers["ok"]["prestarted"]
    cpu = answers["cpu"]  # the zygote's wait4 status and CPU seconds: the CPU limit, as for an own child
    assert cpu["details"]["kind"] == "timeout" and "CPU time limit (1 s)" in cpu["message"], cpu
    killed = answers["sigterm"]  # a signal not from its limits: retryable
    assert killed["error"] == "SandboxKilled" and killed["details"]["signal"] == signal.SIGTERM, killed
    raised = answers["raise"]
    assert raised["details"]["kind"] == "error" and "no good" in raised["message"] and raised["details"]["line"] == 2


def _sleeping_child(owner) -> tuple[subprocess.Popen, dict, int, int]:
    proc, first = owner("sleep", SLEEPER)
    horse = json.loads(proc.stdout.readline())["horse"]
    deadline = time.monotonic() + 60
    while not (found := sandboxes_of(horse)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert found, "no confined child for the forked caller"
    comm = Path(f"/proc/{found[0]}/comm")
    while comm.read_text().strip() != "huice-run" and time.monotonic() < deadline:  # it has its request
        time.sleep(0.05)
    return proc, first, horse, found[0]


def test_a_forked_child_holds_only_its_stdio_and_pipes_and_the_clean_environment(owner) -> None:
    _, first, _, child = _sleeping_child(owner)
    stat = Path(f"/proc/{child}/stat").read_text()
    assert int(stat[stat.rindex(")") + 2 :].split()[1]) == first["zygote"]  # forked by the zygote
    links = sorted(os.readlink(f"/proc/{child}/fd/{fd}") for fd in os.listdir(f"/proc/{child}/fd"))
    # 0/1/2 on /dev/null, its request and its answer, and what its own polars opened after the fork (the
    # runtime's eventfd and epoll): never a socket (the zygote's above all) nor a file
    own = {"anon_inode:[eventfd]", "anon_inode:[eventpoll]"}
    assert [link for link in links if link != "/dev/null" and not link.startswith("pipe:") and link not in own] == []
    assert links.count("/dev/null") == 3 and len([link for link in links if link.startswith("pipe:")]) == 2, links
    raw = Path(f"/proc/{child}/environ").read_bytes()
    assert dict(item.split("=", 1) for item in raw.decode().split("\0") if item) == CLEAN_ENV
    assert Path(f"/proc/{child}/comm").read_text().strip() == "huice-run"
    assert os.getsid(child) == child  # its own session and process group


def test_killing_the_forked_caller_kills_its_child(owner) -> None:
    _, first, horse, child = _sleeping_child(owner)
    os.kill(horse, signal.SIGKILL)
    assert wait_gone(child, timeout=5) is not None, f"child {child} outlived its caller"
    assert running(first["zygote"])  # the zygote lives on for the other callers


def test_the_zygotes_death_kills_its_children(owner) -> None:
    proc, first, _, child = _sleeping_child(owner)
    os.kill(first["zygote"], signal.SIGKILL)
    assert wait_gone(child, timeout=5) is not None, f"child {child} outlived its zygote"
    answer = _lines(proc, "inherited")[-1]  # the caller sees an outside kill (retryable)
    assert answer["error"] == "SandboxKilled" and answer["details"]["signal"] == signal.SIGKILL, answer


def test_the_zygote_dies_with_its_sigkilled_owner(owner) -> None:
    proc, first, _, child = _sleeping_child(owner)
    os.killpg(proc.pid, signal.SIGKILL)  # the owner and its horse
    proc.wait()
    assert wait_gone(first["zygote"], timeout=5) is not None, "the zygote outlived its owner"
    assert wait_gone(child, timeout=5) is not None


@pytest.fixture
def zygote() -> Iterator[int]:
    configure_spares(enabled=False)
    configure_zygote(enabled=True)
    assert wait_for_zygote(120)
    yield zygote_pid()
    configure_spares(enabled=True)


def test_the_zygote_forks_without_threads_that_matter(zygote: int) -> None:
    """No polars pool, no jemalloc background thread: only polars' out-of-core cleaner, idle on a futex."""
    tasks = os.listdir(f"/proc/{zygote}/task")
    names = sorted(Path(f"/proc/{zygote}/task/{t}/comm").read_text().strip() for t in tasks)
    assert names == ["huice-zygote", "polars-ooc-clea"], names
    cleaner = [t for t in os.listdir(f"/proc/{zygote}/task") if int(t) != zygote]
    assert Path(f"/proc/{zygote}/task/{cleaner[0]}/wchan").read_text() == "futex_do_wait"


POLARS_WORK = """import polars as pl


def generate(bars, params):
    fast = pl.col("close").rolling_mean(3).over("symbol")
    slow = pl.col("close").rolling_mean(8).over("symbol")
    ranked = bars.with_columns(weight=(fast > slow).cast(pl.Float64) * 0.5).sort("symbol", "ts")
    agg = ranked.group_by("symbol").agg(pl.col("weight").mean())
    assert agg.height == bars["symbol"].n_unique()
    return ranked.select("ts", "symbol", "weight")
"""


def test_hundreds_of_forks_with_polars_work_in_each_child_all_answer(zygote: int) -> None:
    bars = domain.sample_bars()
    expected = execute("targets", POLARS_WORK, CONFIG, bars=bars, param_sets=[{}]).frames[0]
    pids, errors = set(), []

    def calls(n: int) -> None:
        for _ in range(n):
            try:
                outcome = execute("targets", POLARS_WORK, CONFIG, bars=bars, param_sets=[{}])
                assert outcome.prestarted and outcome.frames[0].equals(expected)
                pids.add(outcome.pid)
            except Exception as exc:  # reported below: a hang would be a wall-limit timeout
                errors.append(repr(exc))

    threads = [threading.Thread(target=calls, args=(100,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(pids) == 300
    assert zygote_pid() == zygote and spare_pid() is None  # one zygote served them all, no spare


def test_a_first_call_starts_the_zygote_and_a_landlock_free_run_does_not_use_it() -> None:
    configure_spares(enabled=False)
    configure_zygote(enabled=False)
    configure_zygote(enabled=True)
    try:
        assert zygote_pid() is None
        outcome = execute("describe", PROBE_SOURCE, CONFIG)
        assert outcome.prestarted and zygote_pid() is not None
        free = execute("describe", PROBE_SOURCE, RunnerConfig(landlock=False, cpu_seconds=20, wall_seconds=60))
        assert not free.prestarted  # kernel layers alone: a child started for it, as before
    finally:
        configure_spares(enabled=True)


ATTACK_ZYGOTE = """import os, signal, stat

sockets = []
for fd in range(1024):
    try:
        if stat.S_ISSOCK(os.fstat(fd).st_mode):
            sockets.append(fd)
    except OSError:
        pass
if sockets:
    raise RuntimeError(f"a socket is open: {sockets}")
os.kill(os.getppid(), signal.SIGKILL)  # the zygote, its parent


def generate(bars, params):
    return bars
"""


def test_a_child_can_neither_reach_nor_signal_its_zygote(zygote: int) -> None:
    config = RunnerConfig(cpu_seconds=20, wall_seconds=60, memory_bytes=1024 * MiB, python_guards=False)
    with pytest.raises(StrategyRuntimeError) as caught:
        execute("describe", ATTACK_ZYGOTE, config)
    assert caught.value.kind == "forbidden", caught.value.message  # seccomp: no signal but to itself
    assert running(zygote) and zygote_pid() == zygote
    assert execute("describe", PROBE_SOURCE, CONFIG).prestarted  # it still serves
