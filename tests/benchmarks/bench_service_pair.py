"""Paired service benchmark: this checkout's API and another checkout's (`--other <its venv's python>`, e.g. a
`git archive` of the base commit with its own `uv sync`), both as `huice serve` runs them, over one database,
Redis and worker, the run GET's load alternated between them in batches so that both see the same machine.

    .venv/bin/python tests/benchmarks/bench_service_pair.py --other ../base/.venv/bin/python --batches 10

Servers as in `bench_service.py` (HUICE_BENCH_DATABASE_URL / HUICE_BENCH_REDIS_URL or embedded). Reports per
API the median CPU ms per GET over the batches (each batch's figure too), the median requests/s and the p50 /
p99 latency: on a shared machine whose load moves by the minute, a before/after that a pair of separate
`bench_service.py` runs cannot give. The other checkout's code must read this one's schema (no migration
between them)."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_service as bench
import httpx

from huice import migrate
from huice.bootstrap import start_servers
from tests.backtest import support


def _api_command(python: Path, port: int, env: dict[str, str]) -> list[str]:
    """That checkout's own `serve.api_command` (its process model, whatever it is) for `port`, run by its python."""
    code = (
        "import json, sys; from huice import serve; from platform_core.settings import CoreSettings; "
        "print(json.dumps(serve.api_command(CoreSettings(_env_file=None), host='127.0.0.1', port=int(sys.argv[1]))))"
    )
    out = subprocess.check_output([str(python), "-c", code, str(port)], env=env, cwd=str(python.absolute().parents[2]))
    return json.loads(out.splitlines()[-1])


def _start(settings, c, python: Path) -> bench.ApiProcess:
    port = bench._free_port()
    command = _api_command(python, port, support.worker_env(c))
    api = bench.ApiProcess(
        command, env=support.worker_env(c), cwd=str(python.absolute().parents[2]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    api.base = f"http://127.0.0.1:{port}"
    support.wait_for(lambda: bench._health(api.base), lambda ok: ok, timeout=60)
    return api


def main() -> None:
    if "--other" not in sys.argv:
        raise SystemExit("--other <python of the other checkout's venv> is required")
    other = Path(sys.argv[sys.argv.index("--other") + 1])
    batches, requests = bench._arg("--batches", 10), bench._arg("--requests", 1000)
    pythons = {"other": other, "this": Path(sys.executable)}
    with (
        tempfile.TemporaryDirectory(prefix="huice-bench-") as tmp,
        bench._scratch_database(os.environ.get("HUICE_BENCH_DATABASE_URL")) as database_url,
    ):
        settings = bench.bench_settings(Path(tmp), database_url, os.environ.get("HUICE_BENCH_REDIS_URL"))
        servers = start_servers(settings)
        apis: dict[str, bench.ApiProcess] = {}
        workers = None
        try:
            migrate.upgrade(servers.database_url)
            c = support.build_container(servers.database_url, servers.redis_url, Path(tmp))
            support.load_sample(c)
            user = support.new_user(c)
            workers = support.Workers(c, 1)
            workers.wait_ready()
            apis = {name: _start(settings, c, python) for name, python in pythons.items()}
            with httpx.Client(base_url=apis["this"].base, headers=user.headers, timeout=60) as client:
                created = client.post("/api/backtests", json=support.backtest_body())
                created.raise_for_status()
                backtest_id = created.json()["backtest"]["id"]
            _, run_id = bench.submit_latency(apis["this"].base, user.headers, backtest_id, 0)
            path = f"/api/backtests/{backtest_id}/runs/{run_id}"
            for api in apis.values():  # warm every API process
                asyncio.run(bench._load(api.base, user.headers, path, run_id, 8, 200))
            cpu = {name: [] for name in apis}
            rates = {name: [] for name in apis}
            latencies: dict[str, list[float]] = {name: [] for name in apis}
            splits: dict[str, list[str]] = {name: [] for name in apis}
            for i in range(batches):
                for name in ("other", "this") if i % 2 == 0 else ("this", "other"):
                    before = bench._cpu_s(apis[name].pid)
                    wall, seen, _, shares = asyncio.run(
                        bench._load(apis[name].base, user.headers, path, run_id, 8, requests, apis[name].pid)
                    )
                    splits[name].append(bench.split_text(shares))
                    cpu[name].append(1000 * (bench._cpu_s(apis[name].pid) - before) / requests)
                    rates[name].append(requests / wall)
                    latencies[name] += seen
            print("| API | CPU ms per GET (median) | per batch | requests/s (median) | p50 ms | p99 ms |")
            print("| --- | ---: | --- | ---: | ---: | ---: |")
            for name in apis:
                print(
                    f"| {name} | {statistics.median(cpu[name]):.2f} | {' '.join(f'{x:.2f}' for x in cpu[name])} | "
                    f"{statistics.median(rates[name]):.0f} | {1000 * bench._pct(latencies[name], 0.5):.1f} | "
                    f"{1000 * bench._pct(latencies[name], 0.99):.1f} |"
                )
            for name in apis:
                print(f"\n{name}, split over its API processes per batch: " + "; ".join(splits[name]))
            print(f"\n{batches} batches of {requests} GETs each, 8 connections; load average {os.getloadavg()[0]:.2f}")
            c.close()
        finally:
            for api in apis.values():
                bench.stop_service(api, None, _NoServers())
            bench.stop_service(None, workers, servers)


class _NoServers:
    def stop(self) -> None:
        """The servers are stopped once, after both APIs."""


if __name__ == "__main__":
    main()
