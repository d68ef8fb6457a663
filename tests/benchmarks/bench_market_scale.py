"""Market-scale benchmark (`make bench`, issue 19): `momentum_rotation` (top 50 by 60-session return, monthly:
every 20 sessions) as ONE portfolio over 5,000 synthetic symbols × 10 years of daily bars (≈12.5 M rows,
seeded GBM from `quant.synthetic`) in the engine, `a-share` preset; and reading that universe back from the
market_data bar store (one Parquet partition per symbol, as `get_bars` reads them) with the qfq adjustment.

Each measurement runs in a fresh child process so its peak memory is its own (`resource.getrusage`'s
`ru_maxrss`, which counts polars' native allocations that tracemalloc cannot see): the parent writes the
synthetic bars once to a temporary Parquet file and the store partitions, the child loads them (untimed),
then times the engine run (targets + simulation, end to end) or the store read. Targets: engine ≤ 5 s and
≤ 4 GB peak, read ≤ 2 s. `--profile` prints the top entries of cProfile (by total time) of the engine run.

    uv run python tests/benchmarks/bench_market_scale.py                       # 5,000 × 10 years
    uv run python tests/benchmarks/bench_market_scale.py --symbols 1000 --years 5 --profile

The machine's load average is printed before and after. No test asserts on these numbers.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[2]
SESSIONS_PER_YEAR = 250
START = date(2015, 1, 5)
PARAMS = {"lookback": 60, "top_n": 50, "rebalance": 20}


def symbols(count: int) -> list[str]:
    """Codes across the boards: main (60/00), ChiNext (300), STAR (688), in turn."""
    prefixes = [(600000, "SH"), (1, "SZ"), (300000, "SZ"), (688000, "SH")]
    return [f"{prefixes[i % 4][0] + i // 4:06d}.{prefixes[i % 4][1]}" for i in range(count)]


def synthetic_bars(count: int, sessions: int) -> pl.DataFrame:
    """GBM bars of `count` symbols in one vectorised draw (quant.synthetic's model, all symbols at once)."""
    from quant.synthetic import business_days

    rng = np.random.default_rng(19)
    sigma, mu, price = 0.30, 0.06, 20.0
    shocks = rng.normal((mu - sigma**2 / 2) / 252, sigma / np.sqrt(252), (count, sessions))
    close = np.round(price * np.exp(np.cumsum(shocks, axis=1)), 2).clip(0.5)
    prev = np.concatenate([np.full((count, 1), price), close[:, :-1]], axis=1)
    open_ = np.round(prev * np.exp(rng.normal(0, sigma / np.sqrt(252) / 3, (count, sessions))), 2)
    spread = np.abs(rng.normal(0, sigma / np.sqrt(252) / 2, (count, sessions)))
    days = business_days(START, sessions).astype("datetime64[D]")
    frame = pl.DataFrame(
        {
            "symbol": np.repeat(np.array(symbols(count)), sessions),
            "date": np.tile(days, count),
            "open": open_.ravel(),
            "high": np.round(np.maximum(open_, close) * (1 + spread), 2).ravel(),
            "low": np.round(np.minimum(open_, close) * (1 - spread), 2).ravel(),
            "close": close.ravel(),
            "volume": np.round(rng.lognormal(13.8, 0.4, count * sessions), -2),
            "pre_close": prev.ravel(),
        }
    ).with_columns(pl.col("date").cast(pl.Date))
    return frame.with_columns(pl.col("date").cast(pl.Datetime("us")).dt.offset_by("15h").alias("ts"))


def stored_frame(bars: pl.DataFrame) -> pl.DataFrame:
    """Synthetic bars in the store's schema: amount, ±10% limits from `pre_close`, no adjustment, no flags."""
    from market_data.domain import STORED_SCHEMA

    return bars.with_columns(
        amount=pl.col("close") * pl.col("volume"),
        up_limit=(pl.col("pre_close") * 1.1).round(2),
        down_limit=(pl.col("pre_close") * 0.9).round(2),
        adj_factor=pl.lit(1.0),
        suspended=pl.lit(False),
        is_st=pl.lit(False),
    ).select(list(STORED_SCHEMA))


def write_store(bars: pl.DataFrame, root: Path) -> list[str]:
    """The bars as the market_data store holds them: one Parquet partition per symbol (stored schema)."""
    from market_data.store import BarStore

    store = BarStore(root)
    stored = stored_frame(bars)
    return [store.write("1d", key[0], part).path for key, part in stored.partition_by("symbol", as_dict=True).items()]


def child_engine(path: str, profile: bool) -> dict:
    from quant import EngineConfig, run_backtest

    bars = pl.read_parquet(path)
    config = EngineConfig(preset="a-share", initial_cash=100_000_000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    result = run_backtest("momentum_rotation", bars, PARAMS, config)
    if profiler is not None:
        profiler.disable()
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {
        "rows": bars.height,
        "wall_s": wall,
        "peak_mb": peak / 1024,
        "input_mb": before / 1024,
        "trades": result.trades.height,
        "final_equity": result.metrics["final_equity"],
    }
    if profiler is not None:
        out["profile"] = _top(profiler)
    return out


def child_read(root: str, paths: list[str], end: str) -> dict:
    from market_data.domain import adjust_bars
    from market_data.store import BarStore

    store, last = BarStore(Path(root)), date.fromisoformat(end)
    timings = []
    for _ in range(2):  # cold (first read of the files in this process), then warm
        started = time.perf_counter()
        raw = store.read(paths, START, last)
        read = time.perf_counter() - started
        frame = adjust_bars(raw, "qfq", last)
        timings.append((read, time.perf_counter() - started))
        del raw
    (cold_read, cold), (warm_read, warm) = timings
    return {
        "rows": frame.height,
        "cold_s": cold,
        "warm_s": warm,
        "cold_read_s": cold_read,
        "warm_read_s": warm_read,
        "peak_mb": _maxrss_mb(),
    }


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _top(profiler: cProfile.Profile, n: int = 12) -> list[str]:
    stats = pstats.Stats(profiler)
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:n]  # by total (own) time
    lines = []
    for (file, line, name), (_, calls, tottime, cumtime, _) in rows:
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}" if line else file
        lines.append(f"{tottime:7.3f} s own {cumtime:7.3f} s cum {calls:>8} calls  {name}  ({where})")
    return lines


