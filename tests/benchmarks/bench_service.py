"""Service benchmark (`make bench`): the API and the workers as `huice serve` runs them, on loopback.

Servers: embedded PostgreSQL/Redis in a scratch directory, or the ones named by HUICE_BENCH_DATABASE_URL /
HUICE_BENCH_REDIS_URL (a scratch database `huice_bench_<pid>` is created on that PostgreSQL server and dropped
afterwards; give the Redis URL an empty database number of its own). Migrates, loads the sample slice the backtest
tests use, starts `HUICE_WORKERS`-many (2) RQ worker processes and the API with `serve.api_command`
(`HUICE_API_WORKERS`, default 2).

1. one-click submit → succeeded: `--submits N` (20) single runs of the sample backtest, one after another;
   each is timed from the POST until a GET of the run reads `succeeded` (polled every 5 ms): p50 / p95.
2. `GET /api/backtests/{id}/runs/{run_id}` under a bounded load: `--connections C` (8) keep-alive
   connections on loopback, each sending its next request when the last answer is read, `--requests R`
   (2,000) in all: requests/s, p50 / p99 latency. The generator is lean (asyncio streams, one pre-built
   request, answers framed by Content-Length, each checked: 200 and the run's body) because on a small
   machine it shares the cores with the API; it reports its own CPU per GET (0.10–0.13 ms; httpx's async
   clients took 1.5–1.7 ms against the same server, which its figures paid for).
3. CPU time (Linux /proc) of the worker processes per run (their work-horses included) and of the API
   processes per GET: the work each costs, for before/after comparisons on a machine that is not quiet."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx

from huice import migrate, serve
from huice.bootstrap import start_servers
from platform_core.settings import CoreSettings
from tests.backtest import support


def _arg(name: str, default: int) -> int:
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _scratch_database(base_url: str | None):
    """None (embedded) or a fresh database on the configured server, dropped at the end."""
    if not base_url:
        yield None
        return
    import sqlalchemy as sa

    name = f"huice_bench_{os.getpid()}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _cpu_s(pid: int) -> float:
    """CPU seconds of process `pid` and of every process under it, the exited children it reaped included
    (/proc: utime + stime + cutime + cstime), so a worker's count holds its finished work-horses; 0 off Linux.
    A figure of work done, steadier than latency on a loaded machine."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return own + sum(_cpu_s(int(child)) for child in children)


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def submit_latency(base: str, headers: dict, backtest_id: str, n: int) -> tuple[list[float], str]:
    times = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for i in range(n + 1):  # the first run warms the API process; not counted
            start = time.perf_counter()
            answer = client.post(
                f"/api/backtests/{backtest_id}/runs", json={"mode": "single", "params": {"fast": 5, "slow": 20 + i}}
            )
            answer.raise_for_status()
            body = answer.json()
            run_id = str((body.get("runIds") or body.get("run_ids"))[0])
            while True:
                status = client.get(f"/api/runs/{run_id}").json()["status"]
                if status in support.TERMINAL:
                    break
                time.sleep(0.005)
            if status != "succeeded":
                raise SystemExit(f"run {run_id} ended {status}")
            if i:
                times.append(time.perf_counter() - start)
    return times, run_id


class _Refused(Exception):
    """The server answered the load generator with something other than the run (status or body)."""


