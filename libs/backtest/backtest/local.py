"""Local runs of the engine: one parameter set or a grid on bars at hand, no database, service or queue.

`huice backtest local` is parse → `run_local` → render, and a sweep over the service will reuse the same
pieces: `parse_grid_axes` (the `--grid` grammar: `fast=5:50:5` or `slow=20,40,60`), `run_local` (the
combinations the strategy accepts, and the ones it skipped with their reasons). Errors of the quant core
become INVALID_INPUT naming the field. This module imports only the quant core and platform errors: the
command's start-up time is the engine's own import time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from platform_core.cli import parse_value
from platform_core.errors import InvalidInput
from quant import (
    BacktestResult,
    ContractError,
    EngineConfig,
    GridResult,
    ParamError,
    StrategyError,
    StrategySpec,
    grid_sets,
    load_strategy,
    normalize_bars,
    run_backtest,
    run_grid,
    user_error,
)


@contextmanager
def _user_errors(spec: StrategySpec | None = None) -> Iterator[None]:
    """The quant core's errors as INVALID_INPUT (a parameter's names its field), and an exception raised by
    the strategy's own code as the user's error with its line (`details.line`), never INTERNAL_ERROR."""
    try:
        yield
    except ParamError as exc:
        raise InvalidInput(str(exc), field=exc.field) from None
    except (StrategyError, ContractError) as exc:
        raise InvalidInput(str(exc)) from None
    except Exception as exc:
        theirs = user_error(exc, spec) if spec is not None else None
        if theirs is None:
            raise
        raise InvalidInput(f"the strategy failed: {theirs}", field="strategy") from None


def parse_grid_axes(items: list[str]) -> dict[str, list]:
    """`k=start:stop:step` (inclusive range) or `k=v1,v2,...` (values typed like `--param`) per axis."""
    axes = {}
    for item in items:
        key, sep, spec = item.partition("=")
        if not sep:
            raise InvalidInput(f"--grid expects k=start:stop:step or k=v1,v2, got {item!r}", field="grid")
        axes[key.strip()] = _axis(spec)
    return axes


def _axis(spec: str) -> list:
    if ":" in spec:
        parts = [float(p) for p in spec.split(":")]
        if len(parts) != 3 or parts[2] <= 0:
            raise InvalidInput(f"range {spec!r} must be start:stop:step", field="grid")
        return range_values(parts[0], parts[1], parts[2])
    return [parse_value(v.strip()) for v in spec.split(",")]


def range_values(start: float, stop: float, step: float) -> list:
    """The inclusive range start, start + step, … ≤ stop (whole numbers as int) — the `--grid a:b:s`
    grammar, shared by the service's `gridSpec` ranges."""
    values = np.arange(start, stop + step / 2, step)
    return [int(v) if float(v).is_integer() else round(float(v), 12) for v in values]


def load_bars(data: Path | None, sample: bool, symbol: str) -> pl.DataFrame:
    """The deterministic sample universe, or bars from a CSV/Parquet file (`symbol` when it has none)."""
    from quant.synthetic import sample_universe

    if sample:
        return sample_universe()
    if data is None:
        raise InvalidInput("give --data FILE.csv|.parquet or --sample", field="data")
    if not data.exists():
        raise InvalidInput(f"{data} does not exist", field="data")
    frame = pl.read_parquet(data) if data.suffix == ".parquet" else pl.read_csv(data, try_parse_dates=True)
    with _user_errors():
        return normalize_bars(frame, default_symbol=symbol)


def load_local_strategy(ref: str) -> StrategySpec:
    """A built-in template by name, or a strategy `.py` file."""
    from quant.templates import TEMPLATE_NAMES, load_template

    if ref in TEMPLATE_NAMES:
        return load_template(ref)
    path = Path(ref)
    if not path.exists():
        raise InvalidInput(f"{ref!r} is neither a template ({', '.join(TEMPLATE_NAMES)}) nor a file", field="strategy")
    with _user_errors():
        return load_strategy(path.read_text(encoding="utf-8"), name=path.stem)


@dataclass(frozen=True)
class LocalResult:
    """One run (`result`) or a grid (`grid`, with the combinations the strategy refused in `skipped`, out
    of `combinations` in all)."""

    strategy: StrategySpec
    result: BacktestResult | None = None
    grid: GridResult | None = None
    param_names: list[str] = field(default_factory=list)
    skipped: list[tuple[dict, ParamError]] = field(default_factory=list)
    combinations: int = 1

    @property
    def rejected(self) -> list[dict]:
        """The skipped combinations as data: params, the refused field and the reason."""
        return [{"params": params, "field": exc.field, "error": exc.message} for params, exc in self.skipped]

    def skipped_note(self) -> str | None:
        """'skipped 45 of 100 combinations: fast: must be smaller than slow (45)', or None."""
        if not self.skipped:
            return None
        reasons: dict[str, int] = {}
        for _, exc in self.skipped:
            reasons[str(exc)] = reasons.get(str(exc), 0) + 1
        listed = "; ".join(f"{reason} ({count})" for reason, count in reasons.items())
        return f"skipped {len(self.skipped)} of {self.combinations} combinations: {listed}"


def run_local(
    strategy: StrategySpec | str,
    bars: pl.DataFrame,
    fixed_params: dict,
    grid_axes: dict[str, list],
    config: EngineConfig,
) -> LocalResult:
    """Run `strategy` (a spec, a template name or a `.py` file) on `bars`: once with `fixed_params`, or, when
    `grid_axes` are given, every combination of the axes over `fixed_params` that the strategy accepts
    (INVALID_INPUT when it accepts none)."""
    spec = load_local_strategy(strategy) if isinstance(strategy, str) else strategy
    with _user_errors(spec):
        if not grid_axes:
            return LocalResult(spec, result=run_backtest(spec, bars, fixed_params, config))
        sets, skipped = grid_sets(spec, grid_axes, fixed_params)
        grid = run_grid(spec, bars, sets, config)
    names = list(sets[0]) if sets else []
    return LocalResult(spec, grid=grid, param_names=names, skipped=skipped, combinations=len(sets) + len(skipped))
