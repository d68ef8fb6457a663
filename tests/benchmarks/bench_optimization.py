"""Optimisation benchmark (`make bench`): submit → every result stored, with 2 real worker processes.

On the sample universe (4 symbols, 2022-01-04..2024-12-31 daily) over a real PostgreSQL and Redis
(embedded ones unless `HUICE_TEST_DATABASE_URL` / `HUICE_TEST_REDIS_URL` are set): a 400-combination
`ma_cross` grid (target ≤ 3 s), a 10,000-combination grid (≤ 30 s) and the same 400 combinations of a
user strategy (a copy of `ma_cross` that is not byte for byte the template, so its targets are computed
in the confined runner; ≤ 6 s). Prints a markdown table and the per-batch breakdown (data load, targets,
simulation, writes: mean and max over the batches)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SYMBOLS = ["600010.SH", "000010.SZ", "300010.SZ", "688010.SH"]
BENCHMARK = "000300.SH"
START, END = date(2022, 1, 4), date(2024, 12, 31)
GRID_400 = {"fast": {"start": 2, "stop": 40, "step": 2}, "slow": {"start": 50, "stop": 240, "step": 10}}
GRID_10K = {"fast": {"start": 2, "stop": 101, "step": 1}, "slow": {"start": 102, "stop": 399, "step": 3}}
TERMINAL = {"succeeded", "failed", "cancelled", "early_stopped"}


def _servers(tmp: Path) -> tuple[str, str, list[Any]]:
    from platform_core.embedded import EmbeddedPostgres, EmbeddedRedis

    started: list[Any] = []
    pg_url, redis_url = os.environ.get("HUICE_TEST_DATABASE_URL"), os.environ.get("HUICE_TEST_REDIS_URL")
    if not pg_url:
        pg = EmbeddedPostgres(tmp / "servers")
        pg_url = pg.start()
        started.append(pg)
    if not redis_url:
        redis = EmbeddedRedis(tmp / "servers", appendonly=False)
        redis_url = redis.start()
        started.append(redis)
    return pg_url, redis_url, started


def _backtest(c: Any, user: Any, strategy_ref: dict) -> Any:
    from backtest import service
    from backtest.config import env_of
    from backtest.schemas import BacktestCreate

    body = BacktestCreate.model_validate(
        {
            "strategyRef": strategy_ref,
            "context": {
                "universe": SYMBOLS,
                "frequency": "1d",
                "window": {"start": START.isoformat(), "end": END.isoformat()},
                "benchmark": BENCHMARK,
            },
        }
    )
    with c.db.transaction() as session:
        return service.create_backtest(session, env_of(c), user.principal, body).backtest_id


def _user_version(c: Any, user: Any) -> str:
    from backtest.config import env_of
    from strategy_management import service as strategies
    from strategy_management.schemas import StrategyCreate

    source = (ROOT / "libs/quant/quant/templates/ma_cross.py").read_text(encoding="utf-8") + "\n# a user's copy\n"
    with c.db.transaction() as session:
        created = strategies.create_strategy(
            session, env_of(c).strategies, user.principal, StrategyCreate(name="bench-user-ma", source=source)
        )
    return str(created.latest_version.id)


def _sweep(c: Any, user: Any, backtest_id: Any, grid: dict) -> tuple[float, Any]:
    from backtest import service
    from backtest.config import env_of
    from backtest.schemas import RunCreate

    body = RunCreate.model_validate({"mode": "grid", "gridSpec": grid})
    t0 = time.perf_counter()
    with c.db.transaction() as session:
        ids = service.submit_runs(session, env_of(c), user.principal, backtest_id, body)
    while True:
        with c.db.transaction() as session:
            opt = service.get_optimization(session, env_of(c), user.principal, ids.optimization_id)
        if opt.status in TERMINAL:
            return time.perf_counter() - t0, opt
        time.sleep(0.02)


def _breakdown(opt: Any) -> str:
    parts = []
    for key in ("data_ms", "targets_ms", "simulation_ms", "writes_ms"):
        values = [b.timing[key] for b in opt.batches if b.timing and b.timing.get(key) is not None]
        if values:
            parts.append(f"{key[:-3]} {sum(values) / len(values):.0f}/{max(values):.0f}")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from market_data import service as market
    from market_data.config import env_of as market_env
    from tests.backtest import support
    from tests.databases import create_database, drop_database

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        pg_url, redis_url, started = _servers(tmp)
        url, name = create_database(pg_url, prefix="huice_bench")
        pool = None
        try:
            from huice import migrate

            migrate.upgrade(url)
            c = support.build_container(url, redis_url, tmp / "data")
            c.redis.flushdb()
            with c.db.transaction() as session:
                market.load_sample(session, market_env(c), symbols=[*SYMBOLS, BENCHMARK], start=START, end=END)
            pool = support.Workers(c, args.workers)
            pool.wait_ready()
            user = support.new_user(c, plan="pro")
            template_bt = _backtest(c, user, {"template": "ma_cross", "params": {"fast": 5, "slow": 60}})
            user_bt = _backtest(c, user, {"version_id": _user_version(c, user), "params": {"fast": 5, "slow": 60}})
            rows = []
            for label, backtest_id, grid, target in (
                ("400-combination ma_cross grid (template)", template_bt, GRID_400, 3.0),
                ("10,000-combination ma_cross grid (template)", template_bt, GRID_10K, 30.0),
                ("400 combinations of a user strategy (confined)", user_bt, GRID_400, 6.0),
            ):
                seconds, opt = _sweep(c, user, backtest_id, grid)
                assert opt.status == "succeeded" and opt.evaluated == opt.total, (opt.status, opt.reason)
                rows.append((label, opt.evaluated, len(opt.batches), seconds, target, _breakdown(opt)))
            print(f"{args.workers} workers, {len(SYMBOLS)} symbols {START}..{END} daily, submit → all results stored")
            print("| sweep | evaluations | batches | seconds | target | per batch ms (mean/max) |")
            print("| --- | ---: | ---: | ---: | ---: | --- |")
            for label, evals, batches, seconds, target, parts in rows:
                print(f"| {label} | {evals} | {batches} | {seconds:.2f} | ≤ {target:.0f} | {parts} |")
        finally:
            if pool is not None:
                pool.stop()
            try:
                drop_database(pg_url, name)
            finally:
                for server in started:
                    server.stop()


if __name__ == "__main__":
    from tests.suite_settings import apply_to_environment

    apply_to_environment()  # the disclaimer gate off, rate limits far above this traffic
    main()
