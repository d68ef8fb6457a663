"""Event-driven benchmark (`make bench`): `ma_cross_event` (JoinQuant-style, 5/20 SMA cross with an 8%
stop-loss and a trailing take-profit) on deterministic synthetic daily bars (seeded GBM, 2,500 sessions),
a-share preset.

E1 one symbol, E2 50 symbols (one portfolio). For each: the platform's path — the strategy in the confined
runner (a `python -I -B -m strategy_management.sandbox` child: start, confinement, imports, the bars over
the pipe, the strategy stepping the simulator) returning its order stream, then the engine's replay of the
stream outside (no user code) into the full result — and, to show where the time goes, the same strategy in
process (no sandbox), the replay alone, and the runner's start alone (a `describe` of a trivial strategy).
`--profile` adds the top functions of the in-process E2 run (cProfile).

The CPU cells add the runner's CPU during the call and the child's from the request on (a cold child's
start and imports included, a spare's done before the call excluded): less sensitive to the machine's load
than the wall-clock cells. The confined cells come in three kinds, each measured in the same process:
- **cold start**: spares off, the child is started for the request (what a process's first call paid before
  the warm spare, and still pays when its spare was taken by a concurrent call);
- **warm spare**: the process's spare is ready (confined and imported) when the call comes — what an API
  process's strategy saves after its first and a job whose data load outlasts the spare's start see;
- **prestarted**: `prestart()` then the call at once — a job whose data load is instant (the worst case of
  the job path: the call takes a spare still importing).

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
from strategy_management.confined_runner import (
    PROBE_SOURCE,
    RunnerConfig,
    configure_spares,
    execute,
    prestart,
    wait_for_spare,
)

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


def _confined(bars, kind: str) -> tuple[float, object]:
    """One confined run of the strategy on `bars`, its child cold, a ready spare or just prestarted."""
    configure_spares(enabled=kind != "cold start")
    if kind == "warm spare":
        prestart()
        assert wait_for_spare(60) is not None
    elif kind == "prestarted":
        configure_spares(enabled=False)  # no ready spare left over from the last call
        configure_spares(enabled=True)
        prestart()
    config = CONFIG.model_dump(mode="json")
    cpu = time.process_time()
    ms, outcome = timed(lambda: execute("targets", SOURCE, RUNNER, bars=bars, param_sets=[{}], engine_config=config))
    cpu = (time.process_time() - cpu) * 1000
    assert outcome.prestarted == (kind != "cold start")
    return ms, cpu + outcome.cpu_seconds * 1000, outcome


KINDS = ("cold start", "warm spare", "prestarted")


def cells(n: int) -> dict[str, float]:
    bars = universe(n)
    row: dict[str, float] = {}
    outcome = None
    for kind in KINDS:
        confined, cpu, outcome = _confined(bars, kind)
        row[f"confined runner, {kind}"] = confined
        row[f"CPU ms of the call (runner + child), {kind}"] = cpu
    replay, result = timed(lambda: simulate(bars, outcome.frames[0], CONFIG, params={}))
    for kind in KINDS:
        row[f"confined + replay, {kind}"] = row[f"confined runner, {kind}"] + replay
    in_process, direct = timed(lambda: run_backtest("ma_cross_event", bars, {}, CONFIG))
    assert result.orders.equals(direct.orders) and result.equity.equals(direct.equity)
    return {**row, "replay": replay, "in process": in_process, "orders": float(direct.orders.height)}


def start_only(kind: str) -> float:
    configure_spares(enabled=kind != "cold start")
    if kind == "warm spare":
        prestart()
        wait_for_spare(60)
    return timed(lambda: execute("describe", PROBE_SOURCE, RUNNER))[0]


def measure() -> dict[str, dict[str, float]]:
    start_only("cold start")  # the first child pays the page cache for the interpreter and the virtualenv
    starts = {f"ms, {kind}": start_only(kind) for kind in ("cold start", "warm spare")}
    results = {"runner start (describe)": starts, "E1 1 symbol": cells(1), "E2 50 symbols": cells(50)}
    configure_spares(enabled=False)
    return results


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
    print("the product path: API saves after the first and jobs see 'warm spare' (a job whose data load is")
    print("shorter than the spare's start: between 'prestarted' and 'warm spare'); 'cold start' is a first call")
    if "--profile" in sys.argv:
        print(profile())


if __name__ == "__main__":
    main()
