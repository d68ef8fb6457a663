"""quant: the pure quant core of huice — the bar contract, the dated A-share rulebook, the strategy model
and SDK, the built-in templates and the vectorised simulator with its metrics.

It imports nothing of the platform (no database, HTTP, CLI or queue), so it can be installed on its own
(`pip install ./libs/quant`) and used in a notebook exactly as `huice backtest local` uses it:

    from quant import EngineConfig, run_backtest
    from quant.synthetic import gbm_bars
    result = run_backtest("ma_cross", gbm_bars(), {"fast": 10, "slow": 30}, EngineConfig(preset="a-share"))

Names are loaded on first use, so `import quant.sdk` (a strategy, the confined runner) does not pull the
simulator. Stored strategy sources import the SDK as `backtest.engine.sdk`; `quant.strategy.load_strategy`
makes that name resolve here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "EngineConfig": "quant.config",
    "BAR_SCHEMA": "quant.contract",
    "INSTRUMENT_SCHEMA": "quant.contract",
    "ContractError": "quant.contract",
    "normalize_bars": "quant.contract",
    "validate_bars": "quant.contract",
    "ENGINE_VERSION": "quant.engine",
    "GridResult": "quant.engine",
    "run_backtest": "quant.engine",
    "simulate": "quant.engine",
    "expand_grid": "quant.grid",
    "grid_sets": "quant.grid",
    "run_grid": "quant.grid",
    "run_grid_targets": "quant.grid",
    "run_independent": "quant.grid",
    "BacktestResult": "quant.results",
    "write_artifacts": "quant.results",
    "RULEBOOK_VERSION": "quant.rulebook",
    "ParamError": "quant.strategy",
    "StrategyError": "quant.strategy",
    "StrategySpec": "quant.strategy",
    "compute_targets": "quant.strategy",
    "compute_targets_grid": "quant.strategy",
    "load_strategy": "quant.strategy",
    "schema_to_json": "quant.strategy",
    "user_error": "quant.strategy",
    "validate_params": "quant.strategy",
    "validate_strategy_params": "quant.strategy",
    "get_template": "quant.templates",
    "list_templates": "quant.templates",
}

__all__ = [
    "BAR_SCHEMA",
    "ENGINE_VERSION",
    "INSTRUMENT_SCHEMA",
    "RULEBOOK_VERSION",
    "BacktestResult",
    "ContractError",
    "EngineConfig",
    "GridResult",
    "ParamError",
    "StrategyError",
    "StrategySpec",
    "compute_targets",
    "compute_targets_grid",
    "expand_grid",
    "get_template",
    "grid_sets",
    "list_templates",
    "load_strategy",
    "normalize_bars",
    "run_backtest",
    "run_grid",
    "run_grid_targets",
    "run_independent",
    "schema_to_json",
    "simulate",
    "user_error",
    "validate_bars",
    "validate_params",
    "validate_strategy_params",
    "write_artifacts",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'quant' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:
    from quant.config import EngineConfig
    from quant.contract import BAR_SCHEMA, INSTRUMENT_SCHEMA, ContractError, normalize_bars, validate_bars
    from quant.engine import ENGINE_VERSION, GridResult, run_backtest, simulate
    from quant.grid import expand_grid, grid_sets, run_grid, run_grid_targets, run_independent
    from quant.results import BacktestResult, write_artifacts
    from quant.rulebook import RULEBOOK_VERSION
    from quant.strategy import (
        ParamError,
        StrategyError,
        StrategySpec,
        compute_targets,
        compute_targets_grid,
        load_strategy,
        schema_to_json,
        user_error,
        validate_params,
        validate_strategy_params,
    )
    from quant.templates import get_template, list_templates
