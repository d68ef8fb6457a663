"""Settings of strategy_management and the bundle (`StrategyEnv`) its services run with.

`StrategySettings` reads `HUICE_STRATEGY_*` variables (source size limit, the confined runner's limits).
`StrategyEnv` = the settings + the runner's limits + the admission of interactive runs; the composition
app's `wire_strategy_management` builds it once at start-up and keeps it in
`container.extras["strategy_management"]`; faces reach it with `env_of(container)` and hand it to the
services, and backtest receives it inside its own `BacktestEnv`.
The built-in templates come from the quant core (`quant.templates`). Nothing is read at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field, model_validator
from redis import Redis

from platform_core.errors import InternalError
from platform_core.settings import HuiceSettings
from strategy_management.admission import RunAdmission
from strategy_management.confined_runner import MiB, RunnerConfig


class StrategySettings(HuiceSettings):
    """Knobs of the strategy context (`HUICE_STRATEGY_*`)."""

    strategy_max_source_bytes: int = Field(65_536, ge=1024, description="Largest accepted strategy source.")
    strategy_cpu_seconds: float = Field(30.0, gt=0, description="CPU seconds per confined run.")
    strategy_wall_seconds: float = Field(60.0, gt=0, description="Wall-clock seconds per confined run.")
    strategy_memory_mb: int = Field(2048, ge=256, description="Address-space limit of a confined run (MiB).")
    strategy_open_files: int = Field(64, ge=16, description="Open-file limit of a confined run.")
    strategy_validate_seconds: float = Field(20.0, gt=0, description="Wall-clock limit of save/validate runs.")
    strategy_max_runs: int = Field(
        4, ge=1, description="Confined runs at once per API process (saves, validations, dry runs); 429 beyond."
    )
    strategy_max_runs_per_user: int = Field(
        2, ge=1, description="Confined runs at once per user across API processes (counted in Redis); 429 beyond."
    )
    strategy_runs_memory_mb: int = Field(
        8192,
        ge=256,
        description="Sum of the address-space limits of the confined runs at once per API process (MiB); 429 beyond.",
    )
    strategy_runs_retry_after_seconds: int = Field(
        2, ge=1, description="`Retry-After` of a run refused by the limits above."
    )

    @model_validator(mode="after")
    def _budget_holds_one_run(self) -> StrategySettings:
        if self.strategy_runs_memory_mb < self.strategy_memory_mb:
            raise ValueError("HUICE_STRATEGY_RUNS_MEMORY_MB must be at least HUICE_STRATEGY_MEMORY_MB")
        return self

    def runner(self) -> RunnerConfig:
        return RunnerConfig(
            cpu_seconds=self.strategy_cpu_seconds,
            wall_seconds=self.strategy_wall_seconds,
            memory_bytes=self.strategy_memory_mb * MiB,
            open_files=self.strategy_open_files,
        )


@dataclass
class StrategyEnv:
    """What strategy_management's services need beyond the session: the settings, the runner's limits and
    the admission of interactive runs (`strategy_management.admission`)."""

    settings: StrategySettings
    runner: RunnerConfig
    admission: RunAdmission


def build_env(settings: StrategySettings | None = None, redis: Redis | None = None) -> StrategyEnv:
    """Build the bundle once at start-up (the composition app's `wire_strategy_management` calls this with
    a Redis client for the per-user run count; without one it is counted per process)."""
    settings = settings or StrategySettings()
    admission = RunAdmission(
        max_runs=settings.strategy_max_runs,
        max_runs_per_user=settings.strategy_max_runs_per_user,
        memory_budget_bytes=settings.strategy_runs_memory_mb * MiB,
        retry_after_s=settings.strategy_runs_retry_after_seconds,
        redis=redis,
    )
    return StrategyEnv(settings=settings, runner=settings.runner(), admission=admission)


def env_of(container: Any) -> StrategyEnv:
    """The `StrategyEnv` of a composition root (API, CLI, job or test container)."""
    env = container.extras.get("strategy_management")
    if not isinstance(env, StrategyEnv):
        raise InternalError("strategy_management is not wired into this container")
    return env
