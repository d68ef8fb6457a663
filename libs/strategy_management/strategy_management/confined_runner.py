"""The confined runner, parent side: the only way users' (and templates') strategy code is executed.

`execute()` hands the request to a `python -I -B -m strategy_management.sandbox <parent pid> ...` child with a
clean environment (no secrets), its own session and process group, `/` as working directory and no inherited
descriptors; sends the request and the bars over stdin (JSON + Arrow IPC), reads the answer from stdout with a
size cap and a wall-clock deadline, reaps the child with its resource usage, and turns every failure into
what happened:

- a `StrategyRuntimeError` (INVALID_INPUT, the user's error, never retried) whose details carry the user's own
  traceback lines and a kind: `timeout` (wall deadline, or the CPU limit: SIGXCPU, or SIGKILL once the child
  has used its CPU seconds), `memory` (MemoryError, or a crash signal at the address-space limit), `output`
  (the targets are larger than the output limit, with their size), `forbidden` or `error`;
- a `SandboxKilled` (SERVICE_UNAVAILABLE, retryable: the job runtime retries it) when a signal from outside
  killed the child although none of its limits was reached — what the kernel's OOM killer or an operator does.

**Zygote.** Starting a child costs its interpreter and its imports (polars, numpy, the SDK: most of a small
run). So a Landlock run's child is forked by this process's *zygote* (`strategy_management.sandbox.zygote`), a
fork server started once by a long-lived keeper thread, under Landlock with its imports done, which never runs
user code: one `SOCK_SEQPACKET` message with the child's stdin, stdout and a status pipe (`SCM_RIGHTS`) asks for
a child; the status pipe brings back its pid, then its `wait4` status and CPU seconds, so `_interpret` judges it
as a child of our own. A forked process (an RQ work-horse) inherits the socket and asks its parent's zygote
(the worker parent starts it before forking); `prestart()` starts it ahead of the first call; without one (it
cannot start, it stopped answering, `configure_zygote(enabled=False)`) and for `landlock=False`, the spare
below or a child started for the request serve as before.

**Warm spare.** Each process keeps at most one *spare*: a child started ahead of the request by a long-lived
daemon thread, already under Landlock with its imports done, blocked reading its request. `execute()` takes
it when its Landlock setting matches (waiting for one being started), else starts a child as before; either
way the next spare is started in the background afterwards (unless `configure_spares(replenish=False)`: a
one-job work-horse). A spare serves exactly one request and exits;
its wall alarm, rlimits (CPU counted from the request), capabilities, seccomp and Python guards are applied
when the request arrives; an unused one is retired before its own idle alarm (`SPARE_IDLE_SECONDS`) ends it,
and not replaced until the next call. `prestart()` starts one on purpose (a job with user code does before its
data load, through `service.warm_runner`, and so does a served API); `configure_spares(enabled=False)` turns
them off. A forked process never uses its parent's spare.

A child dies with its parent: it sets `PR_SET_PDEATHSIG` (SIGKILL) first thing and exits at once if its
parent is already gone (the pid on its command line is no longer its parent). The kernel sends that signal
when the *thread* that started the child exits: for a child started for a request, the calling thread, which
blocks in `execute()` until the child is reaped; for a spare, the keeper thread, which lives as long as its
process. The child also arms an alarm: while it waits for its request (the wait bound on its command line),
then a little past the request's wall limit. The caller process never runs user code. See
`strategy_management.sandbox.confine` for the kernel layers (Landlock, seccomp-BPF, rlimits).
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import logging
import os
import select
import signal
import socket
import struct
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
    "_RJEM_MALLOC_CONF": "background_thread:false",  # polars' jemalloc: no background threads (zygote forks)
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
    pid: int = 0  # the child that answered (it reports its own pid)
    prestarted: bool = False  # it was this process's warm spare, started and imported ahead of the request
    cpu_seconds: float = 0.0  # CPU the child used from the request on (a spare's start and imports excluded)


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
    run, prestarted = _run_child(payload, config)
    outcome = _interpret(run, config)
    return replace(outcome, prestarted=prestarted, cpu_seconds=round(run.cpu_seconds, 4))


def _command(landlock: bool, wait_seconds: float, *, spare: bool) -> list[str]:
    """The child's command line: the runner's pid (die with it), how long it may wait for its request (then
    its alarm ends it: a runner stopped before writing never leaves a child waiting forever), whether it
    applies Landlock before its imports, and whether it is a spare (its process name says so while idle)."""
    args = [sys.executable, "-I", "-B", "-m", "strategy_management.sandbox", str(os.getpid()), f"{wait_seconds:g}"]
    return [*args, "landlock" if landlock else "no-landlock", *(["spare"] if spare else [])]


def _spawn(command: list[str], stdin: int = subprocess.PIPE) -> subprocess.Popen:
    """A child with the clean environment, `/` as working directory, its own session and no inherited
    descriptors but `stdin` (a pipe by default; the zygote's end of its socket pair)."""
    return subprocess.Popen(
        command,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=dict(CLEAN_ENV),
        cwd="/",
        start_new_session=True,
        close_fds=True,
    )


def _run_child(payload: bytes, config: RunnerConfig) -> tuple[_Exit, bool]:
    """Serve the request with this process's spare when it has one for this configuration (already
    confined and imported), else with a child started now; either way a spare for the next call is started
    afterwards in the background. Returns how the child ended and whether it was a spare."""
    if config.landlock:
        child = _ZYGOTE.fork(config.wall_seconds)
        if child is not None:
            try:
                return _supervise(child, payload, config), True
            finally:
                if child.returncode is None:
                    child.kill()
                    child.wait()
                child.close()
    spare = _SPARES.take(config.landlock)
    proc = spare.proc if spare is not None else _spawn(_command(config.landlock, config.wall_seconds, spare=False))
    try:
        return _supervise(proc, payload, config, ready=spare is not None and spare.ready), spare is not None
    finally:
        if proc.returncode is None:  # interrupted (KeyboardInterrupt, an error here): never leave it behind
            _kill(proc)
            proc.wait()
        _SPARES.want(config.landlock, replenishing=True)


def _supervise(
    proc: subprocess.Popen | _ZygoteChild, payload: bytes, config: RunnerConfig, *, ready: bool = False
) -> _Exit:
    """Write the request, read the answer (its leading ready byte dropped unless already read) within the
    wall deadline and the output cap, reap the child; the CPU it used before the request does not count."""
    cpu_before = _cpu_seconds(proc.pid)
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
        readable, _, _ = select.select([fd], [], [], remaining)
        if not readable:
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
    output = b"".join(chunks)
    if not ready and output.startswith(protocol.READY):
        output = output[len(protocol.READY) :]
    return _Exit(output, returncode, max(cpu - cpu_before, 0.0), timed_out or reap_killed, overflow)


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) `pid` has used so far (0 when unreadable): a spare's imports, which the
    child's CPU limit (counted from the request) does not include either."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _feed(proc: subprocess.Popen | _ZygoteChild, payload: bytes) -> None:
    try:
        proc.stdin.write(payload)
        proc.stdin.close()
    except (BrokenPipeError, OSError, ValueError):
        pass  # the child died or was killed; its exit status tells the story