def _spawn(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=5000)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--profile", action="store_true", help="cProfile's top entries of the engine run")
    parser.add_argument("--child", choices=["engine", "read"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--paths", help=argparse.SUPPRESS)
    parser.add_argument("--end", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "engine":
        print(json.dumps(child_engine(args.path, args.profile)))
        return
    if args.child == "read":
        paths = Path(args.paths).read_text(encoding="utf-8").splitlines()
        print(json.dumps(child_read(args.path, paths, args.end)))
        return
    load = os.getloadavg()
    sessions = args.years * SESSIONS_PER_YEAR
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        bars = synthetic_bars(args.symbols, sessions)
        bars_path = Path(tmp) / "bars.parquet"
        bars.write_parquet(bars_path)
        paths = write_store(bars, Path(tmp) / "store")
        (Path(tmp) / "paths.txt").write_text("\n".join(paths), encoding="utf-8")
        end = bars["date"].max().isoformat()
        rows = bars.height
        del bars
        prepared = time.perf_counter() - started
        engine = _spawn("--child", "engine", "--path", str(bars_path), *(["--profile"] if args.profile else []))
        read = _spawn("--child", "read", "--path", str(Path(tmp) / "store"), "--paths", str(Path(tmp) / "paths.txt"),
                      "--end", end)  # fmt: skip
    print(f"momentum_rotation {PARAMS} over {args.symbols} symbols × {sessions} sessions = {rows:,} rows "
          f"(data prepared in {prepared:.1f} s, untimed); load average {load[0]:.2f} → {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores; {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")  # fmt: skip
    print("| measurement | rows | wall s | peak RSS MB | target |")
    print("| --- | ---: | ---: | ---: | --- |")
    print(f"| engine: one portfolio, a-share | {engine['rows']:,} | {engine['wall_s']:.2f} | {engine['peak_mb']:.0f} "
          f"(bars loaded: {engine['input_mb']:.0f}) | ≤ 5 s, ≤ 4,096 MB |")  # fmt: skip
    for kind in ("cold", "warm"):
        peak = f"{read['peak_mb']:.0f}" if kind == "cold" else ""
        print(f"| bar store read + qfq, {kind} (of which the Parquet scan {read[kind + '_read_s']:.2f} s) "
              f"| {read['rows']:,} | {read[kind + '_s']:.2f} | {peak} | ≤ 2 s |")  # fmt: skip
    print(f"({engine['trades']} round trips, final equity {engine['final_equity']:,.0f})")
    if engine.get("profile"):
        print("cProfile, engine run, top entries by own time:")
        print("\n".join(f"    {line}" for line in engine["profile"]))


if __name__ == "__main__":
    main()
