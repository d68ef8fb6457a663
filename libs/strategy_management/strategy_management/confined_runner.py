"""The confined runner, parent side: the only way users' (and templates') strategy code is executed.

`execute()` starts `python -I -B -m strategy_management.sandbox <parent pid>` with a clean environment (no
secrets), its own session and process group, `/` as working directory and no inherited descriptors; sends
the request and the bars over stdin (JSON + Arrow IPC), reads the answer from stdout with a size cap and a
wall-clock deadline, reaps the child with its resource usage, and turns every failure into what happened:

- a `StrategyRuntimeError` (INVALID_INPUT, the user's error, never retried) whose details carry the user's own
  traceback lines and a kind: `timeout` (wall deadline, or the CPU limit: SIGXCPU, or SIGKILL once the child
  has used its CPU seconds), `memory` (MemoryError, or a crash signal at the address-space limit), `output`
  (the targets are larger than the output limit, with their size), `forbidden` or `error`;
- a `SandboxKilled` (SERVICE_UNAVAILABLE, retryable: the job runtime retries it) when a signal from outside
  killed the child although none of its limits was reached — what the kernel's OOM killer or an operator does.

The child dies with its parent: it sets `PR_SET_PDEATHSIG` (SIGKILL) first thing and exits at once if its
parent is already gone (the pid on its command line is no longer its parent). The kernel sends that signal
when the *thread* that started the child exits, which is always after the child here: the calling thread
blocks in `execute()` until the child is reaped. The child also arms an alarm a little past the wall limit.
The caller process never runs user code. See `strategy_management.sandbox.confine` for the kernel layers
(Landlock, seccomp-BPF, rlimits).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from platform_core.errors import AppError, ErrorCode, InternalError, InvalidInput, ServiceUnavailable
from quant.event import ORDER_STREAM_COLUMNS
from strategy_management.sandbox import protocol

log = logging.getLogger(__name__)

MiB = 1024 * 1024
CLEAN_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "POLARS_MAX_THREADS": "2",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",
}
_MEMORY_SIGNALS = {signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS}
RETRY_AFTER_S = 5


@dataclass(frozen=True)
class RunnerConfig:
    """Limits of one confined run. `python_guards=False` / `landlock=False` exist so tests can prove that
    the remaining kernel layers hold on their own; production keeps both on."""

    cpu_seconds: float = 30.0
    wall_seconds: float = 60.0
    memory_bytes: int = 2048 * MiB
    open_files: int = 64
    max_output_bytes: int = 512 * MiB
    python_guards: bool = True
    landlock: bool = True

    def with_timeout(self, timeout_s: float | None) -> RunnerConfig:
        if timeout_s is None:
            return self
        return replace(self, wall_seconds=timeout_s, cpu_seconds=min(self.cpu_seconds, timeout_s))


class StrategyRuntimeError(InvalidInput):
    """The strategy failed inside the confined runner. `details = {"kind", "traceback", ...}` where kind is
    `timeout`, `memory`, `output`, `forbidden` or `error` and traceback holds only the user's own lines."""

    code = ErrorCode.INVALID_INPUT

    def __init__(self, message: str, *, kind: str, traceback: list[str] | None = None, **extra: Any) -> None:
        details = {"kind": kind, "traceback": list(traceback or []), **{k: v for k, v in extra.items() if v}}
        super().__init__(message, details=details)
        self.kind = kind

    @classmethod
    def of_kind(cls, kind: str | None, detail: str = "", **extra: Any) -> StrategyRuntimeError:
        """The error a confined run reports: "<what happened>: <detail>" (kind `error` when unknown)."""
        kind = kind if kind in _KIND_MESSAGES else "error"
        message = f"{_KIND_MESSAGES[kind]}: {detail}" if detail else _KIND_MESSAGES[kind]
        return cls(message, kind=kind, **extra)


