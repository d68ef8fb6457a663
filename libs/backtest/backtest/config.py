"""Settings and per-process wiring of the backtest context: run budgets, the artifact store.

`wire_backtest` in the composition app builds a `BacktestEnv` once at start-up, stores it in
`container.extras["backtest"]` and calls `configure()`; services find it through `current()`.
Nothing is read at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from backtest.artifacts import ArtifactStore, LocalArtifactStore
from platform_core.errors import InternalError
from platform_core.settings import HuiceSettings


class BacktestSettings(HuiceSettings):
    """Knobs of backtest runs (`HUICE_BACKTEST_*`)."""

    model_config = SettingsConfigDict(
        env_prefix="HUICE_BACKTEST_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    default_budget_s: int = Field(900, ge=1, description="Wall budget of a run unless `budget_ms` is given.")
    max_attempts: int = Field(3, ge=1, le=10, description="Attempts of a run on infrastructure failures.")
    strategy_timeout_s: float = Field(120.0, gt=0, description="Wall-clock limit of the strategy's code per run.")
    idempotency_ttl_h: int = Field(24, ge=1, description="Hours an Idempotency-Key answers with its first response.")


@dataclass
class BacktestEnv:
    settings: BacktestSettings
    store: ArtifactStore


_current: BacktestEnv | None = None


def build_env(data_dir: Path, settings: BacktestSettings | None = None) -> BacktestEnv:
    return BacktestEnv(settings=settings or BacktestSettings(), store=LocalArtifactStore(Path(data_dir) / "artifacts"))


def configure(env: BacktestEnv | None) -> None:
    global _current
    _current = env


def current() -> BacktestEnv:
    """The wired env (set by `wire_backtest`), else the worker runtime's `extras["backtest"]`."""
    if _current is not None:
        return _current
    try:
        from platform_core.runtime import runtime

        return runtime().extras["backtest"]
    except (RuntimeError, KeyError):
        raise InternalError("backtest is not wired into this process") from None
