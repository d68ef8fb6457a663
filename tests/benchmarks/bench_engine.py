"""Engine benchmark (`make bench`): wall time inside the process (first call included, after imports)
and peak traced memory (of a second, traced call) on deterministic synthetic daily data (seeded GBM, 2,500 sessions).

S1 one ma_cross run (10/30) on one symbol; S2 a 90-combination grid (fast 5..50 step 5 × slow 20..200
step 20, fast < slow); S3 a 400-combination grid (also with a summary of only the ranking metric, as a
sweep asks for it: `run_grid(metrics=["sharpe"])`); S4 ma_cross on 300 symbols as 300 independent runs
and as one portfolio. Each in the `plain` preset with integer and with fractional shares, and in the
`a-share` preset (always whole lots).

`--runs N` repeats the whole bench in N fresh processes (so every first call is a real first call) and
prints the median of each cell, with the load average before and after."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import tracemalloc

from quant import EngineConfig, run_backtest, run_grid, run_independent
from quant.synthetic import gbm_bars

SESSIONS = 2500


def grid_90() -> list[dict]:
    return [{"fast": f, "slow": s} for f in range(5, 51, 5) for s in range(20, 201, 20) if f < s]


def grid_400() -> list[dict]:
    return [{"fast": f, "slow": s} for f in range(2, 42) for s in range(45, 245, 20)]


def measure(fn) -> tuple[float, float]:
    """Wall time of the first call; peak traced memory of a second, traced call (tracing slows it)."""
    start = time.perf_counter()
    fn()
    wall = (time.perf_counter() - start) * 1000
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return wall, peak


def table(rows: list[tuple[str, str, float, float]]) -> str:
    lines = ["| scenario | preset | wall ms | peak MB |", "| --- | --- | ---: | ---: |"]
    lines += [f"| {name} | {preset} | {wall:.1f} | {peak:.1f} |" for name, preset, wall, peak in rows]
    return "\n".join(lines)


def median_of(runs: int) -> None:
    """Median of `runs` full benches, each in a fresh process."""
    load = os.getloadavg()[0]
    outputs = [
        subprocess.run([sys.executable, __file__], check=True, capture_output=True, text=True).stdout
        for _ in range(runs)
    ]
    cells = [[line.split("|")[1:5] for line in out.strip().splitlines()[2:]] for out in outputs]
    rows = []
    for parts in zip(*cells, strict=True):
        name, preset = parts[0][0].strip(), parts[0][1].strip()
        rows.append(
            (name, preset, statistics.median(float(p[2]) for p in parts), statistics.median(float(p[3]) for p in parts))
        )
    print(table(rows))
    print(f"\nmedian of {runs} runs; load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")


def main() -> None:
    if "--runs" in sys.argv:
        median_of(int(sys.argv[sys.argv.index("--runs") + 1]))
        return
    one = gbm_bars(("000001.SZ",), sessions=SESSIONS, seed=1)
    many = gbm_bars([f"{600000 + i:06d}.SH" for i in range(300)], sessions=SESSIONS, seed=2)
    params = {"fast": 10, "slow": 30}
    rows = []
    for preset, shares in (("plain", "integer"), ("plain", "fractional"), ("a-share", "integer")):
        cfg = EngineConfig(preset=preset, shares=shares, initial_cash=1_000_000)
        label = preset if preset == "a-share" else f"{preset} {shares}"
        cases = {
            "S1 ma_cross 1 symbol": lambda cfg=cfg: run_backtest("ma_cross", one, params, cfg),
            "S2 grid 90": lambda cfg=cfg: run_grid("ma_cross", one, grid_90(), cfg),
            "S3 grid 400": lambda cfg=cfg: run_grid("ma_cross", one, grid_400(), cfg),
            "S3 grid 400, sharpe only": lambda cfg=cfg: run_grid("ma_cross", one, grid_400(), cfg, metrics=["sharpe"]),
            "S4 300 symbols independent": lambda cfg=cfg: run_independent("ma_cross", many, params, cfg),
            "S4 300 symbols portfolio": lambda cfg=cfg: run_backtest("ma_cross", many, params, cfg),
        }
        for name, fn in cases.items():
            wall, peak = measure(fn)
            rows.append((name, label, wall, peak))
    print(table(rows))


if __name__ == "__main__":
    main()
