"""The API's server processes when `HUICE_API_WORKERS` > 1: one acceptor, N uvicorn processes, connections dealt
round robin.

uvicorn's own `--workers` lets every process accept on the one shared socket, and an asyncio (uvloop) server
accepts every pending connection per wake-up: a burst of new connections (a client's pool opening) often lands
in one process, and the load then runs on one core while the other idles. Here the parent process owns the
listening socket, accepts each connection and hands its descriptor (SCM_RIGHTS over a Unix socket pair) to the
next live server process in turn, so N connections opened at once are served ⌈N/k⌉ / ⌊N/k⌋ by the k processes.
Requests never pass through the parent: a server process owns the connection from the hand-off on.

A server process that dies is skipped at once (its pair reads end-of-file, a hand-off to it fails) and started
again after a second; pending connections wait in the parent's one accept queue, never in a dead process's
socket. The server processes are the parent's children in its process group (a stop of the group reaches
them all) and get SIGTERM if the parent dies (PR_SET_PDEATHSIG). SIGTERM/SIGINT: the parent stops accepting and
stops its children (uvicorn's graceful shutdown, `--timeout-graceful-shutdown`).

    python -m huice.api_processes --host 127.0.0.1 --port 8000 --workers 2 [--app huice.api:app_factory]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import selectors
import signal
import socket
import subprocess
import sys
import time

import uvicorn

from platform_core.embedded import die_with_parent

log = logging.getLogger("huice.api_processes")

RESTART_AFTER_S = 1.0
"""A server process that exited is started again this long after its exit was seen."""


class _ServerProcess:
    """One uvicorn process and the parent's end of its hand-off pair (None while it is not running)."""

    def __init__(self, index: int, argv: list[str]) -> None:
        self.index, self.argv = index, argv
        self.proc: subprocess.Popen[bytes] | None = None
        self.channel: socket.socket | None = None
        self.exited_at = 0.0

    def start(self) -> None:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            fd = child_end.fileno()
            argv = [*self.argv, "--serve-fd", str(fd)]
            self.proc = subprocess.Popen(argv, pass_fds=[fd], stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        parent_end.setblocking(False)
        self.channel = parent_end
        log.info("started API server process %d", self.proc.pid)

    def lost(self) -> None:
        """The process is gone (or its pair is): no more hand-offs; started again after RESTART_AFTER_S."""
        if self.channel is not None:
            self.channel.close()
            self.channel = None
            self.exited_at = time.monotonic()

    def hand(self, conn: socket.socket) -> bool:
        if self.channel is None:
            return False
        try:
            socket.send_fds(self.channel, [b"c"], [conn.fileno()])
        except BlockingIOError:
            return False  # its queue is full: the next process takes this one
        except OSError:
            return False
        return True


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)  # uvicorn's default backlog
    sock.setblocking(False)
    return sock


def run_parent(args: argparse.Namespace) -> int:
    """Accept on (host, port) and deal the connections round robin to `args.workers` server processes."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    listener = _listen(args.host, args.port)
    argv = [sys.executable, "-m", "huice.api_processes", "--app", args.app]
    argv += ["--timeout-graceful-shutdown", str(args.timeout_graceful_shutdown)]
    servers = [_ServerProcess(i, argv) for i in range(args.workers)]
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, None)
    turn = 0
    try:
        for server in servers:
            server.start()
            selector.register(server.channel, selectors.EVENT_READ, server)
        while not stopping:
            for key, _ in selector.select(timeout=0.5):
                if key.data is not None:  # a server's pair is readable only at its end: the process is gone
                    selector.unregister(key.fileobj)
                    key.data.lost()
                    continue
                while True:
                    try:
                        conn, _ = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as exc:  # e.g. EMFILE: leave it pending, try again on the next wake-up
                        log.warning("accept failed: %s", exc)
                        break
                    with conn:  # the parent's copy: closed once handed (no live process at all: refused)
                        for _ in range(len(servers)):
                            server, turn = servers[turn % len(servers)], turn + 1
                            if server.hand(conn):
                                break
            now = time.monotonic()
            for server in servers:
                if server.proc is not None and server.proc.poll() is not None:
                    if server.channel is not None:
                        selector.unregister(server.channel)
                        server.lost()
                    if not stopping and now - server.exited_at >= RESTART_AFTER_S:
                        code = server.proc.returncode
                        log.warning("API server process %d exited (%s), restarting", server.proc.pid, code)
                        server.start()
                        selector.register(server.channel, selectors.EVENT_READ, server)
    finally:
        selector.close()
        listener.close()
        _stop_all(servers, args.timeout_graceful_shutdown + 5)
    return 0


def _stop_all(servers: list[_ServerProcess], timeout: float) -> None:
    running = [s.proc for s in servers if s.proc is not None and s.proc.poll() is None]
    for proc in running:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in running:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for server in servers:
        server.lost()


class HandedServer(uvicorn.Server):
    """A uvicorn server that listens on nothing: it serves the connections whose descriptors arrive on
    `channel` (the parent's hand-offs), each through uvicorn's own protocol as if it had accepted it."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self.channel = channel
        self._connecting: set[asyncio.Task] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(3)  # uvicorn's STARTUP_FAILURE
        config, loop = self.config, asyncio.get_running_loop()

        def create_protocol() -> asyncio.Protocol:
            return config.http_protocol_class(
                config=config, server_state=self.server_state, app_state=self.lifespan.state, _loop=loop
            )

        def receive() -> None:
            while True:
                try:
                    message, fds, _, _ = socket.recv_fds(self.channel, 64, 64, socket.MSG_CMSG_CLOEXEC)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    message, fds = b"", []
                if not message and not fds:  # the parent is gone: no more connections will come
                    loop.remove_reader(self.channel.fileno())
                    self.should_exit = True
                    return
                for fd in fds:
                    sock = socket.socket(fileno=fd)
                    if self.should_exit:
                        sock.close()
                        continue
                    task = loop.create_task(self._serve_connection(loop, create_protocol, sock))
                    self._connecting.add(task)
                    task.add_done_callback(self._connecting.discard)

        self.servers = []
        self.channel.setblocking(False)
        loop.add_reader(self.channel.fileno(), receive)
        self.started = True

    @staticmethod
    async def _serve_connection(loop, create_protocol, sock: socket.socket) -> None:
        try:
            await loop.connect_accepted_socket(create_protocol, sock)
        except OSError:
            sock.close()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.channel.fileno())
        self.channel.close()
        await super().shutdown(sockets)


def run_server(args: argparse.Namespace) -> int:
    """One server process: the app (`args.app`, a factory) served on the connections handed over `--serve-fd`.
    uvicorn's proxy-header handling and access log are off, as in `serve.api_command`."""
    config = uvicorn.Config(
        args.app, factory=True, proxy_headers=False, access_log=False,
        timeout_graceful_shutdown=args.timeout_graceful_shutdown,
    )  # fmt: skip
    channel = socket.socket(fileno=args.serve_fd)
    channel.set_inheritable(False)  # inherited to be passed here; not to whatever this process starts
    HandedServer(config, channel).run()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m huice.api_processes")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--app", default="huice.api:app_factory")
    parser.add_argument("--timeout-graceful-shutdown", type=int, default=5)
    parser.add_argument("--serve-fd", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_fd is not None:
        return run_server(args)
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())
