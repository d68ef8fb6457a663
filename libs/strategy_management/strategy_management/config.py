"""Settings and the per-process wiring of strategy_management: source limits, runner limits, templates.

`wire_strategy_management` in the composition app builds a `StrategyEnv` once at start-up and calls
`configure()`. Published functions without a container argument (`run_targets`) find it through
`current()`. The built-in templates come from the quant core (`quant.templates`). Nothing is read at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from platform_core.settings import HuiceSettings
from strategy_management.runner import MiB, RunnerConfig


class StrategySettings(HuiceSettings):
    """Knobs of the strategy context (`HUICE_STRATEGY_*`)."""

    strategy_max_source_bytes: int = Field(65_536, ge=1024, description="Largest accepted strategy source.")
    strategy_cpu_seconds: float = Field(30.0, gt=0, description="CPU seconds per confined run.")
    strategy_wall_seconds: float = Field(60.0, gt=0, description="Wall-clock seconds per confined run.")
    strategy_memory_mb: int = Field(2048, ge=256, description="Address-space limit of a confined run (MiB).")
    strategy_open_files: int = Field(64, ge=16, description="Open-file limit of a confined run.")
    strategy_validate_seconds: float = Field(20.0, gt=0, description="Wall-clock limit of save/validate runs.")

    def runner(self) -> RunnerConfig:
        return RunnerConfig(
            cpu_seconds=self.strategy_cpu_seconds,
            wall_seconds=self.strategy_wall_seconds,
            memory_bytes=self.strategy_memory_mb * MiB,
            open_files=self.strategy_open_files,
        )


@dataclass
class StrategyEnv:
    settings: StrategySettings
    runner: RunnerConfig


_current: StrategyEnv | None = None


def build_env(settings: StrategySettings | None = None) -> StrategyEnv:
    settings = settings or StrategySettings()
    return StrategyEnv(settings=settings, runner=settings.runner())


def configure(env: StrategyEnv | None) -> None:
    global _current
    _current = env


def current() -> StrategyEnv:
    """The wired env, else one built from the environment's settings."""
    global _current
    if _current is None:
        _current = build_env()
    return _current