SPARE_IDLE_SECONDS = 600.0  # an idle spare ends itself after this (its alarm), and when its process dies
SPARE_MARGIN_SECONDS = 30.0  # the runner retires its spare this long before the spare's own alarm
SPAWN_WAIT_SECONDS = 2.0  # how long a call waits for a spare whose process is being started


@dataclass
class _Spare:
    proc: subprocess.Popen
    landlock: bool
    expires: float  # monotonic time past which the runner no longer hands it a request
    ready: bool = False  # its ready byte has been read (it is confined and imported)


class _SpareKeeper:
    """This process's warm spare: at most one confined child, started ahead of the next request by a
    long-lived daemon thread (the parent-death signal fires when the thread that started a child ends, so
    never a short-lived one), handed to exactly one `execute()` and never reused. The thread retires an
    unused spare before its own idle alarm ends it. After `fork` the child process forgets its parent's
    spare (it is not its child) and starts its own on demand."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.cond = threading.Condition()
        self.spare: _Spare | None = None
        self.wanted: bool | None = None  # the Landlock setting of the spare to start next
        self.spawning = False
        self.generation = 0  # bumped when spares are turned off: a spare being started then is not kept
        self.enabled = True
        self.replenish = True  # start the next spare after one is taken (off: only `prestart()` starts one)
        self.idle_seconds = SPARE_IDLE_SECONDS
        self.thread: threading.Thread | None = None

    def want(self, landlock: bool = True, *, replenishing: bool = False) -> None:
        """Have a spare ready for the next request with this Landlock setting (started in the background)."""
        with self.cond:
            if not self.enabled or (replenishing and not self.replenish):
                return
            if self.spare is not None and self.spare.landlock == landlock:
                return
            self.wanted = landlock
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="confined-runner-spare", daemon=True)
                self.thread.start()
            self.cond.notify_all()

    def take(self, landlock: bool) -> _Spare | None:
        """The spare, if it is alive and has this Landlock setting (it then serves this one request)."""
        with self.cond:
            give_up = time.monotonic() + SPAWN_WAIT_SECONDS
            # a spare being started (just fork and exec) is worth waiting for: it is already on its way
            while self.spare is None and self.owner == os.getpid() and (self.spawning or self.wanted == landlock):
                remaining = give_up - time.monotonic()
                if remaining <= 0 or self.thread is None or not self.thread.is_alive():
                    break
                self.cond.wait(remaining)
            spare, self.spare = self.spare, None
            self.cond.notify_all()
        if spare is None:
            return None
        if spare.landlock != landlock or spare.proc.poll() is not None or time.monotonic() >= spare.expires:
            _retire(spare.proc)
            return None
        return spare

    def pid(self) -> int | None:
        with self.cond:
            return self.spare.proc.pid if self.spare is not None else None

    def wait_ready(self, timeout: float) -> int | None:
        """Wait until the spare is confined and imported (its ready byte); its pid, None if there is none."""
        deadline = time.monotonic() + timeout
        while True:
            with self.cond:
                spare = self.spare
                if spare is None and self.wanted is None and not self.spawning:
                    return None
                if spare is not None:
                    if not spare.ready:
                        ready, _, _ = select.select([spare.proc.stdout], [], [], 0)
                        if ready and os.read(spare.proc.stdout.fileno(), len(protocol.READY)) == protocol.READY:
                            spare.ready = True
                    if spare.ready:
                        return spare.proc.pid
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.cond.wait(min(remaining, 0.02))

    def configure(
        self, *, enabled: bool | None = None, idle_seconds: float | None = None, replenish: bool | None = None
    ) -> None:
        """Turn spares on or off for this process (off retires the current one), set their idle time and
        whether a taken spare is replaced at once."""
        with self.cond:
            if enabled is not None:
                self.enabled = enabled
                self.generation += 0 if enabled else 1
            if replenish is not None:
                self.replenish = replenish
            if idle_seconds is not None:
                self.idle_seconds = idle_seconds
            spare = self.spare if not self.enabled else None
            if spare is not None:
                self.spare = None
            self.wanted = None if not self.enabled else self.wanted
            self.cond.notify_all()
        if spare is not None:
            _retire(spare.proc)

    def close(self) -> None:
        with self.cond:
            spare, self.spare, self.wanted = self.spare, None, None
            self.cond.notify_all()
        if spare is not None and self.owner == os.getpid():
            _retire(spare.proc)

    def _loop(self) -> None:
        while True:
            with self.cond:
                while True:
                    now = time.monotonic()
                    if self.spare is not None and now >= self.spare.expires:  # unused: retire, do not replace
                        expired, self.spare = self.spare, None
                        break
                    if self.spare is None and self.wanted is not None:
                        expired, landlock, self.wanted = None, self.wanted, None
                        idle, self.spawning, generation = self.idle_seconds, True, self.generation
                        break
                    self.cond.wait(self.spare.expires - now if self.spare is not None else None)
            if expired is not None:
                _retire(expired.proc)
                continue
            margin = min(SPARE_MARGIN_SECONDS, idle / 4)
            try:
                proc = _spawn(_command(landlock, idle, spare=True))
            except OSError:
                log.exception("could not start a spare confined runner")
                proc = None
            with self.cond:
                self.spawning = False
                if proc is None:
                    self.cond.notify_all()
                    continue
                spare = _Spare(proc, landlock, time.monotonic() + idle - margin)
                keep = self.enabled and self.spare is None and self.owner == os.getpid()
                keep = keep and generation == self.generation
                if keep:
                    self.spare = spare
                self.cond.notify_all()
            if not keep:
                _retire(proc)

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's spare is not ours to use or kill; close our copies of its pipes."""
        spare = self.spare
        if spare is not None:
            for pipe in (spare.proc.stdin, spare.proc.stdout):
                with contextlib.suppress(OSError):
                    pipe.close()
            spare.proc.returncode = 0  # never waited for or killed from here
        self.__init__()


