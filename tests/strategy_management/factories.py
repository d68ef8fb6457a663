"""Sources and helpers shared by the strategy_management tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from strategy_management import service
from strategy_management.config import StrategyEnv
from strategy_management.confined_runner import MiB, RunnerConfig
from strategy_management.schemas import StrategyCreate, StrategyRead
from user_auth.principal import Principal

TEST_LIMITS = RunnerConfig(cpu_seconds=2.0, wall_seconds=10.0, memory_bytes=512 * MiB)

SIMPLE = '''"""Hold everything while the close is above its moving average."""

import polars as pl

from quant.sdk import param, sma

PARAMS = [
    param("window", int, default=5, min=2, max=50, description="SMA window"),
]


def generate(bars: pl.DataFrame, params: dict) -> pl.DataFrame:
    on = (pl.col("close") > sma(params["window"])).fill_null(False)
    return bars.select("ts", "symbol", on.cast(pl.Float64).alias("weight"))
'''


def create(
    session: Session,
    env: StrategyEnv,
    principal: Principal,
    name: str = "trend",
    source: str = SIMPLE,
    **kwargs: Any,
) -> StrategyRead:
    return service.create_strategy(session, env, principal, StrategyCreate(name=name, source=source, **kwargs))
