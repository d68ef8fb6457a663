"""One user's burst of strategy saves against `huice serve`: do other users still get fast answers? (issue 13, item 1)

Starts `huice serve` (the real API process and its pool of HUICE_DB_POOL_SIZE + overflow connections) on a fresh
database of `HUICE_TEST_DATABASE_URL`'s server and on `HUICE_TEST_REDIS_URL` when set, else on embedded servers
in a temporary data directory; registers two users through the API; then user A fires `--saves` concurrent
`POST /api/strategies` (each a new source, so each runs in the confined runner) while user B lists their
strategies (`GET /api/strategies`) from `--readers` concurrent loops (warmed up for 3 s first, not counted).
Prints the saves' status counts and B's latency p50 / p99 / max, and the number of 5xx answers. Target:
p99 < 200 ms, no 5xx.

    uv run python tests/benchmarks/bench_concurrent_saves.py --saves 50
    uv run python tests/benchmarks/bench_concurrent_saves.py --saves 50 --no-admission   # limits lifted
    uv run python tests/benchmarks/bench_concurrent_saves.py --saves 0                   # baseline: no burst

`--no-admission` lifts the run admission (HUICE_STRATEGY_MAX_RUNS and _PER_USER = 1000) to show what it buys.
No test asserts on these numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SOURCE = '''"""Hold everything while the close is above its moving average."""

import polars as pl

from quant.sdk import param, sma

PARAMS = [param("window", int, default=5, min=2, max=50, description="SMA window")]


def generate(bars: pl.DataFrame, params: dict) -> pl.DataFrame:
    on = (pl.col("close") > sma(params["window"])).fill_null(False)
    return bars.select("ts", "symbol", on.cast(pl.Float64).alias("weight"))

# {tag}
'''


WARM_UP_S = 3.0


def _serve_env(
    data_dir: Path,
    port: int,
    database_url: str | None,
    no_admission: bool,
    client_concurrency: int | None = None,
    write_concurrency: int | None = None,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUICE_")}
    env.update(
        {
            "HUICE_DATA_DIR": str(data_dir),
            "HUICE_API_PORT": str(port),
            "HUICE_WORKERS": "0",
            "HUICE_LOG_LEVEL": "WARNING",
            "HUICE_AUTH_ARGON2_TIME_COST": "1",
            "HUICE_AUTH_ARGON2_MEMORY_COST": "1024",
            "HUICE_AUTH_REGISTER_ADDRESS_LIMIT": "1000/hour",
            # B reads flat out from 4 loops (~1,800/minute) for as long as the burst lasts: the plan's read
            # rate (1200/minute) would answer 429 and measure that throttle, not the burst's effect
            "HUICE_AUTH_RATE_FREE_READ": "100000/minute",
        }
    )
    if database_url:
        env["HUICE_DATABASE_URL"] = database_url
    if os.environ.get("HUICE_TEST_REDIS_URL"):
        env["HUICE_REDIS_URL"] = os.environ["HUICE_TEST_REDIS_URL"]
    if client_concurrency is not None:
        env["HUICE_API_CLIENT_CONCURRENCY"] = str(client_concurrency)
    if write_concurrency is not None:
        env["HUICE_API_CLIENT_WRITE_CONCURRENCY"] = str(write_concurrency)
    if no_admission:
        env.update({"HUICE_STRATEGY_MAX_RUNS": "1000", "HUICE_STRATEGY_MAX_RUNS_PER_USER": "1000"})
        env["HUICE_STRATEGY_RUNS_MEMORY_MB"] = str(1000 * 2048)
    return env


def _wait_up(base: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"huice serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("huice serve did not come up")


def _user(base: str) -> dict[str, str]:
    email, password = f"bench-{uuid.uuid4().hex[:10]}@example.com", "Correct-Horse-9-bench"
    assert httpx.post(f"{base}/api/auth/register", json={"email": email, "password": password}).status_code == 201
    token = httpx.post(f"{base}/api/auth/login", json={"email": email, "password": password}).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def _saves(base: str, heavy: dict, saves: int) -> list[int]:
    limits = httpx.Limits(max_connections=saves + 4, max_keepalive_connections=saves + 4)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:

        async def save() -> int:
            tag = uuid.uuid4().hex
            body = {"name": f"burst-{tag[:12]}", "source": SOURCE.format(tag=tag)}
            return (await client.post("/api/strategies", json=body, headers=heavy)).status_code

        return list(await asyncio.gather(*(save() for _ in range(saves))))


async def _read_until_stdin_closes(base: str, light: dict, readers: int) -> list[tuple[float, int]]:
    """User B: `readers` GET loops on their own event loop until the parent closes stdin."""
    latencies: list[tuple[float, int]] = []
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        done = asyncio.Event()

        async def read() -> None:
            while not done.is_set():
                started = time.perf_counter()
                status = (await client.get("/api/strategies", headers=light)).status_code
                latencies.append(((time.perf_counter() - started) * 1000, status))

        loops = [asyncio.create_task(read()) for _ in range(readers)]
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # warmed up: count from here
        latencies.clear()
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        done.set()
        await asyncio.gather(*loops)
    return latencies


def _reader_main(base: str, token: str, readers: int) -> None:
    latencies = asyncio.run(_read_until_stdin_closes(base, {"Authorization": f"Bearer {token}"}, readers))
    print(json.dumps(latencies), flush=True)


def _burst(base: str, heavy: dict, light: dict, saves: int, readers: int) -> tuple[list, list, float]:
    """User A's burst from this process while user B reads from another process (another client: B's
    latency must not include A's client work on a shared event loop)."""
    token = light["Authorization"].removeprefix("Bearer ")
    reader = subprocess.Popen(
        [sys.executable, __file__, "--reader", base, token, str(readers)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "ready"
        time.sleep(WARM_UP_S)  # B's first requests (each API process's cold start) are not counted
        reader.stdin.write("go\n")
        reader.stdin.flush()
        time.sleep(0.5)  # readers counting before the burst
        started = time.perf_counter()
        statuses = asyncio.run(_saves(base, heavy, saves)) if saves else []
        if not saves:  # the baseline: the other user alone for a few seconds
            time.sleep(5)
        elapsed = time.perf_counter() - started
        time.sleep(0.5)
        out, _ = reader.communicate("", timeout=120)
    finally:
        if reader.poll() is None:
            reader.kill()
    return statuses, [tuple(row) for row in json.loads(out)], elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=50, help="concurrent saves of one user")
    parser.add_argument("--readers", type=int, default=4, help="concurrent GET loops of another user")
    parser.add_argument("--no-admission", action="store_true", help="lift the run admission's limits")
    parser.add_argument(
        "--client-concurrency",
        type=int,
        default=None,
        help="HUICE_API_CLIENT_CONCURRENCY of the server (default: the setting's default; 1000 lifts the gate)",
    )
    parser.add_argument(
        "--write-concurrency",
        type=int,
        default=None,
        help="HUICE_API_CLIENT_WRITE_CONCURRENCY of the server (default 1: one save per caller per process)",
    )
    args = parser.parse_args()
    from platform_core.embedded import free_port

    server_url = os.environ.get("HUICE_TEST_DATABASE_URL")
    database_url = name = None
    if server_url:
        from tests.databases import create_database

        database_url, name = create_database(server_url, prefix="huice_bench")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="huice-bench-") as tmp:
        proc = subprocess.Popen(
            [sys.executable, "-m", "huice", "serve"],
            env=_serve_env(
                Path(tmp) / "var",
                port,
                database_url,
                args.no_admission,
                args.client_concurrency,
                args.write_concurrency,
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_up(base, proc)
            heavy, light = _user(base), _user(base)
            statuses, latencies, elapsed = _burst(base, heavy, light, args.saves, args.readers)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            if server_url and name:
                from tests.databases import drop_database

                drop_database(server_url, name)
    gets = sorted(ms for ms, _ in latencies)
    get_statuses = collections.Counter(status for _, status in latencies)
    p99 = statistics.quantiles(gets, n=100, method="inclusive")[-1] if len(gets) >= 2 else gets[0]
    fivexx = sum(1 for s in statuses if s >= 500) + sum(n for s, n in get_statuses.items() if s >= 500)
    mode = "admission lifted" if args.no_admission else "default admission"
    if args.client_concurrency is not None:
        mode += f", HUICE_API_CLIENT_CONCURRENCY={args.client_concurrency}"
    if args.write_concurrency is not None:
        mode += f", HUICE_API_CLIENT_WRITE_CONCURRENCY={args.write_concurrency}"
    print(f"{args.saves} concurrent saves of one user ({mode}), burst over in {elapsed:.1f} s")
    print(f"  saves: {dict(sorted(collections.Counter(statuses).items()))}")
    print(f"  other user's GET /api/strategies: n={len(gets)} statuses={dict(sorted(get_statuses.items()))}")
    print(f"  latency ms: p50 {statistics.median(gets):.1f}  p99 {p99:.1f}  max {gets[-1]:.1f}")
    print(f"  5xx answers: {fivexx}")
    print(f"  machine load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--reader"]:
        _reader_main(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
