"""Golden hashes of every engine artifact: each template × preset (a-share, plain) × shares (integer,
fractional) on the synthetic sample universe and the bench's synthetic data, through `run_backtest`,
`run_grid` (summary and full results) and `run_independent`.

    python tests/quant/golden_hashes.py --write FILE     # store the hashes
    python tests/quant/golden_hashes.py --check FILE     # compare (exit 1 on any difference)

A speed change must leave every hash unchanged on the same machine (bit-identical artifacts). The hashes
depend on numpy's SIMD paths, so they are not committed as a test; `tests/quant/test_engine_golden.py`
compares the fast kernels against the general `Simulator` instead, which holds on every platform."""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import polars as pl

from quant import EngineConfig, run_backtest, run_grid, run_independent
from quant.synthetic import gbm_bars, sample_universe

TEMPLATES = {
    "ma_cross": [{"fast": f, "slow": s} for f in (3, 5, 10, 20) for s in (30, 60, 120)],
    "rsi_reversion": [{"window": w, "lower": 30.0, "upper": 70.0} for w in (5, 14, 30)],
    "bollinger_breakout": [{"window": w, "k": k} for w in (10, 20) for k in (1.5, 2.0)],
    "macd": [{"fast": 12, "slow": 26, "signal": 9}, {"fast": 5, "slow": 35, "signal": 5}],
    "momentum_rotation": [{"lookback": 20, "top_n": 2, "rebalance": 10}, {"lookback": 60, "top_n": 3, "rebalance": 20}],
}


def frame_hash(frame: pl.DataFrame) -> str:
    digest = hashlib.sha256()
    for name in frame.columns:
        series = frame[name]
        digest.update(f"{name}:{series.dtype}:{series.null_count()}".encode())
        if series.dtype == pl.Utf8:
            digest.update("\x1f".join(str(v) for v in series.to_list()).encode())
        else:
            digest.update(np.ascontiguousarray(series.to_physical().to_numpy()).tobytes())
    return digest.hexdigest()[:16]


def result_hash(result) -> str:
    parts = [frame_hash(getattr(result, n)) for n in ("equity", "orders", "fills", "trades", "positions")]
    parts.append(json.dumps(result.metrics, sort_keys=True, default=repr))
    parts.append(json.dumps({k: v for k, v in result.manifest.items()}, sort_keys=True, default=str))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def datasets() -> dict[str, pl.DataFrame]:
    return {
        "sample": sample_universe(),
        "bench1": gbm_bars(("000001.SZ",), sessions=2500, seed=1),
        "bench30": gbm_bars([f"{600000 + i:06d}.SH" for i in range(30)], sessions=600, seed=2),
    }


def compute() -> dict[str, str]:
    out: dict[str, str] = {}
    for data_name, bars in datasets().items():
        for preset in ("plain", "a-share"):
            for shares in ("integer", "fractional"):
                cfg = EngineConfig(preset=preset, shares=shares)
                for name, sets in TEMPLATES.items():
                    key = f"{data_name}/{preset}/{shares}/{name}"
                    out[f"{key}/run"] = result_hash(run_backtest(name, bars, sets[0], cfg))
                    grid = run_grid(name, bars, sets, cfg, full=True)
                    out[f"{key}/grid_summary"] = frame_hash(grid.summary)
                    out[f"{key}/grid_full"] = hashlib.sha256(
                        "|".join(result_hash(r) for r in grid.results).encode()
                    ).hexdigest()[:16]
                    if name != "momentum_rotation":
                        ind = run_independent(name, bars, sets[0], cfg, full=True)
                        out[f"{key}/independent_summary"] = frame_hash(ind.summary)
                        out[f"{key}/independent_full"] = hashlib.sha256(
                            "|".join(result_hash(r) for r in ind.results).encode()
                        ).hexdigest()[:16]
    return out


def write_or_compare(hashes: dict[str, str], mode: str, path: str) -> int:
    """`--write PATH`: store `hashes`; `--check PATH`: print every difference from the stored ones (exit 1)."""
    if mode == "--write":
        with open(path, "w") as f:
            json.dump(hashes, f, indent=1, sort_keys=True)
        print(f"wrote {len(hashes)} hashes to {path}")
        return 0
    with open(path) as f:
        stored = json.load(f)
    bad = [k for k in sorted(set(stored) | set(hashes)) if stored.get(k) != hashes.get(k)]
    for k in bad:
        print(f"DIFF {k}: {stored.get(k)} -> {hashes.get(k)}")
    print(f"{len(hashes) - len(bad)}/{len(hashes)} hashes equal")
    return 1 if bad else 0


def main() -> int:
    return write_or_compare(compute(), sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    sys.exit(main())
