"""Selection benchmark (issue 19): the cost of ranking within a point-in-time universe. Times the strategy step
of `momentum_rotation` (top 50 by 60-session return, every 20 sessions; `quant.strategy.compute_targets`,
no simulation) over N synthetic symbols × S sessions in three shapes of input:

- `list`: contract bars without `in_universe` (an explicit list: every row a member);
- `service`: contract bars carrying `in_universe` (80 % members), as a backtest of a selection gives them;
- `given`: the caller's raw frame carries `in_universe` in another row order (`quant.run_backtest` on a
  local frame), so the engine re-aligns it with the normalised bars.

    uv run python tests/benchmarks/bench_selection.py                      # 1,000 × 2,500 (2.5 M rows)
    uv run python tests/benchmarks/bench_selection.py --symbols 5000 --reps 3

Medians of CPU time (all threads) and wall time; the machine's load average is printed. No test asserts on
these numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import polars as pl
from bench_market_scale import PARAMS, synthetic_bars  # this directory is on sys.path as a script

from quant.contract import normalize_bars
from quant.strategy import compute_targets
from quant.templates import load_template


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=2500)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    raw = synthetic_bars(args.symbols, args.sessions)
    bars = normalize_bars(raw)
    rng = np.random.default_rng(1)
    flagged = bars.with_columns(in_universe=pl.Series(rng.random(bars.height) < 0.8))
    given = raw.with_columns(in_universe=pl.Series(rng.random(raw.height) < 0.8))
    spec = load_template("momentum_rotation")
    print(f"load average before: {os.getloadavg()}; {bars.height:,} rows")
    for label, frame, source in (("list", bars, None), ("service", flagged, None), ("given", bars, given)):
        cpu, wall = [], []
        for _ in range(args.reps):
            c0, w0 = time.process_time(), time.perf_counter()
            compute_targets(spec, frame, PARAMS, given=source)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
        cpu_s, wall_s = statistics.median(cpu), statistics.median(wall)
        print(f"{label:>8}: cpu {cpu_s:.3f} s, wall {wall_s:.3f} s (median of {args.reps})")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
