"""Dual moving-average cross.

Long when the fast simple moving average of the close is above the slow one, flat otherwise. With a
universe of several symbols each symbol gets an equal share (1 / number of symbols) while its signal
is on. Sensible ranges: fast 5..50, slow 20..200, fast < slow.
"""

import numpy as np
import polars as pl

from backtest.engine.sdk import Columns, ParamError, frame_targets, param

PARAMS = [
    param("fast", int, default=10, min=2, max=200, step=5, description="fast SMA window (bars)"),
    param("slow", int, default=30, min=3, max=400, step=10, description="slow SMA window (bars)"),
]


def check_params(params: dict) -> None:
    """The fast SMA must be shorter than the slow one (grids skip other combinations)."""
    if params["fast"] >= params["slow"]:
        raise ParamError("fast", "must be smaller than slow")


def generate(bars: pl.DataFrame, params: dict) -> pl.DataFrame:
    """Target weight 1/N while SMA(fast) > SMA(slow)."""
    return frame_targets(bars, generate_arrays(Columns(bars), params))


def generate_grid(bars: pl.DataFrame, param_sets: list) -> list:
    """All combinations at once (see `generate_grid_arrays`)."""
    weights = generate_grid_arrays(Columns(bars), param_sets)
    return [frame_targets(bars, w) for w in weights]


def generate_arrays(cols: Columns, params: dict) -> np.ndarray:
    """One weight per bar row: `cols.share` while SMA(fast) > SMA(slow), else 0."""
    check_params(params)
    with np.errstate(invalid="ignore"):
        on = cols.rolling_mean(params["fast"]) > cols.rolling_mean(params["slow"])
    return on * cols.share


def generate_grid_arrays(cols: Columns, param_sets: list) -> np.ndarray:
    """(combinations × rows): each distinct window is computed once, comparisons broadcast in numpy."""
    for p in param_sets:
        check_params(p)
    windows = sorted({p["fast"] for p in param_sets} | {p["slow"] for p in param_sets})
    means = cols.rolling_means(windows)
    col = {w: i for i, w in enumerate(windows)}
    fast = np.array([col[p["fast"]] for p in param_sets])
    slow = np.array([col[p["slow"]] for p in param_sets])
    with np.errstate(invalid="ignore"):
        on = means[fast] > means[slow]
    return on * cols.share
