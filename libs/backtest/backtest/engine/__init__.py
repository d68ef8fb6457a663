"""The backtest engine: a pure library (no database, no HTTP). Bars in (the bar-frame contract),
strategy targets computed by user or template source, an A-share execution simulator with a dated
rulebook, results out (curves, orders with reasons, fills, metrics and a reproducibility manifest)."""

from backtest.engine.config import EngineConfig
from backtest.engine.contract import BAR_SCHEMA, INSTRUMENT_SCHEMA, ContractError, normalize_bars, validate_bars
from backtest.engine.engine import ENGINE_VERSION, GridResult, run_backtest, simulate
from backtest.engine.grid import expand_grid, grid_sets, run_grid, run_independent
from backtest.engine.results import BacktestResult, write_artifacts
from backtest.engine.rulebook import RULEBOOK_VERSION
from backtest.engine.strategy import (
    ParamError,
    StrategyError,
    StrategySpec,
    compute_targets,
    compute_targets_grid,
    load_strategy,
    schema_to_json,
    validate_params,
    validate_strategy_params,
)
from backtest.engine.templates import get_template, list_templates

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
    "run_independent",
    "schema_to_json",
    "simulate",
    "validate_bars",
    "validate_params",
    "validate_strategy_params",
    "write_artifacts",
]
