"""A/B of the engine's first call against an older engine, on a busy machine (not run by `make bench`).

    git archive <commit> libs/quant | tar -x -C /tmp/before
    python tests/benchmarks/ab_engine.py --before /tmp/before/libs/quant --runs 3 S1:plain:integer S3:a-share:integer

(`--after DIR`: the other side from a second extracted tree instead of the installed engine.)

Each cell is one fresh process (`--one`: the first call of `run_backtest` / `run_grid` / `run_independent`, as the
shared bench's contender calls them, on `bench_engine.py`'s data), before and after alternated; the table has the
median CPU time (`time.process_time`, every thread) and wall time. CPU time moves much less than wall time when
other processes share the cores. `--one S3 plain integer --profile 30` prints a cProfile (main-thread CPU)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time


def one(scenario: str, preset: str, shares: str, profile: int | None) -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_engine import SESSIONS, grid_90, grid_400

    from quant import EngineConfig, run_backtest, run_grid, run_independent
    from quant.synthetic import gbm_bars

    one_symbol = gbm_bars(("000001.SZ",), sessions=SESSIONS, seed=1)  # also warms polars, as in bench_engine
    many = (
        gbm_bars([f"{600000 + i:06d}.SH" for i in range(300)], sessions=SESSIONS, seed=2) if scenario == "S4" else None
    )
    cfg = EngineConfig(preset=preset, shares=shares, initial_cash=1_000_000)
    params = {"fast": 10, "slow": 30}
    fn = {
        "S1": lambda: run_backtest("ma_cross", one_symbol, params, cfg),
        "S2": lambda: run_grid("ma_cross", one_symbol, grid_90(), cfg),
        "S3": lambda: run_grid("ma_cross", one_symbol, grid_400(), cfg),
        "S4": lambda: run_independent("ma_cross", many, params, cfg),
    }[scenario]
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile(time.thread_time)
        prof.enable()
        fn()
        prof.disable()
        pstats.Stats(prof).sort_stats("cumtime").print_stats(profile)
        return
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    print(f"{1000 * (time.perf_counter() - wall):.3f} {1000 * (time.process_time() - cpu):.3f}")


def main() -> None:
    args = sys.argv[1:]
    if args[0] == "--one":
        profile = int(args[args.index("--profile") + 1]) if "--profile" in args else None
        one(args[1], args[2], args[3], profile)
        return
    before = args[args.index("--before") + 1]
    after = args[args.index("--after") + 1] if "--after" in args else None  # default: the installed engine
    runs = int(args[args.index("--runs") + 1]) if "--runs" in args else 3
    cases = [a.split(":") for a in args if a.count(":") == 2]
    cells: dict[tuple, list[tuple[float, float]]] = {}
    for _ in range(runs):
        for case in cases:
            for side in ("before", "after"):
                env = dict(os.environ)
                if side == "before" or after:
                    env["PYTHONPATH"] = before if side == "before" else after
                out = subprocess.run(
                    [sys.executable, __file__, "--one", *case], env=env, capture_output=True, text=True, check=True
                ).stdout.split()
                cells.setdefault((*case, side), []).append((float(out[0]), float(out[1])))
    print("| scenario | preset | shares | before cpu ms | after cpu ms | before wall | after wall |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for case in cases:
        b, a = cells[(*case, "before")], cells[(*case, "after")]
        med = [statistics.median(x[j] for x in xs) for xs, j in ((b, 1), (a, 1), (b, 0), (a, 0))]
        print(f"| {' | '.join(case)} | " + " | ".join(f"{v:.1f}" for v in med) + " |")
    print(f"median of {runs}; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