def _retire(proc: subprocess.Popen) -> None:
    """End an unused (or dead) spare and reap it."""
    if proc.returncode is None:
        _kill(proc)
    with contextlib.suppress(OSError):
        proc.stdin.close()
    with contextlib.suppress(OSError):
        proc.stdout.close()
    with contextlib.suppress(ChildProcessError):
        proc.wait()


_SPARES = _SpareKeeper()
os.register_at_fork(after_in_child=_SPARES.forget_after_fork)
atexit.register(_SPARES.close)


ZYGOTE_START_SECONDS = 60.0  # how long a zygote may take to start (its imports) before it counts as failed
ZYGOTE_FORK_SECONDS = 10.0  # how long a request waits for the zygote to report its child's pid
ZYGOTE_RETRY_SECONDS = 60.0  # after a failed start, this process uses its spares this long, then retries
_PID = struct.Struct("<i")  # as `strategy_management.sandbox.zygote.PID` / `STATUS` (not imported here: the
_STATUS = struct.Struct("<id")  # runner never loads sandbox code it does not need)


class _ZygoteChild:
    """A confined child forked by the zygote, as the runner sees it (the parts of `Popen` the runner uses):
    its pid, its stdin and stdout pipes, and the status pipe on which the zygote reports its end. The runner
    is not its parent, so it signals it through a pidfd (never a pid that may have been reused)."""

    def __init__(self, pid: int, stdin: int, stdout: int, status: int) -> None:
        self.pid = pid
        self.stdin = os.fdopen(stdin, "wb")
        self.stdout = os.fdopen(stdout, "rb", buffering=0)
        self.status = status
        self.returncode: int | None = None
        try:
            self.pidfd: int | None = os.pidfd_open(pid)
        except OSError:  # already gone (the zygote has reaped it): its status is on the pipe
            self.pidfd = None

    def kill(self) -> None:
        if self.returncode is None and self.pidfd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)

    def reap(self, deadline: float) -> tuple[int, float, bool]:
        """The exit code and CPU seconds the zygote reports (killing the child 2 s past the deadline), and
        whether this wait had to kill it. A zygote that died first: the child died with it (SIGKILL)."""
        give_up, killed = max(deadline, time.monotonic()) + 2, False
        data = b""
        while len(data) < _STATUS.size:
            remaining = give_up - time.monotonic()
            if remaining <= 0 and not killed:
                self.kill()
                killed, give_up = True, time.monotonic() + ZYGOTE_FORK_SECONDS
                continue
            if remaining <= 0:
                break  # the zygote is stalled: the child was sent SIGKILL, count it as such
            readable, _, _ = select.select([self.status], [], [], remaining)
            if readable:
                chunk = os.read(self.status, _STATUS.size - len(data))
                if not chunk:
                    break
                data += chunk
        if len(data) == _STATUS.size:
            status, cpu = _STATUS.unpack(data)
            self.returncode = os.waitstatus_to_exitcode(status)
        else:
            self.returncode, cpu = -signal.SIGKILL, _cpu_seconds(self.pid)
        return self.returncode, cpu, killed

    def wait(self) -> int:
        if self.returncode is None:
            self.reap(time.monotonic())
        return self.returncode

    def poll(self) -> int | None:
        return self.returncode

    def close(self) -> None:
        for pipe in (self.stdin, self.stdout):
            with contextlib.suppress(OSError):
                pipe.close()
        for fd in (self.status, self.pidfd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.status, self.pidfd = None, None


class _Zygote:
    """This process's fork server for Landlock children (`strategy_management.sandbox.zygote`): started by a
    long-lived keeper thread (its parent-death signal fires when that thread ends), then asked for a child
    per request over a `SOCK_SEQPACKET` socket. A forked process (an RQ work-horse) inherits the socket and
    asks its parent's zygote; it never waits for it or kills it. When the zygote is unavailable (it could
    not start, or died) a call falls back to the spare or a child started for it."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.cond = threading.Condition()
        self.enabled = True
        self.inherited = False  # the socket is our parent's zygote's (after fork)
        self.state = "none"  # none | starting | ready | failed
        self.retry_at = 0.0
        self.sock: socket.socket | None = None
        self.proc: subprocess.Popen | None = None
        self.wanted = False
        self.generation = 0
        self.thread: threading.Thread | None = None

    def ensure(self) -> bool:
        """Have a zygote (start it in the background if this process has none); False: none to be had."""
        with self.cond:
            if not self.enabled:
                return False
            if self.state in ("starting", "ready"):
                return True
            if self.state == "failed" and time.monotonic() < self.retry_at:
                return False
            self.state, self.wanted = "starting", True
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="confined-runner-zygote", daemon=True)
                self.thread.start()
            self.cond.notify_all()
            return True

    def ready_socket(self, timeout: float) -> socket.socket | None:
        if not self.ensure():
            return None
        with self.cond:
            self.cond.wait_for(lambda: self.state != "starting", timeout)
            return self.sock if self.state == "ready" else None

    def pid(self, timeout: float = 0.0) -> int | None:
        """The zygote's pid once ready (waiting for one being started; never starting one)."""
        with self.cond:
            self.cond.wait_for(lambda: self.state != "starting", timeout)
            return self.proc.pid if self.proc is not None and self.state == "ready" else None

    def fork(self, wait_seconds: float) -> _ZygoteChild | None:
        """A confined child of the zygote for one request (None: no zygote, use the other paths)."""
        sock = self.ready_socket(ZYGOTE_START_SECONDS)
        if sock is None:
            return None
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        status_r, status_w = os.pipe()
        theirs = (stdin_r, stdout_w, status_w)
        try:
            socket.send_fds(sock, [json.dumps({"wait": wait_seconds}).encode()], list(theirs))
            sent = True
        except OSError:
            sent = False
        finally:
            for fd in theirs:
                os.close(fd)
        data = b""
        while sent and len(data) < _PID.size:
            readable, _, _ = select.select([status_r], [], [], ZYGOTE_FORK_SECONDS)
            chunk = os.read(status_r, _PID.size - len(data)) if readable else b""
            if not chunk:
                break
            data += chunk
        if len(data) < _PID.size:
            for fd in (stdin_w, stdout_r, status_r):
                os.close(fd)
            self._lost(sock)
            return None
        return _ZygoteChild(_PID.unpack(data)[0], stdin_w, stdout_r, status_r)

    def _lost(self, sock: socket.socket) -> None:
        """The zygote did not answer: ours is killed (the keeper starts a new one on the next call); a parent's
        is forgotten (this process starts its own)."""
        log.warning("the confined runner's zygote did not answer; starting children without it")
        with self.cond:
            if self.sock is not sock:
                return
            if self.inherited:
                self.inherited, self.state, self.sock = False, "none", None
                with contextlib.suppress(OSError):
                    sock.close()
            elif self.proc is not None:
                _kill(self.proc)  # the keeper reaps it and clears the state

    def configure(self, *, enabled: bool) -> None:
        """On or off for this process (off stops this process's zygote; a parent's is only forgotten)."""
        with self.cond:
            self.enabled = enabled
            if enabled:
                return
            self.generation += 1
            self.wanted = False
            proc, sock, inherited = self.proc, self.sock, self.inherited
            if inherited:
                self.inherited, self.state, self.sock = False, "none", None
            elif self.state == "failed":
                self.state = "none"
            self.cond.notify_all()
        if inherited and sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        elif proc is not None:
            _kill(proc)
        if not inherited:
            with self.cond:  # wait until the keeper has reaped it
                self.cond.wait_for(lambda: self.state != "ready" and self.state != "starting", 30)

    def _loop(self) -> None:
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.wanted)
                self.wanted, generation = False, self.generation
            proc, sock = _start_zygote()
            with self.cond:
                keep = proc is not None and self.enabled and generation == self.generation and not self.inherited
                if keep:
                    self.proc, self.sock, self.state = proc, sock, "ready"
                else:
                    self.state = "failed" if proc is None else "none"
                    self.retry_at = time.monotonic() + ZYGOTE_RETRY_SECONDS
                self.cond.notify_all()
            if not keep:
                if proc is not None:
                    _kill(proc)
                    proc.wait()
                    sock.close()
                continue
            proc.wait()  # until it dies: stopped by `configure`, lost, or killed from outside
            with self.cond:
                if self.proc is proc:
                    self.proc, self.sock, self.state = None, None, "none"
                self.cond.notify_all()
            with contextlib.suppress(OSError):
                sock.close()

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's zygote may serve us (its socket is inherited), never be waited for
        or killed from here."""
        sock = self.sock if self.state == "ready" and self.enabled else None
        if self.proc is not None:
            self.proc.returncode = 0  # not ours
        if self.sock is not None and sock is None:
            with contextlib.suppress(OSError):
                self.sock.close()
        enabled = self.enabled
        self.__init__()
        self.enabled = enabled
        if sock is not None:
            self.sock, self.state, self.inherited = sock, "ready", True

    def close(self) -> None:
        if self.owner == os.getpid() and not self.inherited:
            with self.cond:
                proc = self.proc
            if proc is not None:
                _kill(proc)


def _start_zygote() -> tuple[subprocess.Popen | None, socket.socket | None]:
    """Start a zygote (from the keeper thread) and wait for its ready byte; (None, None) if it cannot."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        proc = _spawn(
            [sys.executable, "-I", "-B", "-m", "strategy_management.sandbox.zygote", str(os.getpid())],
            stdin=theirs.fileno(),
        )
    except OSError:
        log.exception("could not start the confined runner's zygote")
        ours.close()
        return None, None
    finally:
        theirs.close()
    readable, _, _ = select.select([proc.stdout], [], [], ZYGOTE_START_SECONDS)
    ready = os.read(proc.stdout.fileno(), len(protocol.READY)) == protocol.READY if readable else False
    proc.stdout.close()
    if not ready:
        log.warning("the confined runner's zygote did not start; starting children without it")
        _kill(proc)
        proc.wait()
        ours.close()
        return None, None
    return proc, ours


