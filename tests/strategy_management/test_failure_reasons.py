"""What a failed confined run reports (issue 13, item 10), each with a real confined run: the CPU limit
(SIGXCPU, or SIGKILL at the hard limit once the CPU seconds are used), the wall limit, a crash at the memory
limit, output too large (with the limit, not a bare OSError) — all the user's error, never retried — and a
signal from outside (what the OOM killer does): SERVICE_UNAVAILABLE, retryable, which the job runtime
retries instead of failing the run."""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import replace
from typing import Any

import pytest

from job_orchestration.domain import is_deterministic
from strategy_management import domain
from strategy_management.confined_runner import MiB, SandboxKilled, StrategyRuntimeError, execute
from tests.strategy_management.factories import TEST_LIMITS
from tests.strategy_management.sandboxes import SLEEPER, wait_for_sandbox

UNGUARDED = replace(TEST_LIMITS, python_guards=False)


def _fail(source: str, config=TEST_LIMITS) -> Any:
    try:
        execute("targets", source, config, bars=domain.sample_bars(), param_sets=[{}])
    except (StrategyRuntimeError, SandboxKilled) as exc:
        return exc
    raise AssertionError("the run did not fail")


def _killed_from_outside(signum: int) -> Any:
    """A sleeping strategy, killed by `signum` from outside the sandbox while the runner waits for it."""
    box: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: box.update(error=_fail(SLEEPER, replace(UNGUARDED, wall_seconds=60))))
    runner.start()
    os.kill(wait_for_sandbox(os.getpid()), signum)
    runner.join(timeout=30)
    return box["error"]


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_signal_from_outside_is_reported_as_such_and_is_retryable(signum: int) -> None:
    error = _killed_from_outside(signum)
    name = signal.Signals(signum).name
    assert isinstance(error, SandboxKilled)
    assert error.envelope()["error"] == {
        "code": "SERVICE_UNAVAILABLE",
        "message": f"the strategy process was killed by signal {int(signum)} ({name}) from outside the sandbox, "
        "not by one of its limits (for example the kernel's out-of-memory killer); the run can be retried",
        "details": {"kind": "killed", "signal": int(signum), "signal_name": name, "retryable": True},
    }
    assert error.http_status == 503 and error.headers == {"Retry-After": "5"}
    assert is_deterministic(error) is False  # the job runtime retries it (transient_error)


def test_the_cpu_limit_is_sigxcpu() -> None:
    error = _fail("while True:\n    pass\n", replace(TEST_LIMITS, cpu_seconds=1.0, wall_seconds=120))
    assert (error.kind, error.message) == ("timeout", "the strategy exceeded its CPU time limit (1 s)")
    assert error.details["signal"] == signal.SIGXCPU
    assert is_deterministic(error) is True


def test_sigkill_at_the_hard_cpu_limit_is_still_the_cpu_limit() -> None:
    """A strategy that ignores SIGXCPU is killed by the kernel at the hard limit: it used its CPU seconds."""
    source = "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass\n"
    error = _fail(source, replace(UNGUARDED, cpu_seconds=1.0, wall_seconds=120))  # a loaded host: CPU is slow
    assert (error.kind, error.message) == ("timeout", "the strategy exceeded its CPU time limit (1 s)")
    assert error.details["signal"] == signal.SIGKILL


def test_the_wall_limit() -> None:
    error = _fail(SLEEPER, replace(UNGUARDED, wall_seconds=2.0))
    assert (error.kind, error.message) == ("timeout", "the strategy did not finish within 2 s")
    assert is_deterministic(error) is True


def test_a_crash_at_the_memory_limit_names_the_signal_and_the_limit() -> None:
    """Native code (polars) aborts when an allocation fails under the address-space limit."""
    source = "import polars as pl\nx = pl.zeros(4_000_000_000, dtype=pl.Float64, eager=True)\n"
    error = _fail(source)
    assert error.kind == "memory"
    assert error.message in (
        "the strategy ran out of memory: its process crashed with signal 6 (SIGABRT) at its 512 MiB memory limit",
        "the strategy ran out of memory: MemoryError",
    )
    assert is_deterministic(error) is True


def test_output_too_large_names_the_rows_and_the_limit() -> None:
    source = (
        "import polars as pl\n"
        "def generate(bars, params):\n"
        "    rows = bars.select('ts', 'symbol', pl.lit(1.0).alias('weight'))\n"
        "    return pl.concat([rows] * 2000)\n"
    )
    error = _fail(source, replace(TEST_LIMITS, max_output_bytes=1 * MiB))
    rows = domain.sample_bars().height * 2000
    assert (error.kind, error.message) == (
        "output",
        f"the strategy's output is too large: {rows} target rows take more than 1 MiB, the output limit",
    )
    assert is_deterministic(error) is True


def test_a_memory_error_in_the_users_code_is_the_memory_limit() -> None:
    error = _fail("x = bytearray(10 * 1024 ** 3)\n")
    assert (error.kind, error.message) == ("memory", "the strategy ran out of memory: MemoryError")
