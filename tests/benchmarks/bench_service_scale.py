"""Market scale through the service (`make bench`, issue 19): `momentum_rotation` over `{"all": true}` (every
stock listed on each session) submitted to the real API and executed by a real RQ worker, on PostgreSQL/Redis.

Servers: embedded PostgreSQL/Redis in a scratch directory, or the ones named by HUICE_BENCH_DATABASE_URL /
HUICE_BENCH_REDIS_URL (as `bench_service.py`: a scratch database `huice_bench_<pid>`, dropped afterwards; give
Redis an empty database number of its own). Data: the sample's calendar and reference (`load_sample` of one
stock and the benchmark) plus `--symbols` synthetic stocks (seeded GBM, `bench_market_scale.synthetic_bars`
re-dated onto XSHG sessions) listed before the window, written into the real bar store one partition per
symbol and published as a snapshot the way `load_sample` does it (`snapshots.publish`).

Measured, after one small backtest created and run to warm the API process and the worker: POST
/api/backtests (the selection resolved over the window, coverage checked), then POST of a run → GET reads
`succeeded` (polled every 20 ms), split into the queue wait and the worker's attempt (the run's own
timestamps). The breakdown of the attempt is measured afterwards in this process with the calls the attempt
makes, in its order: selection resolution (`universe_membership`), data load (bars, instruments, benchmark
from the store), the strategy's frame (`with_fields`: declared fundamentals and the `in_universe` flags of the
point-in-time membership), engine (targets on that frame, membership mask, simulation), writes (the six
Parquet artifacts into the artifact store). Default 500 symbols × 2 years (a few minutes in `make bench`);
`--symbols 5000 --years 10` is the issue's full scale.

    uv run python tests/benchmarks/bench_service_scale.py
    uv run python tests/benchmarks/bench_service_scale.py --symbols 5000 --years 10

The load average is printed with the figures. No test asserts on these numbers.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx
import polars as pl

from huice import migrate
from huice.bootstrap import start_servers
from tests.backtest import support
from tests.benchmarks.bench_market_scale import stored_frame, synthetic_bars
from tests.benchmarks.bench_service import _scratch_database, bench_settings, start_api, stop_service

PARAMS = {"lookback": 60, "top_n": 50, "rebalance": 20}
LISTED = date(2014, 1, 2)  # every synthetic stock is listed before the sample's first session


def codes(count: int) -> list[str]:
    """Codes across the boards, clear of the sample's (which end in 10, 20, ...): main 601xxx/002xxx,
    ChiNext 301xxx, STAR 689xxx, in turn."""
    prefixes = [(601000, "SH"), (2000, "SZ"), (301000, "SZ"), (689000, "SH")]
    return [f"{prefixes[i % 4][0] + i // 4:06d}.{prefixes[i % 4][1]}" for i in range(count)]


def build_market(c, count: int, start: date, end: date) -> str:
    """Store `count` synthetic stocks' daily bars over the XSHG sessions of [start, end] and publish them in a
    new sample snapshot (with the sample's calendar, one sample stock and the benchmark); its id."""
    from market_data import repository as market_repo
    from market_data import service as market
    from market_data.config import env_of as market_env
    from market_data.domain import Source, board_of, exchange_of
    from market_data.service.snapshots import Partition, publish

    env = market_env(c)
    with c.db.transaction() as session:
        market.load_sample(session, env, symbols=[support.SYMBOLS[0], support.BENCHMARK], start=start, end=end)
        sessions = market.trading_sessions(session, start, end)
    symbols = codes(count)
    raw = synthetic_bars(count, len(sessions))
    by_index = pl.DataFrame({"_i": range(len(sessions)), "date": sessions}, schema={"_i": pl.Int64, "date": pl.Date})
    bars = (
        raw.drop("date", "ts", "symbol")
        .with_columns(
            pl.Series("symbol", [s for s in symbols for _ in sessions]),
            (pl.int_range(pl.len()) % len(sessions)).cast(pl.Int64).alias("_i"),
        )
        .join(by_index, on="_i", how="left")
        .drop("_i")
        .with_columns(pl.col("date").cast(pl.Datetime("us")).dt.offset_by("15h").alias("ts"))
        .pipe(stored_frame)
    )
    written = [
        Partition(env.store.write("1d", key[0], part), start, end)
        for key, part in bars.partition_by("symbol", as_dict=True, maintain_order=True).items()
    ]
    with c.db.transaction() as session:
        market_repo.upsert_instruments(
            session,
            [
                {"symbol": s, "name": f"合成{i:04d}", "exchange": exchange_of(s), "board": board_of(s).value,
                 "kind": "stock", "list_date": LISTED, "delist_date": None, "source": Source.SAMPLE.value}
                for i, s in enumerate(symbols)
            ],
            keep_other_sources=True,
        )  # fmt: skip
        snapshot, _ = publish(session, Source.SAMPLE, written, store=env.store)
    return snapshot.id


def breakdown(c, backtest_id: str, user_id) -> dict[str, float]:
    """The attempt's stages again, timed in this process with the calls the worker makes (its order)."""
    import uuid

    from backtest import gateways
    from backtest import repository as repo
    from backtest.artifacts import artifact_key
    from backtest.config import env_of
    from backtest.domain import engine_config, logs_frame, parquet_bytes
    from backtest.service._common import backtest_read
    from quant import simulate
    from strategy_management import service as strategies
    from user_auth import service as accounts

    env = env_of(c)
    t: dict[str, float] = {}
    with c.db.transaction() as session:
        principal = accounts.principal_for_user(session, user_id, via="job")
        bt = backtest_read(repo.get_backtest(session, user_id, uuid.UUID(backtest_id)))
        source = strategies.get_version(session, principal, bt.strategy.version_id).source
        ctx = bt.context
        started = time.perf_counter()
        members = gateways.membership(session, ctx.selection, ctx.window.start, ctx.window.end)
        t["selection resolution (universe_membership)"] = time.perf_counter() - started
        started = time.perf_counter()
        inputs = gateways.context_inputs(session, env, ctx)
        t["data load (bars, instruments, benchmark)"] = time.perf_counter() - started
        started = time.perf_counter()
        seen = gateways.with_fields(session, inputs.bars, gateways.strategy_fields(source), members, freq=ctx.frequency)
        t["strategy frame (declared fields, in_universe flags)"] = time.perf_counter() - started
    started = time.perf_counter()
    config = engine_config(ctx.rules.model_dump(mode="json"), ctx.initial_cash)
    targets, _ = gateways.run_targets(env, source, seen, PARAMS, 600, config, inputs.instruments)
    t["engine: targets"] = time.perf_counter() - started
    started = time.perf_counter()
    targets = gateways.mask_to_membership(targets, members)
    t["engine: membership mask"] = time.perf_counter() - started
    started = time.perf_counter()
    result = simulate(
        inputs.bars, targets, engine_config(ctx.rules.model_dump(mode="json"), ctx.initial_cash, source),
        inputs.instruments, inputs.benchmark, params=PARAMS,
    )  # fmt: skip
    t["engine: simulation"] = time.perf_counter() - started
    started = time.perf_counter()
    frames = {"equity": result.equity, "trades": result.trades, "orders": result.orders,
              "positions": result.positions, "fills": result.fills, "logs": logs_frame([])}  # fmt: skip
    for kind, frame in frames.items():
        env.store.put(artifact_key(user_id, uuid.uuid4(), kind), parquet_bytes(frame))
    t["writes (six Parquet artifacts)"] = time.perf_counter() - started
    t["_rows"], t["_symbols"] = float(inputs.bars.height), float(inputs.bars["symbol"].n_unique())
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500, help="synthetic stocks (the issue: 5000)")
    parser.add_argument("--years", type=int, default=2, help="years of daily bars in the window (the issue: 10)")
    args = parser.parse_args()
    end = date(2025, 12, 31)
    start = date(end.year - args.years + 1, 1, 1)
    load_before = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="huice-bench-") as tmp,
        _scratch_database(
            os.environ.get("HUICE_BENCH_DATABASE_URL") or os.environ.get("HUICE_TEST_DATABASE_URL")
        ) as database_url,
    ):
        redis_url = os.environ.get("HUICE_BENCH_REDIS_URL") or os.environ.get("HUICE_TEST_REDIS_URL")
        settings = bench_settings(Path(tmp), database_url, redis_url)
        servers = start_servers(settings)
        api = workers = None
        try:
            migrate.upgrade(servers.database_url)
            c = support.build_container(servers.database_url, servers.redis_url, Path(tmp))
            started = time.perf_counter()
            snapshot_id = build_market(c, args.symbols, start, end)
            built = time.perf_counter() - started
            user = support.new_user(c)
            workers = support.Workers(c, 1)
            workers.wait_ready()
            api = start_api(settings, c)
            base = api.base
            body = support.backtest_body(
                strategyRef={"template": "momentum_rotation", "params": PARAMS},
                universe={"all": True},
                window={"start": start.isoformat(), "end": end.isoformat()},
                datasource_version=snapshot_id,
                initial_cash=100_000_000,
            )
            with httpx.Client(base_url=base, headers=user.headers, timeout=600) as client:
                _warm_up(client)
                t0 = time.perf_counter()
                created = client.post("/api/backtests", json=body)
                created.raise_for_status()
                create_s = time.perf_counter() - t0
                backtest = created.json()["backtest"]
                t0 = time.perf_counter()
                answer = client.post(f"/api/backtests/{backtest['id']}/runs", json={"mode": "single", "params": {}})
                answer.raise_for_status()
                run_id = str((answer.json().get("runIds") or answer.json().get("run_ids"))[0])
                while (run := client.get(f"/api/runs/{run_id}").json())["status"] not in support.TERMINAL:
                    time.sleep(0.02)
                total_s = time.perf_counter() - t0
            if run["status"] != "succeeded":
                raise SystemExit(f"run {run_id} ended {run['status']}: {run.get('error')}")
            attempt_s = _seconds(run["finished_at"]) - _seconds(run["started_at"])
            parts = breakdown(c, backtest["id"], user.id)
            rows, symbols = int(parts.pop("_rows")), int(parts.pop("_symbols"))
            print(f"momentum_rotation {PARAMS} on {{'all': true}}: {len(backtest['context']['universe'])} stocks, "
                  f"{rows:,} daily bars of {symbols} symbols, {start}..{end}")  # fmt: skip
            print("| measure | seconds |\n| --- | ---: |")
            print(f"| synthetic market stored and published (setup, not the run) | {built:.2f} |")
            print(f"| POST /api/backtests (selection resolved, coverage checked) | {create_s:.2f} |")
            print(f"| submit → succeeded (POST run → GET reads succeeded) | {total_s:.2f} |")
            print(f"| · queue wait (run's queue_wait_s) | {run.get('queue_wait_s') or 0:.2f} |")
            print(f"| · worker attempt (started_at → finished_at) | {attempt_s:.2f} |")
            for name, seconds in parts.items():
                print(f"| ·· {name} (re-timed in the bench process) | {seconds:.2f} |")
            print(f"\nsharpe {run['stats'].get('sharpe')}, total return {run['stats'].get('total_return')}")
            print(
                f"1 worker, {settings.api_workers} API processes, {'embedded' if servers.embedded else 'configured'} "
                f"servers; load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}"
            )
            c.close()
        finally:
            stop_service(api, workers, servers)


def _warm_up(client: httpx.Client) -> None:
    """One small backtest created and run first (not counted): the API process, the dry run and the worker
    have imported and started everything once."""
    body = support.backtest_body(universe=[support.SYMBOLS[0]])
    created = client.post("/api/backtests", json=body)
    created.raise_for_status()
    answer = client.post(f"/api/backtests/{created.json()['backtest']['id']}/runs", json={"mode": "single"})
    answer.raise_for_status()
    run_id = str((answer.json().get("runIds") or answer.json().get("run_ids"))[0])
    while client.get(f"/api/runs/{run_id}").json()["status"] not in support.TERMINAL:
        time.sleep(0.05)


def _seconds(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


if __name__ == "__main__":
    main()
