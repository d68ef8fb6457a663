"""Event-driven benchmark (`make bench`): `ma_cross_event` (JoinQuant-style, 5/20 SMA cross with an 8%
stop-loss and a trailing take-profit) on deterministic synthetic daily bars (seeded GBM, 2,500 sessions),
a-share preset.

E1 one symbol, E2 50 symbols (one portfolio). For each: the platform's path — the strategy in the confined
runner (a `python -I -B -m strategy_management.sandbox` child: start, confinement, imports, the bars over
the pipe, the strategy stepping the simulator) returning its order stream, then the engine's replay of the
stream outside (no user code) into the full result — and, to show where the time goes, the same strategy in
process (no sandbox), the replay alone, and the runner's start alone (a `describe` of a trivial strategy).
`--profile` adds the top functions of the in-process E2 run (cProfile).

The CPU cells add the runner's CPU during the call and the child's (from its fork or start on): less
sensitive to the machine's load than the wall-clock cells. The confined cells come in four kinds:
- **exec**: no zygote and no spare, a `python -I -B -m strategy_management.sandbox` child is started for the
  request (the cold path before the zygote; still the fallback when the zygote cannot start);
- **first call**: the process has no zygote yet: the call starts it, then forks its child from it;
- **warm**: the process's zygote is ready (a served API process, which starts it at start-up);
- **forked caller**: a process that started its zygote and ran no polars work (like `huice worker-process`)
  forks a work-horse, which builds its bars and calls through its parent's zygote (the job path).

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
    configure_zygote,
    execute,
    wait_for_zygote,
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


def _confined(bars, kind: str) -> tuple[float, float, object]:
    """One confined run of the strategy on `bars` by this process: `exec` (no zygote, no spare: a child
    started for the request, the path before the zygote), `first call` (the zygote is started by the call)
    or `warm` (the zygote is ready)."""
    configure_spares(enabled=False)
    configure_zygote(enabled=False)
    if kind != "exec":
        configure_zygote(enabled=True)
    if kind == "warm":
        assert wait_for_zygote(60)
    return _call(bars)


def _call(bars) -> tuple[float, float, object]:
    config = CONFIG.model_dump(mode="json")
    cpu = time.process_time()
    ms, outcome = timed(lambda: execute("targets", SOURCE, RUNNER, bars=bars, param_sets=[{}], engine_config=config))
    cpu = (time.process_time() - cpu) * 1000
    return ms, cpu + outcome.cpu_seconds * 1000, outcome


def forked_caller(n: int) -> tuple[float, float]:
    """The job path: a parent that started its zygote and ran no polars work (like `huice worker-process`)
    forks a work-horse, which builds its bars and makes the call through its parent's zygote."""
    assert wait_for_zygote(60)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        bars = universe(n)
        ms, cpu, _ = _call(bars)
        os.write(write, json.dumps([ms, cpu]).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        ms, cpu = json.loads(answer.read())
    os.waitpid(pid, 0)
    return ms, cpu


KINDS = ("exec", "first call", "warm")


def cells(n: int, forked: tuple[float, float]) -> dict[str, float]:
    bars = universe(n)
    row: dict[str, float] = {}
    outcome = None
    for kind in KINDS:
        confined, cpu, outcome = _confined(bars, kind)
        row[f"confined runner, {kind}"] = confined
        row[f"CPU ms of the call (runner + child), {kind}"] = cpu
    row["confined runner, forked caller"], row["CPU ms of the call (runner + child), forked caller"] = forked
    replay, result = timed(lambda: simulate(bars, outcome.frames[0], CONFIG, params={}))
    for kind in (*KINDS, "forked caller"):
        row[f"confined + replay, {kind}"] = row[f"confined runner, {kind}"] + replay
    in_process, direct = timed(lambda: run_backtest("ma_cross_event", bars, {}, CONFIG))
    assert result.orders.equals(direct.orders) and result.equity.equals(direct.equity)
    return {**row, "replay": replay, "in process": in_process, "orders": float(direct.orders.height)}


def start_only(kind: str) -> float:
    configure_spares(enabled=False)
    configure_zygote(enabled=kind != "exec")
    if kind == "warm":
        wait_for_zygote(60)
    return timed(lambda: execute("describe", PROBE_SOURCE, RUNNER))[0]


def measure() -> dict[str, dict[str, float]]:
    # the forked callers first, while this process has run no polars work (a forked process's first polars
    # call would wait for a thread pool that did not survive fork)
    forked = {n: forked_caller(n) for n in (1, 50)}
    start_only("exec")  # the first child pays the page cache for the interpreter and the virtualenv
    starts = {f"ms, {kind}": start_only(kind) for kind in ("exec", "warm")}
    results = {
        "runner start (describe)": starts,
        "E1 1 symbol": cells(1, forked[1]),
        "E2 50 symbols": cells(50, forked[50]),
    }
    configure_zygote(enabled=False)
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
    print("the product path: a served API and the worker start their zygote at start-up, so API calls see 'warm'")
    print("and jobs 'forked caller'; 'first call' is a process's first call without it; 'exec' is the old cold path")
    if "--profile" in sys.argv:
        print(profile())


if __name__ == "__main__":
    main()
