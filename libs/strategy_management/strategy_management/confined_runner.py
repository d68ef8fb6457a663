"""The confined runner, parent side: the only way users' (and templates') strategy code is executed.

`execute()` starts `python -I -B -m strategy_management.sandbox` with a clean environment (no secrets),
its own session, `/` as working directory and no inherited descriptors; sends the request and the bars over
stdin (JSON + Arrow IPC), reads the answer from stdout with a size cap and a wall-clock deadline, and turns
every failure into a `StrategyRuntimeError` (INVALID_INPUT) whose details carry the user's own traceback
lines and a kind: `timeout`, `memory`, `forbidden` or `error`. The caller process never runs user code.
See `strategy_management.sandbox.confine` for the kernel layers (Landlock, seccomp-BPF, rlimits).
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

from platform_core.errors import ErrorCode, InternalError, InvalidInput
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
_CPU_SIGNALS = {signal.SIGXCPU, signal.SIGKILL}
_MEMORY_SIGNALS = {signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS}


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
    `timeout`, `memory`, `forbidden` or `error` and traceback holds only the user's own lines."""

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
) -> Outcome:
    """Run `op` (`describe` or `targets`) on `source` in a fresh confined child process."""
    header = {
        "op": op,
        "source": source,
        "param_sets": param_sets or [{}],
        "limits": {
            "cpu_seconds": config.cpu_seconds,
            "memory_bytes": config.memory_bytes,
            "open_files": config.open_files,
        },
        "python_guards": config.python_guards,
        "landlock": config.landlock,
        "frames": 1 if bars is not None else 0,
    }
    payload = protocol.encode(header, [_frame_bytes(bars)] if bars is not None else [])
    output, returncode, timed_out, overflow = _run_child(payload, config)
    return _interpret(output, returncode, timed_out, overflow, config)


def _run_child(payload: bytes, config: RunnerConfig) -> tuple[bytes, int, bool, bool]:
    proc = subprocess.Popen(
        [sys.executable, "-I", "-B", "-m", "strategy_management.sandbox"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=dict(CLEAN_ENV),
        cwd="/",
        start_new_session=True,
        close_fds=True,
    )
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
    returncode = _reap(proc, deadline)
    proc.stdout.close()
    writer.join(timeout=1)
    return b"".join(chunks), returncode, timed_out or returncode is None, overflow


def _feed(proc: subprocess.Popen, payload: bytes) -> None:
    try:
        proc.stdin.write(payload)
        proc.stdin.close()
    except (BrokenPipeError, OSError, ValueError):
        pass  # the child died or was killed; its exit status tells the story


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _reap(proc: subprocess.Popen, deadline: float) -> int:
    try:
        return proc.wait(timeout=max(deadline - time.monotonic(), 0) + 2)
    except subprocess.TimeoutExpired:
        _kill(proc)
        return proc.wait()


def _interpret(output: bytes, returncode: int, timed_out: bool, overflow: bool, config: RunnerConfig) -> Outcome:
    if timed_out:
        raise StrategyRuntimeError(f"the strategy did not finish within {config.wall_seconds:g} s", kind="timeout")
    if overflow:
        raise StrategyRuntimeError("the strategy produced more output than allowed", kind="memory")
    if returncode < 0:
        raise _signal_error(-returncode, config)
    try:
        header, frames = protocol.decode(output)
    except protocol.ProtocolError:
        log.warning("sandbox child returned malformed output", extra={"returncode": returncode})
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


def _signal_error(signum: int, config: RunnerConfig) -> StrategyRuntimeError:
    if signum in _CPU_SIGNALS:
        return StrategyRuntimeError(
            f"the strategy exceeded its CPU time limit ({config.cpu_seconds:g} s)", kind="timeout"
        )
    if signum in _MEMORY_SIGNALS:
        limit = config.memory_bytes // MiB
        return StrategyRuntimeError(f"the strategy ran out of memory (limit {limit} MiB)", kind="memory")
    if signum == signal.SIGSYS:
        return StrategyRuntimeError("the strategy attempted a forbidden system call", kind="forbidden")
    return StrategyRuntimeError(f"the strategy process was terminated (signal {signum})", kind="error")


_KIND_MESSAGES = {
    "timeout": "the strategy exceeded its time limit",
    "memory": "the strategy ran out of memory",
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
        output=_user_output(header),
    )


def _read_targets(data: bytes) -> pl.DataFrame:
    try:
        frame = pl.read_ipc_stream(io.BytesIO(data))
    except Exception:
        raise StrategyRuntimeError("the strategy process returned an unreadable frame", kind="error") from None
    kinds = [c for c in ("weight", "shares") if c in frame.columns]
    if set(frame.columns) != {"ts", "symbol", *kinds} or len(kinds) != 1:
        raise StrategyRuntimeError("targets need columns ts, symbol and one of weight/shares", kind="error")
    return frame.select("ts", "symbol", pl.col(kinds[0]).cast(pl.Float64))