def _request_bytes(base: str, headers: dict, path: str) -> tuple[str, int, bytes]:
    """Host, port and the one pre-built HTTP/1.1 keep-alive GET every request of the load sends."""
    url = httpx.URL(base)
    lines = [f"GET {path} HTTP/1.1", f"Host: {url.host}:{url.port}", "Accept: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return url.host, url.port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _check_body(body: bytes, run_id: str) -> None:
    import json

    try:
        answer = json.loads(body)
    except ValueError as exc:
        raise _Refused(f"not JSON: {body[:200]!r}") from exc
    if str(answer.get("run_id")) != run_id or answer.get("status") != "succeeded":
        raise _Refused(f"not the succeeded run {run_id}: {body[:200]!r}")


def _descendants(pid: int) -> list[int]:
    """`pid` and every process under it (Linux /proc; [pid] elsewhere)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid] + [p for child in children for p in _descendants(int(child))]


def server_pids(api_pid: int, port: int) -> dict[int, int]:
    """Which process under `api_pid` holds the server side of each loopback connection to `port`: client port →
    pid (Linux /proc: the processes' socket inodes against /proc/net/tcp{,6}; {} elsewhere). Counts the share each
    API process serves without timing anything."""
    owner: dict[str, int] = {}
    for pid in _descendants(api_pid):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        owner[target[8:-1]] = pid
    found: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, remote, inode = fields[1], fields[2], fields[9]
                if int(local.rsplit(":", 1)[1], 16) == port and inode in owner:
                    found[int(remote.rsplit(":", 1)[1], 16)] = owner[inode]
    return found


async def _load(
    base: str, headers: dict, path: str, run_id: str, connections: int, total: int, api_pid: int | None = None
) -> tuple[float, list[float], float, dict[int, list[int]]]:
    """`total` GETs of `path` over `connections` keep-alive connections, each sending its next request when
    the answer to the last one is read (a bounded, closed-loop load): wall seconds, each request's latency,
    the CPU seconds this generator spent, and (with `api_pid`) the share of each API process: pid →
    [connections, requests] it served (`server_pids`, read before the connections close). Lean on purpose —
    asyncio streams, one pre-built request, the answer framed by its Content-Length — so that on a small
    machine, where it shares the cores with the API, it takes little of them (httpx's clients cost more CPU
    per request than the server's route). Every answer must be 200 with the run's body: the first is parsed
    as JSON (its `run_id`, `succeeded`), the others must be byte-equal to it or parse the same."""
    host, port, request = _request_bytes(base, headers, path)
    latencies: list[float] = []
    remaining = total
    reference: list[bytes] = []
    served: dict[int, int] = {}  # client port → requests answered on it
    open_writers: list[asyncio.StreamWriter] = []

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(host, port)
        open_writers.append(writer)
        return reader, writer

    async def one_connection() -> None:
        nonlocal remaining
        reader, writer = await connect()
        local = writer.get_extra_info("sockname")[1]
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, _, rest = head.partition(b"\r\n")
            length = close = None
            for line in rest.split(b"\r\n"):
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection":
                    close = value.strip().lower() == b"close"
            if length is None:
                raise _Refused(f"no Content-Length: {head!r}")
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            served[local] = served.get(local, 0) + 1
            if status_line.split(b" ", 2)[1] != b"200":
                raise _Refused(f"{status_line!r}: {body[:200]!r}")
            if not reference:
                _check_body(body, run_id)
                reference.append(body)
            elif body != reference[0]:
                _check_body(body, run_id)
            if close:
                writer.close()
                reader, writer = await connect()
                local = writer.get_extra_info("sockname")[1]

    cpu, start = time.process_time(), time.perf_counter()
    try:
        await asyncio.gather(*(one_connection() for _ in range(connections)))
        wall, load_cpu = time.perf_counter() - start, time.process_time() - cpu
        shares: dict[int, list[int]] = {}
        if api_pid is not None:
            for local, pid in server_pids(api_pid, port).items():
                if local in served:
                    share = shares.setdefault(pid, [0, 0])
                    share[0] += 1
                    share[1] += served[local]
    finally:
        for writer in open_writers:
            writer.close()
    return wall, latencies, load_cpu, shares


def split_text(shares: dict[int, list[int]]) -> str:
    """'4 / 4 connections, 1498 / 1502 requests': each API process's share, largest first."""
    ordered = sorted(shares.values(), reverse=True)
    return f"{' / '.join(str(c) for c, _ in ordered)} connections, {' / '.join(str(r) for _, r in ordered)} requests"


def main() -> None:
    submits, connections, requests = _arg("--submits", 20), _arg("--connections", 8), _arg("--requests", 2000)
    with (
        tempfile.TemporaryDirectory(prefix="huice-bench-") as tmp,
        _scratch_database(os.environ.get("HUICE_BENCH_DATABASE_URL")) as database_url,
    ):
        settings = bench_settings(Path(tmp), database_url, os.environ.get("HUICE_BENCH_REDIS_URL"))
        servers = start_servers(settings)
        api = workers = None
        try:
            migrate.upgrade(servers.database_url)
            c = support.build_container(servers.database_url, servers.redis_url, Path(tmp))
            support.load_sample(c)
            user = support.new_user(c)
            workers = support.Workers(c, settings.workers)
            workers.wait_ready()
            api = start_api(settings, c)
            base = api.base
            with httpx.Client(base_url=base, headers=user.headers, timeout=60) as client:
                created = client.post("/api/backtests", json=support.backtest_body())
                created.raise_for_status()
                backtest_id = created.json()["backtest"]["id"]
            worker_cpu = sum(_cpu_s(p.pid) for p in workers.procs)
            times, run_id = submit_latency(base, user.headers, backtest_id, submits)
            worker_cpu = sum(_cpu_s(p.pid) for p in workers.procs) - worker_cpu
            path = f"/api/backtests/{backtest_id}/runs/{run_id}"
            asyncio.run(_load(base, user.headers, path, run_id, connections, 100))  # warm every API process
            api_cpu = _cpu_s(api.pid)
            wall, latencies, load_cpu, shares = asyncio.run(
                _load(base, user.headers, path, run_id, connections, requests, api.pid)
            )
            api_cpu = _cpu_s(api.pid) - api_cpu
            print("| measure | value |\n| --- | ---: |")
            print(f"| submit → succeeded p50 ms ({submits} runs) | {1000 * statistics.median(times):.0f} |")
            print(f"| submit → succeeded p95 ms | {1000 * _pct(times, 0.95):.0f} |")
            print(f"| GET run requests/s ({connections} connections, {requests} requests) | {requests / wall:.0f} |")
            print(f"| GET run p50 ms | {1000 * _pct(latencies, 0.5):.1f} |")
            print(f"| GET run p99 ms | {1000 * _pct(latencies, 0.99):.1f} |")
            print(f"| worker CPU ms per run (parents and work-horses) | {1000 * worker_cpu / (submits + 1):.0f} |")
            print(f"| API CPU ms per GET (all API processes) | {1000 * api_cpu / requests:.2f} |")
            print(f"| load generator CPU ms per GET | {1000 * load_cpu / requests:.2f} |")
            print(f"| GET run split over the API processes | {split_text(shares)} |")
            print(
                f"\nAPI processes {settings.api_workers}, workers {settings.workers}, "
                f"{'embedded' if servers.embedded else 'configured'} servers; load average {os.getloadavg()[0]:.2f}"
            )
            c.close()
        finally:
            stop_service(api, workers, servers)


def bench_settings(data_dir: Path, database_url: str | None, redis_url: str | None) -> CoreSettings:
    """A bench's settings: its scratch data directory and servers (embedded where None), quiet logs, no .env."""
    return CoreSettings(
        data_dir=data_dir, database_url=database_url, redis_url=redis_url,
        log_level="WARNING", log_format="console", _env_file=None,
    )  # fmt: skip


class ApiProcess(subprocess.Popen):
    """The API process a bench talks to, with its base URL."""

    base: str


def start_api(settings: CoreSettings, c) -> ApiProcess:
    """`huice serve`'s API command for container `c`'s servers on a free loopback port, once it answers
    `/health` (its own process group, so stopping it stops every uvicorn worker)."""
    port = _free_port()
    api = ApiProcess(
        serve.api_command(settings, host="127.0.0.1", port=port), env=support.worker_env(c),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    api.base = f"http://127.0.0.1:{port}"
    support.wait_for(lambda: _health(api.base), lambda ok: ok, timeout=60)
    return api


def stop_service(api: subprocess.Popen | None, workers, servers) -> None:
    """Stop the API (its process group), the workers, then the servers."""
    if api is not None and api.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(api.pid, 15)
        api.wait(timeout=15)
    if workers is not None:
        workers.stop()
    servers.stop()


def _health(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
