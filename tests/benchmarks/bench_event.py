"""Event-driven benchmark (`make bench`): `ma_cross_event` (JoinQuant-style, 5/20 SMA cross with an 8%
stop-loss and a trailing take-profit) on deterministic synthetic daily bars (seeded GBM, 2,500 sessions),
a-share preset.

E1 one symbol, E2 50 symbols (one portfolio). For each: the platform's path — the strategy in the confined
runner (a fresh `python -I -B -m strategy_management.sandbox` child: start, confinement, imports, the
bars over the pipe, the strategy stepping the simulator) returning its order stream, then the engine's
replay of the stream outside (no user code) into the full result — and, to show where the time goes, the
same strategy in process (no sandbox), the replay alone, and the runner's start alone (a `describe` of a
trivial strategy). `--profile` adds the top functions of the in-process E2 run (cProfile).

Targets (issue 20): E1 ≤ 0.3 s and E2 ≤ 3 s inside the confined runner, start included. `--runs N` repeats
the bench in N fresh processes and prints the median of each cell with the load average (the machine is
shared: read the columns against each other)."""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import time

from quant import EngineConfig, run_backtest, simulate
from quant.synthetic import SAMPLE_SYMBOLS, gbm_bars
from quant.templates import get_template
from strategy_management.confined_runner import PROBE_SOURCE, RunnerConfig, execute

SESSIONS = 2500
CONFIG = EngineConfig(preset="a-share")
SOURCE = get_template("ma_cross_event").source
RUNNER = RunnerConfig(cpu_seconds=60, wall_seconds=120)


def universe(n: int):
    symbols = list(SAMPLE_SYMBOLS) + [f"{600000 + i:06d}.SH" for i in range(n)]
    return gbm_bars(tuple(symbols[:n]), sessions=SESSIONS, seed=3)


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return (time.perf_counter() - start) * 1000, value


def cells(n: int) -> dict[str, float]:
    bars = universe(n)
    confined, outcome = timed(
        lambda: execute(
            "targets", SOURCE, RUNNER, bars=bars, param_sets=[{}], engine_config=CONFIG.model_dump(mode="json")
        )
    )
    replay, result = timed(lambda: simulate(bars, outcome.frames[0], CONFIG, params={}))
    in_process, direct = timed(lambda: run_backtest("ma_cross_event", bars, {}, CONFIG))
    assert result.orders.equals(direct.orders) and result.equity.equals(direct.equity)
    return {
        "confined + replay": confined + replay,
        "confined runner": confined,
        "replay": replay,
        "in process": in_process,
        "orders": float(direct.orders.height),
    }


def start_only() -> float:
    return timed(lambda: execute("describe", PROBE_SOURCE, RUNNER))[0]


def measure() -> dict[str, dict[str, float]]:
    start_only()  # the first child pays the page cache for the interpreter and the virtualenv
    return {"runner start (describe)": {"ms": start_only()}, "E1 1 symbol": cells(1), "E2 50 symbols": cells(50)}


def table(results: dict[str, dict[str, float]]) -> str:
    lines = ["| scenario | cell | value |", "| --- | --- | ---: |"]
    for name, row in results.items():
        lines += [f"| {name} | {cell} | {value:.1f} |" for cell, value in row.items()]
    return "\n".join(lines)


def profile() -> str:
    bars = universe(50)
    prof = cProfile.Profile()
    prof.enable()
    run_backtest("ma_cross_event", bars, {}, CONFIG)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(14)
    return out.getvalue()


def median_of(runs: int) -> None:
    load = os.getloadavg()[0]
    outputs = [
        subprocess.run([sys.executable, __file__, "--json"], check=True, capture_output=True, text=True).stdout
        for _ in range(runs)
    ]
    parsed = [json.loads(o) for o in outputs]
    merged = {name: {c: statistics.median(p[name][c] for p in parsed) for c in row} for name, row in parsed[0].items()}
    print(table(merged))
    print(f"median of {runs}; load {load:.2f} → {os.getloadavg()[0]:.2f}")


def main() -> None:
    if "--runs" in sys.argv:
        median_of(int(sys.argv[sys.argv.index("--runs") + 1]))
        return
    results = measure()
    if "--json" in sys.argv:
        print(json.dumps(results))
        return
    print(table(results))
    print(f"load {os.getloadavg()[0]:.2f}; targets: E1 confined + replay ≤ 300 ms, E2 ≤ 3000 ms")
    if "--profile" in sys.argv:
        print(profile())


if __name__ == "__main__":
    main()