_ZYGOTE = _Zygote()
os.register_at_fork(after_in_child=_ZYGOTE.forget_after_fork)
atexit.register(_ZYGOTE.close)


def zygote_pid(timeout: float = 0.0) -> int | None:
    """The pid of this process's zygote once it is ready (waiting up to `timeout` for one being started, never
    starting one; in a forked process None: its parent's zygote is not its own)."""
    return _ZYGOTE.pid(timeout)


def wait_for_zygote(timeout: float = 60.0) -> bool:
    """Start this process's zygote (or use the inherited one) and wait until it is ready; False: none."""
    return _ZYGOTE.ready_socket(timeout) is not None


def configure_zygote(*, enabled: bool) -> None:
    """The zygote on (the default) or off for this process: off, Landlock children come from the spare or
    are started for their request, as when the zygote cannot start."""
    _ZYGOTE.configure(enabled=enabled)


def prestart(landlock: bool = True) -> None:
    """Get this process's first confined run ready now (in the background): with Landlock its zygote (none to
    start in a work-horse whose parent has one), else — or when the zygote is unavailable — its warm spare;
    for example at the start of a job, so the child's imports overlap the job's data load."""
    if landlock and _ZYGOTE.ensure():
        return
    _SPARES.want(landlock)


def spare_pid() -> int | None:
    """The pid of this process's current spare (None: none)."""
    return _SPARES.pid()


