"""Hashes of every `prepare_market` panel and of the engine artifacts on market-like data: a 200-symbol
universe with price limits (data and rule prices), suspensions (flagged, zero-volume, missing rows), ST
periods, corporate actions (adjustment factors that change), IPO-age windows, plus minute bars, each through
both presets, both share modes, every fill mode and limit policy, with and without exit rules, as a
`momentum_rotation` portfolio and `ma_cross` runs (single, independent, grid).

    python tests/quant/market_hashes.py --write FILE     # store the hashes
    python tests/quant/market_hashes.py --check FILE     # compare (exit 1 on any difference)

The companion of `golden_hashes.py` for changes to `quant.market`: a speed change must leave every hash
unchanged on the same machine. Not a test (the hashes depend on numpy's SIMD paths)."""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import polars as pl
from golden_hashes import frame_hash, result_hash, write_or_compare

from quant import EngineConfig, run_backtest, run_grid, run_independent
from quant.market import prepare_market
from quant.synthetic import gbm_bars

PANELS = (
    "ts", "dates", "session", "exec_px", "close", "mark", "suspended", "buy_block", "sell_block", "ca_cash",
    "lot_min", "lot_step", "stamp_buy", "stamp_sell", "transfer_value", "transfer_share", "stop_low",
    "stop_high", "stop_scale", "up_limit", "down_limit", "prev_mark", "volume", "row_t", "row_n",
)  # fmt: skip


def codes(count: int) -> list[str]:
    prefixes = [(600000, "SH"), (1, "SZ"), (300000, "SZ"), (688000, "SH"), (830000, "BJ")]
    return [f"{prefixes[i % 5][0] + i // 5:06d}.{prefixes[i % 5][1]}" for i in range(count)]


