"""Exit-rule benchmark (`make bench`): the a-share engine with and without exit rules (stop_loss 0.08 and
trailing_stop 0.05) on the engine bench's synthetic daily data (seeded GBM, 2,500 sessions) — S1 ma_cross on
one symbol, S3 a 400-combination grid, S4 ma_cross on 300 symbols as one portfolio. Wall time of the median
of 3 calls after a warm-up call in one process, and the number of exit orders (so the rules did fire)."""

from __future__ import annotations

import statistics
import time

from quant import EngineConfig, run_backtest, run_grid
from quant.synthetic import gbm_bars

SESSIONS = 2500  # as bench_engine

EXITS = {"stop_loss": 0.08, "trailing_stop": 0.05}


def timed(fn) -> tuple[float, object]:
    fn()
    walls, out = [], None
    for _ in range(3):
        start = time.perf_counter()
        out = fn()
        walls.append((time.perf_counter() - start) * 1000)
    return statistics.median(walls), out


def exit_orders(result) -> int:
    return int(result.orders["reason"].is_in(["STOP_LOSS", "TRAILING_STOP"]).sum())


def grid_400() -> list[dict]:
    return [{"fast": f, "slow": s} for f in range(2, 42) for s in range(45, 245, 20)]  # bench_engine's S3


def main() -> None:
    one = gbm_bars(["600000.SH"], sessions=SESSIONS, seed=1)
    many = gbm_bars([f"{600000 + i}.SH" for i in range(300)], sessions=SESSIONS, seed=4)
    params = {"fast": 10, "slow": 30}
    rows = []
    for label, exits in (("without exits", {}), ("with exits", EXITS)):
        config = EngineConfig(preset="a-share", **exits)
        s1, r1 = timed(lambda c=config: run_backtest("ma_cross", one, params, c))
        s3, _ = timed(lambda c=config: run_grid("ma_cross", one, grid_400(), c, metrics=["sharpe"]))
        s4, r4 = timed(lambda c=config: run_backtest("ma_cross", many, params, c))
        rows.append((label, s1, s3, s4, exit_orders(r1) + exit_orders(r4)))
    print("| a-share | S1 ms | S3 grid 400 ms | S4 portfolio 300 ms | exit orders (S1 + S4) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, s1, s3, s4, n in rows:
        print(f"| {label} | {s1:.1f} | {s3:.1f} | {s4:.1f} | {n} |")


if __name__ == "__main__":
    main()