def wait_for_spare(timeout: float = 30.0) -> int | None:
    """Wait until this process's spare is confined and imported; its pid (None: none within `timeout`)."""
    return _SPARES.wait_ready(timeout)


def configure_spares(
    *, enabled: bool | None = None, idle_seconds: float | None = None, replenish: bool | None = None
) -> None:
    """Spares on or off for this process (on by default), how long an unused one waits, and whether the next
    one is started as soon as one is taken (on by default; off: only `prestart()` starts one — a one-job
    work-horse, whose second spare would be started for nothing)."""
    _SPARES.configure(enabled=enabled, idle_seconds=idle_seconds, replenish=replenish)


def _kill(proc: subprocess.Popen | _ZygoteChild) -> None:
    if isinstance(proc, _ZygoteChild):
        proc.kill()
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _reap(proc: subprocess.Popen | _ZygoteChild, deadline: float) -> tuple[int, float, bool]:
    """Wait for the child (killing it 2 s past the deadline) with `wait4`, for its CPU time: returns the exit
    code, the CPU seconds it used and whether this wait had to kill it (a zygote's child: the zygote's
    `wait4`, read from the status pipe)."""
    if isinstance(proc, _ZygoteChild):
        return proc.reap(deadline)
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
    frames_read = [_read_targets(f) for f in frames]
    return Outcome(header.get("result") or {}, frames_read, _user_output(header), pid=int(header.get("pid") or 0))


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
