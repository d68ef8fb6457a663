"""Engine benchmark (`make bench`): wall time inside the process (first call included, after imports)
and peak traced memory (of a second, traced call) on deterministic synthetic daily data (seeded GBM, 2,500 sessions).

S1 one ma_cross run (10/30) on one symbol; S2 a 90-combination grid (fast 5..50 step 5 × slow 20..200
step 20, fast < slow); S3 a 400-combination grid; S4 ma_cross on 300 symbols as 300 independent runs
and as one portfolio. Each in the `plain` (fractional shares) and the `a-share` preset."""

from __future__ import annotations

import time
import tracemalloc

from backtest.engine import EngineConfig, run_backtest, run_grid, run_independent
from backtest.engine.synthetic import gbm_bars

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


def main() -> None:
    one = gbm_bars(("000001.SZ",), sessions=SESSIONS, seed=1)
    many = gbm_bars([f"{600000 + i:06d}.SH" for i in range(300)], sessions=SESSIONS, seed=2)
    params = {"fast": 10, "slow": 30}
    rows = []
    for preset in ("plain", "a-share"):
        cfg = EngineConfig(preset=preset, shares="fractional", initial_cash=1_000_000)
        cases = {
            "S1 ma_cross 1 symbol": lambda cfg=cfg: run_backtest("ma_cross", one, params, cfg),
            "S2 grid 90": lambda cfg=cfg: run_grid("ma_cross", one, grid_90(), cfg),
            "S3 grid 400": lambda cfg=cfg: run_grid("ma_cross", one, grid_400(), cfg),
            "S4 300 symbols independent": lambda cfg=cfg: run_independent("ma_cross", many, params, cfg),
            "S4 300 symbols portfolio": lambda cfg=cfg: run_backtest("ma_cross", many, params, cfg),
        }
        for name, fn in cases.items():
            wall, peak = measure(fn)
            rows.append((name, preset, wall, peak))
    print("| scenario | preset | wall ms | peak MB |")
    print("| --- | --- | ---: | ---: |")
    for name, preset, wall, peak in rows:
        print(f"| {name} | {preset} | {wall:.1f} | {peak:.1f} |")


if __name__ == "__main__":
    main()
