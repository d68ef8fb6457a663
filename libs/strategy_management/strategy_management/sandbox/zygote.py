"""The sandbox zygote: a fork server that starts confined children already imported, in about a millisecond.

Started by `strategy_management.confined_runner` as `python -I -B -m strategy_management.sandbox.zygote <owner
pid>` with the clean environment, its own session, the owner's end of a `SOCK_SEQPACKET` socket pair as
stdin and a pipe as stdout. It dies with its owner (`PR_SET_PDEATHSIG` from the owner's long-lived keeper
thread), applies Landlock (read-only under the interpreter and the import paths, like every sandbox child),
imports what a child needs (polars, numpy, the SDK, the event engine) — and then **never runs user code and
never runs a polars operation**: polars' thread pool must not exist when it forks. `import polars` starts a
`polars-ooc-cleaner` thread that waits on a futex and never runs unless polars spills to disk (a zygote does
no polars work), and jemalloc's background threads, which the clean environment turns off
(`_RJEM_MALLOC_CONF=background_thread:false`); jemalloc's own `pthread_atfork` handlers keep its locks
consistent across `fork`. It writes the ready byte on stdout, then serves requests on a single-threaded
poll loop:

- a request is one message on the socket (atomic: the owner and its forked work-horses share the socket) with
  three descriptors (`SCM_RIGHTS`): the child's stdin (read end), its stdout (write end) and a status pipe
  (write end), and a small JSON body (how long the child may wait for its request);
- the zygote forks. The child puts the two pipes on 0/1 and /dev/null on 2, closes **every** other
  descriptor (the socket above all: a confined child can never ask the zygote for anything), starts its own
  session, dies with the zygote (`PR_SET_PDEATHSIG` + the parent re-check), lowers its priority and continues
  as a sandbox child after its imports (`child.serve`: its polars pool, the ready byte, the request, then
  rlimits, capabilities, seccomp and guards at request time);
- on the status pipe the zygote writes the child's pid at once and, when it reaps the child (SIGCHLD through
  `signal.set_wakeup_fd`, `os.wait4`), its raw wait status and CPU seconds (`STATUS`), so the runner judges
  signals, the CPU limit and memory exactly as for a child of its own;
- when the requester dies (the status pipe's read end closed: POLLERR on the write end) it kills the child;
  when the socket has no peer left it kills all its children and exits.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import signal
import socket
import struct
import sys

from strategy_management.sandbox import child, confine

PID = struct.Struct("<i")  # the child's pid, first on the status pipe
STATUS = struct.Struct("<id")  # then its wait status (os.wait4) and CPU seconds (user + system)
REQUEST_FDS = 3  # stdin read end, stdout write end, status write end
MAX_REQUEST_BYTES = 4096


def _fork_child(ctl: socket.socket, stdin_fd: int, stdout_fd: int, status_fd: int, body: dict, prepared) -> None:
    """In the forked child: never returns (a child must never run the zygote's loop)."""
    code = 70
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        ctl.detach()  # its descriptor is closed below with every other one
        os.dup2(stdin_fd, 0)
        os.dup2(stdout_fd, 1)
        os.dup2(prepared.devnull, 2)  # opened before Landlock (which refuses opening it for writing)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        os.setsid()
        confine.die_with_parent(int(body["zygote"]))
        confine.set_process_name("huice-child")
        with contextlib.suppress(OSError):
            os.nice(child.SANDBOX_NICENESS)
        request_fd, proto = os.dup(0), os.dup(1)  # the protocol on private descriptors, as every child's
        os.dup2(2, 0)
        os.dup2(2, 1)
        sys.stdout, sys.stderr = io.StringIO(), io.StringIO()  # the user's prints go nowhere
        # fresh randomness per child (CPython reseeds `random` at fork; numpy's global generator, if the zygote
        # had loaded it, would otherwise be the same in every child)
        if (np_random := sys.modules.get("numpy.random")) is not None:
            np_random.seed()
        if prepared.unavailable is None:
            child.start_polars_pool(prepared.modules)
        code = child.serve(request_fd, proto, prepared, float(body.get("wait") or 60))
    except BaseException:  # whatever happened, the child ends here
        code = 70
    finally:
        os._exit(code)


def _write(fd: int, data: bytes) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, data)


def serve(ctl: socket.socket, prepared) -> None:
    """The zygote's loop (single-threaded: fork happens only here)."""
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    poller = select.poll()
    poller.register(ctl.fileno(), select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    status_of: dict[int, int] = {}  # child pid -> its status pipe (write end)
    pid_of: dict[int, int] = {}  # status pipe -> child pid, while its requester is watched
    me = os.getpid()
    while True:
        for fd, events in poller.poll():
            if fd == wake_r:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_r, 512):
                        pass
                _reap(status_of, pid_of, poller)
            elif fd == ctl.fileno():
                try:
                    body, fds, _, _ = socket.recv_fds(ctl, MAX_REQUEST_BYTES, REQUEST_FDS + 1)
                except InterruptedError:
                    continue
                if not body and not fds:  # no peer left: nobody can ask or wait any more
                    for pid in status_of:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    return
                try:
                    request = json.loads(body)
                    wait = float(request.get("wait") or 60) if isinstance(request, dict) else None
                except (ValueError, TypeError, AttributeError):
                    wait = None
                if len(fds) != REQUEST_FDS or wait is None:
                    for extra in fds:
                        os.close(extra)
                    continue
                stdin_fd, stdout_fd, status_fd = fds
                pid = os.fork()
                if pid == 0:
                    _fork_child(ctl, stdin_fd, stdout_fd, status_fd, {"zygote": me, "wait": wait}, prepared)
                os.close(stdin_fd)
                os.close(stdout_fd)
                _write(status_fd, PID.pack(pid))
                status_of[pid], pid_of[status_fd] = status_fd, pid
                poller.register(status_fd, 0)  # POLLERR / POLLHUP only: the requester is gone
            elif fd in pid_of and events & (select.POLLERR | select.POLLHUP):
                pid = pid_of.pop(fd)
                poller.unregister(fd)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)  # not reaped yet (we are its parent): the pid is still its own
        _reap(status_of, pid_of, poller)


def _reap(status_of: dict[int, int], pid_of: dict[int, int], poller: select.poll) -> None:
    while status_of:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        fd = status_of.pop(pid, None)
        if fd is None:
            continue
        _write(fd, STATUS.pack(status, usage.ru_utime + usage.ru_stime))
        if pid_of.pop(fd, None) is not None:
            poller.unregister(fd)
        os.close(fd)


def main() -> int:
    args = sys.argv[1:]
    confine.die_with_parent(int(args[0]))
    confine.set_process_name("huice-zygote")
    ctl = socket.socket(fileno=os.dup(0))
    ready = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)  # kept: its children's stderr (and 0/1 once they have dup'ed)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    roots = child.read_roots()
    try:
        abi, modules = child.prepare_process(True, roots, spare=True, pool=False)
    except Exception:  # no zygote: the runner starts its children as before
        return 3
    prepared = child.Prepared(True, roots, abi, modules, devnull=devnull)
    os.write(ready, child.protocol.READY)
    os.close(ready)
    serve(ctl, prepared)
    return 0


if __name__ == "__main__":
    os._exit(main())