def rich(count: int = 200, sessions: int = 500, seed: int = 11, sparse: bool = True) -> pl.DataFrame:
    """Raw daily bars with every a-share feature the market panels read."""
    bars = gbm_bars(codes(count), sessions=sessions, seed=seed, start=__import__("datetime").date(2019, 6, 3))
    rng = np.random.default_rng(seed)
    n = bars.height
    u = rng.random((6, n))
    sym_rank = bars.select(pl.col("symbol").rank("dense"))["symbol"].to_numpy()
    # adjustment factor: a step up at a random ex-date for a third of the symbols
    step_at = rng.integers(10, sessions - 10, count + 1)[sym_rank]
    row_in_sym = bars.select(pl.int_range(pl.len()).over("symbol"))["literal"].to_numpy()
    factor = np.where((sym_rank % 3 == 0) & (row_in_sym >= step_at), 1.25, 1.0)
    factor = np.where((sym_rank % 7 == 0) & (row_in_sym >= step_at // 2), factor * 1.04, factor)
    close = bars["close"].to_numpy()
    up_data = np.round(bars["pre_close"].to_numpy() * 1.1, 2)
    frame = bars.with_columns(
        adj_factor=pl.Series(factor),
        suspended=pl.Series(u[0] < 0.01),
        is_st=pl.Series((sym_rank % 11 == 0) & (row_in_sym > sessions // 3) & (row_in_sym < sessions // 2)),
        volume=pl.Series(np.where(u[1] < 0.005, 0.0, bars["volume"].to_numpy())),
        up_limit=pl.Series(np.where(u[2] < 0.5, up_data, np.nan)).fill_nan(None),
        down_limit=pl.Series(np.where(u[2] < 0.5, np.round(bars["pre_close"].to_numpy() * 0.9, 2), np.nan)).fill_nan(
            None
        ),
        pre_close=pl.Series(np.where(u[3] < 0.2, np.nan, bars["pre_close"].to_numpy())).fill_nan(None),
        # limit-up closes (touch and locked) on ~1% of bars
        close=pl.Series(np.where(u[4] < 0.01, up_data, close)),
        low=pl.Series(np.where(u[4] < 0.003, up_data, bars["low"].to_numpy())),
        high=pl.Series(np.where(u[4] < 0.003, up_data, np.maximum(bars["high"].to_numpy(), close))),
    )
    frame = frame.with_columns(
        raw_open=pl.col("open"), raw_high=pl.col("high"), raw_low=pl.col("low"), raw_close=pl.col("close")
    ).with_columns((pl.col(c) * pl.col("adj_factor")).alias(c) for c in ("open", "high", "low", "close"))
    if sparse:  # missing rows (a symbol listed late, gaps): the non-dense layout
        keep = (u[5] > 0.01) & ~((sym_rank % 13 == 0) & (row_in_sym < 40))
        frame = frame.filter(pl.Series(keep))
    return frame


def minute(count: int = 12, days: int = 30, seed: int = 5) -> pl.DataFrame:
    """Minute-like bars (4 per session, no pre_close) with an ex-date: several bars per session."""
    daily = rich(count, days, seed, sparse=False).drop("pre_close", "up_limit", "down_limit")
    parts = [daily.with_columns(pl.col("ts").dt.offset_by(f"-{k}h")) for k in range(4)]
    return pl.concat(parts).sort("symbol", "ts")


def panels_hash(bars: pl.DataFrame, cfg: EngineConfig) -> str:
    m = prepare_market(bars, cfg)
    digest = hashlib.sha256()
    for name in PANELS:
        value = getattr(m, name)
        digest.update(name.encode())
        if value is None:
            digest.update(b"None")
            continue
        arr = np.asarray(value)
        digest.update(f"{arr.dtype}{arr.shape}".encode())
        digest.update(np.ascontiguousarray(arr).tobytes())
    digest.update(repr(sorted(m.checks.items())).encode())
    digest.update(repr(m.symbols).encode())
    digest.update(m.data_hash.encode())
    digest.update(frame_hash(m.keys).encode())
    return digest.hexdigest()[:16]


def configs():
    for preset in ("a-share", "plain"):
        for shares in ("integer", "fractional"):
            for extra in ({}, {"stop_loss": 0.08, "trailing_stop": 0.12, "take_profit": 0.3}):
                yield f"{preset}/{shares}/{'exits' if extra else 'noexit'}", dict(preset=preset, shares=shares, **extra)


def compute() -> dict[str, str]:
    out: dict[str, str] = {}
    data = {
        "rich200": rich(),
        "dense200": rich(sparse=False),
        "minute": minute(),
        "plain60": gbm_bars(codes(60), sessions=300, seed=3),
    }
    for dname, bars in data.items():
        for key, kw in configs():
            for fill in ("next_open", "next_close", "same_close"):
                for policy in ("touch", "locked"):
                    cfg = EngineConfig(**kw, fill=fill, limit_policy=policy, initial_cash=50_000_000)
                    out[f"{dname}/{key}/{fill}/{policy}/panels"] = panels_hash(bars, cfg)
            cfg = EngineConfig(**kw, initial_cash=50_000_000)
            top = {"lookback": 20, "top_n": 10, "rebalance": 5}
            out[f"{dname}/{key}/momentum_rotation/run"] = result_hash(run_backtest("momentum_rotation", bars, top, cfg))
            if dname != "minute":
                cfg_locked = EngineConfig(**kw, initial_cash=50_000_000, limit_policy="locked", fill="next_close")
                out[f"{dname}/{key}/momentum_rotation/locked"] = result_hash(
                    run_backtest("momentum_rotation", bars, top, cfg_locked)
                )
            if dname in ("rich200", "minute"):
                small = bars.filter(pl.col("symbol").is_in(bars["symbol"].unique().sort().head(12).implode()))
                ind = run_independent("ma_cross", small, {"fast": 5, "slow": 20}, cfg, full=True)
                out[f"{dname}/{key}/ma_cross/independent"] = hashlib.sha256(
                    (frame_hash(ind.summary) + "|".join(result_hash(r) for r in ind.results)).encode()
                ).hexdigest()[:16]
                sets = [{"fast": f, "slow": s} for f in (3, 5) for s in (20, 30)]
                grid = run_grid("ma_cross", small.filter(pl.col("symbol") == small["symbol"][0]), sets, cfg, full=True)
                out[f"{dname}/{key}/ma_cross/grid"] = hashlib.sha256(
                    (frame_hash(grid.summary) + "|".join(result_hash(r) for r in grid.results)).encode()
                ).hexdigest()[:16]
    return out


def main() -> int:
    return write_or_compare(compute(), sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    sys.exit(main())