class SandboxKilled(ServiceUnavailable):
    """A signal from outside the sandbox (the OOM killer, an operator) killed the child before any of its
    limits was reached: not the user's error, so SERVICE_UNAVAILABLE — the job runtime retries it and the
    API answers 503 with `Retry-After`. `details = {"kind": "killed", "signal", "signal_name", "retryable"}`."""

    def __init__(self, signum: int) -> None:
        name = _signal_name(signum)
        super().__init__(
            f"the strategy process was killed by signal {signum} ({name}) from outside the sandbox, "
            "not by one of its limits (for example the kernel's out-of-memory killer); the run can be retried",
            details={"kind": "killed", "signal": signum, "signal_name": name, "retryable": True},
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


@dataclass(frozen=True)
class _Exit:
    """How the child ended: its output, exit code (negative: killed by that signal), CPU seconds used, and
    whether the runner itself stopped it (wall deadline, output cap)."""

    output: bytes
    returncode: int
    cpu_seconds: float
    timed_out: bool
    overflow: bool


@dataclass(frozen=True)
class Outcome:
    result: dict[str, Any]
    frames: list[pl.DataFrame]
    output: list[str] = field(default_factory=list)  # what the user's code printed or logged (bounded)


def _frame_bytes(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_ipc_stream(buf)
    return buf.getvalue()


def execute(
    op: str,
    source: str,
    config: RunnerConfig,
    *,
    bars: pl.DataFrame | None = None,
    param_sets: list[dict] | None = None,
    engine_config: dict | None = None,
    instruments: pl.DataFrame | None = None,
) -> Outcome:
    """Run `op` (`describe` or `targets`) on `source` in a fresh confined child process. An event-driven
    strategy steps the engine's simulator inside the child with `engine_config` (the run's
    `EngineConfig` as a dict; the default preset when None) and `instruments`, and its "targets" are
    its order streams (`quant.event.ORDER_STREAM_COLUMNS`), which the caller replays."""
    header = {
        "op": op,
        "source": source,
        "param_sets": param_sets or [{}],
        "limits": {
            "cpu_seconds": config.cpu_seconds,
            "memory_bytes": config.memory_bytes,
            "open_files": config.open_files,
            "wall_seconds": config.wall_seconds,
            "max_output_bytes": config.max_output_bytes,
        },
        "python_guards": config.python_guards,
        "landlock": config.landlock,
        "engine_config": engine_config,
    }
    frames = [_frame_bytes(bars)] if bars is not None else []
    if bars is not None and instruments is not None:
        frames.append(_frame_bytes(instruments))
    header["frames"] = len(frames)
    payload = protocol.encode(header, frames)
    return _interpret(_run_child(payload, config), config)


def _run_child(payload: bytes, config: RunnerConfig) -> _Exit:
    proc = subprocess.Popen(
        # the runner's pid (die with it) and the wall limit (the child's alarm, armed before it reads the request:
        # a runner stopped mid-write must not leave a child blocked on its stdin forever)
        [sys.executable, "-I", "-B", "-m", "strategy_management.sandbox", str(os.getpid()), str(config.wall_seconds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=dict(CLEAN_ENV),
        cwd="/",
        start_new_session=True,
        close_fds=True,
    )
    try:
        return _supervise(proc, payload, config)
    finally:
        if proc.returncode is None:  # interrupted (KeyboardInterrupt, an error here): never leave it behind
            _kill(proc)
            proc.wait()


def _supervise(proc: subprocess.Popen, payload: bytes, config: RunnerConfig) -> _Exit:
    writer = threading.Thread(target=_feed, args=(proc, payload), daemon=True)
    writer.start()
    deadline = time.monotonic() + config.wall_seconds
    chunks, size, timed_out, overflow = [], 0, False, False
    fd = proc.stdout.fileno()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        size += len(chunk)
        if size > config.max_output_bytes:
            overflow = True
            break
        chunks.append(chunk)
    if timed_out or overflow:
        _kill(proc)
    returncode, cpu, reap_killed = _reap(proc, deadline)
    proc.stdout.close()
    writer.join(timeout=1)
    return _Exit(b"".join(chunks), returncode, cpu, timed_out or reap_killed, overflow)


def _feed(proc: subprocess.Popen, payload: bytes) -> None:
    try:
        proc.stdin.write(payload)
        proc.stdin.close()
    except (BrokenPipeError, OSError, ValueError):
        pass  # the child died or was killed; its exit status tells the story


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _reap(proc: subprocess.Popen, deadline: float) -> tuple[int, float, bool]:
    """Wait for the child (killing it 2 s past the deadline) with `wait4`, for its CPU time: returns the exit
    code, the CPU seconds it used and whether this wait had to kill it."""
    give_up = max(deadline, time.monotonic()) + 2
    delay, killed = 0.001, False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() >= give_up:
            _kill(proc)
            killed = True
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime, killed


def _interpret(run: _Exit, config: RunnerConfig) -> Outcome:
    if run.timed_out:
        raise StrategyRuntimeError(f"the strategy did not finish within {config.wall_seconds:g} s", kind="timeout")
    if run.overflow:
        limit = config.max_output_bytes / MiB
        raise StrategyRuntimeError(
            f"the strategy's output is too large: more than {limit:g} MiB (the output limit is {limit:g} MiB)",
            kind="output",
            limit_bytes=config.max_output_bytes,
        )
    if run.returncode < 0:
        raise _signal_error(-run.returncode, run.cpu_seconds, config)
    try:
        header, frames = protocol.decode(run.output)
    except protocol.ProtocolError:
        log.warning("sandbox child returned malformed output", extra={"returncode": run.returncode})
        raise StrategyRuntimeError("the strategy process returned no valid result", kind="error") from None
    if header.get("kind") == "unavailable":
        log.error("confined runner unavailable: %s", header.get("message"))
        raise InternalError("the confined strategy runner is unavailable on this machine")
    if not header.get("ok"):
        raise _user_error(header)
    return Outcome(header.get("result") or {}, [_read_targets(f) for f in frames], _user_output(header))


def _user_output(header: dict[str, Any]) -> list[str]:
    """The user's printed and logged lines (bounded by the child), with secrets masked like the platform's
    logs."""
    from platform_core.logging import redact_text

    return [redact_text(str(line)) for line in (header.get("output") or [])[:1001]]


def _signal_error(signum: int, cpu_seconds: float, config: RunnerConfig) -> AppError:
    """What a death by `signum` means. The CPU rlimit sends SIGXCPU, then SIGKILL at the hard limit (one
    second later), so a SIGKILL counts as the CPU limit only once the child has used its CPU seconds; any
    other SIGKILL (or SIGTERM, SIGINT, ...) came from outside and is retryable."""
    name = _signal_name(signum)
    if signum == signal.SIGXCPU or (signum == signal.SIGKILL and cpu_seconds >= config.cpu_seconds):
        return StrategyRuntimeError(
            f"the strategy exceeded its CPU time limit ({config.cpu_seconds:g} s)", kind="timeout", signal=signum
        )
    if signum == signal.SIGALRM:  # the child's own backstop past the wall limit (its runner was stalled)
        return StrategyRuntimeError(
            f"the strategy did not finish within {config.wall_seconds:g} s", kind="timeout", signal=signum
        )
    if signum in _MEMORY_SIGNALS:
        limit = config.memory_bytes // MiB
        return StrategyRuntimeError(
            f"the strategy ran out of memory: its process crashed with signal {signum} ({name}) at its "
            f"{limit} MiB memory limit",
            kind="memory",
            signal=signum,
        )
    if signum == signal.SIGSYS:
        return StrategyRuntimeError("the strategy attempted a forbidden system call", kind="forbidden", signal=signum)
    return SandboxKilled(signum)


_KIND_MESSAGES = {
    "timeout": "the strategy exceeded its time limit",
    "memory": "the strategy ran out of memory",
    "output": "the strategy's output is too large",
    "forbidden": "the strategy attempted a forbidden operation",
    "error": "the strategy raised an error",
}


def _user_error(header: dict[str, Any]) -> StrategyRuntimeError:
    detail = str(header.get("message") or "")[:2000]
    trace = [str(line)[:2000] for line in (header.get("traceback") or [])][:200]
    return StrategyRuntimeError.of_kind(
        header.get("kind"),
        detail,
        traceback=trace,
        line=header.get("line"),
        column=header.get("column"),
        field=header.get("field"),
        bar=header.get("bar"),
        output=_user_output(header),
    )


def _read_targets(data: bytes) -> pl.DataFrame:
    try:
        frame = pl.read_ipc_stream(io.BytesIO(data))
    except Exception:
        raise StrategyRuntimeError("the strategy process returned an unreadable frame", kind="error") from None
    if tuple(frame.columns) == ORDER_STREAM_COLUMNS:  # an event-driven strategy's orders
        return frame.cast({"amount": pl.Float64, "limit_price": pl.Float64, "order": pl.Utf8, "tag": pl.Utf8})
    kinds = [c for c in ("weight", "shares") if c in frame.columns]
    if set(frame.columns) != {"ts", "symbol", *kinds} or len(kinds) != 1:
        raise StrategyRuntimeError("targets need columns ts, symbol and one of weight/shares", kind="error")
    return frame.select("ts", "symbol", pl.col(kinds[0]).cast(pl.Float64))


PROBE_SOURCE = "def generate(bars, params):\n    return bars\n"


def sandbox_report(config: RunnerConfig | None = None) -> dict[str, Any]:
    """What `huice doctor` shows: the confinement layers this kernel provides (`confine.kernel_layers`),
    which of them stop signals, files and network, and a real confined run of a trivial strategy."""
    from strategy_management.sandbox import confine

    report: dict[str, Any] = dict(confine.kernel_layers())
    started = time.perf_counter()
    try:
        execute("describe", PROBE_SOURCE, config or RunnerConfig(cpu_seconds=10, wall_seconds=30))
        probe: dict[str, Any] = {"ok": True}
    except Exception as exc:  # a diagnostic reports, it never raises
        probe = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    probe["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    report["probe"] = probe
    report["ok"] = bool(report["ok"]) and probe["ok"]
    return report
