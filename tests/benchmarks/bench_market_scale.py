"""Market-scale benchmark (`make bench`, issue 19): `momentum_rotation` (top 50 by 60-session return, monthly:
every 20 sessions) as ONE portfolio over 5,000 synthetic symbols × 10 years of daily bars (≈12.5 M rows,
seeded GBM from `quant.synthetic`) in the engine, `a-share` preset; and reading that universe back from the
market_data bar store with the qfq adjustment, as `get_bars` reads a published snapshot (`--layout packed`,
the default: the daily partitions packed per code prefix, manifest layout 2) or a layout-1 snapshot
(`--layout partitions`: one Parquet partition per symbol); then a read of 1 and of 50 symbols (median of 5).

Each measurement runs in a fresh child process so its peak memory is its own (`resource.getrusage`'s
`ru_maxrss`, which counts polars' native allocations that tracemalloc cannot see): the parent writes the
synthetic bars once to a temporary Parquet file and the store partitions, the child loads them (untimed),
then times the engine run (targets + simulation, end to end) or the store read. Targets: engine ≤ 5 s and
≤ 4 GB peak, read ≤ 2 s. `--profile` prints the top entries of cProfile (by total time) of the engine run.

    uv run python tests/benchmarks/bench_market_scale.py                       # 5,000 × 10 years
    uv run python tests/benchmarks/bench_market_scale.py --symbols 1000 --years 5 --profile
    uv run python tests/benchmarks/bench_market_scale.py --only read --layout partitions   # the store read only

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


def write_store(bars: pl.DataFrame, root: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str, int]]]:
    """The bars as a published snapshot holds them: one Parquet partition per symbol (stored schema) and the
    packs per code prefix (`BarStore.write_pack`, as `snapshots.publish` writes them); `(symbol, path)` of the
    partitions and `(bucket, path, symbols)` of the packs."""
    from market_data.store import BarStore, bucket_of

    store = BarStore(root)
    stored = stored_frame(bars)
    files = sorted(
        (key[0], store.write("1d", key[0], part)) for key, part in stored.partition_by("symbol", as_dict=True).items()
    )
    buckets: dict[str, list[tuple[str, str, str]]] = {}
    for symbol, f in files:
        buckets.setdefault(bucket_of(symbol), []).append((symbol, f.path, f.content_hash))
    started = time.process_time()
    packs = [store.write_pack("1d", bucket, members) for bucket, members in buckets.items()]
    print(f"packing {len(files)} partitions into {len(packs)} packs (what publishing adds): "
          f"{time.process_time() - started:.1f} s CPU")  # fmt: skip
    return [(s, f.path) for s, f in files], [(p.bucket, p.path, p.symbols) for p in packs]


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


def child_read(root: str, layout: dict, end: str, packed: bool) -> dict:
    from market_data.domain import adjust_bars
    from market_data.store import BarStore, PackRef

    store, last = BarStore(Path(root)), date.fromisoformat(end)
    files = [tuple(f) for f in layout["files"]]
    packs = [PackRef(*p) for p in layout["packs"]] if packed else []

    def load(subset: list) -> tuple[float, float, pl.DataFrame, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        raw = store.read_layout(subset, packs, START, last)
        read = time.perf_counter() - wall
        frame = adjust_bars(raw, "qfq", last)
        return read, time.perf_counter() - wall, frame, time.process_time() - cpu

    timings = []
    for _ in range(2):  # cold (first read of the files in this process), then warm
        read, total, frame, cpu = load(files)
        timings.append((read, total, cpu))
    (cold_read, cold, cold_cpu), (warm_read, warm, warm_cpu) = timings
    rows = frame.height
    del frame
    few = {}
    for n in (1, 50):
        subset = files[:: max(1, len(files) // n)][:n]
        few[n] = sorted(load(subset)[1] for _ in range(5))[2]
    return {
        "rows": rows,
        "cold_s": cold,
        "warm_s": warm,
        "cold_read_s": cold_read,
        "warm_read_s": warm_read,
        "cold_cpu_s": cold_cpu,
        "warm_cpu_s": warm_cpu,
        "one_s": few[1],
        "fifty_s": few[50],
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
    parser.add_argument("--only", choices=["engine", "read"], help="run one of the two measurements")
    parser.add_argument(
        "--layout",
        choices=["packed", "partitions", "both"],
        default="packed",
        help="read the packs of a layout-2 snapshot (default), only the per-symbol partitions (layout 1), or "
        "both, alternately (A/B on the same files)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="store reads per layout (medians are printed)")
    parser.add_argument("--child", choices=["engine", "read"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--paths", help=argparse.SUPPRESS)
    parser.add_argument("--end", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "engine":
        print(json.dumps(child_engine(args.path, args.profile)))
        return
    if args.child == "read":
        layout = json.loads(Path(args.paths).read_text(encoding="utf-8"))
        print(json.dumps(child_read(args.path, layout, args.end, args.layout == "packed")))
        return
    load = os.getloadavg()
    sessions = args.years * SESSIONS_PER_YEAR
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        bars = synthetic_bars(args.symbols, sessions)
        bars_path = Path(tmp) / "bars.parquet"
        if args.only != "read":
            bars.write_parquet(bars_path)
        engine, reads = None, {}
        if args.only != "engine":
            files, packs = write_store(bars, Path(tmp) / "store")
            (Path(tmp) / "layout.json").write_text(json.dumps({"files": files, "packs": packs}), encoding="utf-8")
        end = bars["date"].max().isoformat()
        rows = bars.height
        del bars
        prepared = time.perf_counter() - started
        if args.only != "read":
            engine = _spawn("--child", "engine", "--path", str(bars_path), *(["--profile"] if args.profile else []))
        layouts = ["packed", "partitions"] if args.layout == "both" else [args.layout]
        store_args = ["--path", str(Path(tmp) / "store"), "--paths", str(Path(tmp) / "layout.json"), "--end", end]
        for _ in range(args.rounds if args.only != "engine" else 0):
            for layout in layouts:
                reads.setdefault(layout, []).append(_spawn("--child", "read", *store_args, "--layout", layout))
    print(f"momentum_rotation {PARAMS} over {args.symbols} symbols × {sessions} sessions = {rows:,} rows "
          f"(data prepared in {prepared:.1f} s, untimed); load average {load[0]:.2f} → {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores; {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")  # fmt: skip
    print("| measurement | rows | wall s | peak RSS MB | target |")
    print("| --- | ---: | ---: | ---: | --- |")
    if engine is not None:
        print(f"| engine: one portfolio, a-share | {engine['rows']:,} | {engine['wall_s']:.2f} | "
              f"{engine['peak_mb']:.0f} (bars loaded: {engine['input_mb']:.0f}) | ≤ 5 s, ≤ 4,096 MB |")  # fmt: skip
    for layout, runs in reads.items():
        read = {k: float(np.median([r[k] for r in runs])) for k in runs[0]}
        label = f"bar store read + qfq ({layout}{f', median of {len(runs)}' if len(runs) > 1 else ''})"
        for kind in ("cold", "warm"):
            peak = f"{read['peak_mb']:.0f}" if kind == "cold" else ""
            print(f"| {label}, {kind} (of which the Parquet scan {read[kind + '_read_s']:.2f} s; CPU "
                  f"{read[kind + '_cpu_s']:.2f} s) | {read['rows']:,.0f} | {read[kind + '_s']:.2f} | {peak} "
                  f"| ≤ 2 s |")  # fmt: skip
        print(f"| {label}, 1 symbol / 50 symbols (each a median of 5) | | {read['one_s']:.3f} / "
              f"{read['fifty_s']:.3f} | | |")  # fmt: skip
    if engine is not None:
        print(f"({engine['trades']} round trips, final equity {engine['final_equity']:,.0f})")
    if engine is not None and engine.get("profile"):
        print("cProfile, engine run, top entries by own time:")
        print("\n".join(f"    {line}" for line in engine["profile"]))


if __name__ == "__main__":
    main()
