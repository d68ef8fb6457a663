"""Settings of the backtest context and the bundle (`BacktestEnv`) its services run with.

`wire_backtest` in the composition app builds a `BacktestEnv` once at start-up (settings, the artifact
store, and the envs of the contexts whose services backtest calls) and keeps it in
`container.extras["backtest"]`; faces reach it with `env_of(container)` and hand it to the services.
Nothing is read at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from backtest.artifacts import ArtifactStore, StorageArtifactStore
from backtest.throttle import ShareThrottle
from platform_core.errors import InternalError
from platform_core.settings import HuiceSettings
from platform_core.storage import LocalStorage, Storage

if TYPE_CHECKING:
    from job_orchestration.config import JobsEnv
    from market_data.config import MarketDataEnv
    from strategy_management.config import StrategyEnv
    from user_auth.config import AuthEnv


class BacktestSettings(HuiceSettings):
    """Knobs of backtest runs (`HUICE_BACKTEST_*`)."""

    model_config = SettingsConfigDict(
        env_prefix="HUICE_BACKTEST_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    default_budget_s: int = Field(900, ge=1, description="Wall budget of a run unless `budget_ms` is given.")
    max_attempts: int = Field(3, ge=1, le=10, description="Attempts of a run on infrastructure failures.")
    strategy_timeout_s: float = Field(120.0, gt=0, description="Wall-clock limit of the strategy's code per run.")
    idempotency_ttl_h: int = Field(24, ge=1, description="Hours an Idempotency-Key answers with its first response.")
    share_max_days: int = Field(30, ge=1, le=365, description="Longest lifetime of a share link (`expires_in`).")
    share_base_url: str = Field(
        "http://127.0.0.1:8000", description="Base URL of share links (`<base>/s/<token>`), the API's public address."
    )
    share_token_limit: str = Field("120/minute", description="Views of one share link (report or data).")
    share_address_limit: str = Field("300/minute", description="Views of share links from one client address.")
    share_throttle_timeout_s: float = Field(
        2.0, gt=0, description="Seconds the share-view throttle waits for Redis; unreachable = 503."
    )


@dataclass
class BacktestEnv:
    """What backtest's services need beyond the session: settings, the artifact store, and the envs of the
    contexts it calls (market data's store, the strategy runner's limits, the job runtime, and user_auth's
    plans for counting runs against the monthly quota)."""

    settings: BacktestSettings
    store: ArtifactStore
    market: MarketDataEnv
    strategies: StrategyEnv
    jobs: JobsEnv
    auth: AuthEnv
    throttle: ShareThrottle | None = None


def build_env(
    data_dir: Path,
    *,
    market: MarketDataEnv,
    strategies: StrategyEnv,
    jobs: JobsEnv,
    auth: AuthEnv,
    redis_url: str | None = None,
    settings: BacktestSettings | None = None,
    storage: Storage | None = None,
) -> BacktestEnv:
    """The env of backtest's services; the artifacts under `artifacts/` of `storage` (default: the local
    `data_dir`); with `redis_url`, the share views' throttle (its own pool: `env.throttle.close()` releases
    it)."""
    settings = settings or BacktestSettings()
    throttle = ShareThrottle(redis_url, timeout_s=settings.share_throttle_timeout_s) if redis_url else None
    return BacktestEnv(
        settings=settings,
        store=StorageArtifactStore((storage or LocalStorage(Path(data_dir))).child("artifacts")),
        market=market,
        strategies=strategies,
        jobs=jobs,
        throttle=throttle,
        auth=auth,
    )


def env_of(container: Any) -> BacktestEnv:
    """The `BacktestEnv` of a composition root (API, CLI, job or test container)."""
    env = container.extras.get("backtest")
    if not isinstance(env, BacktestEnv):
        raise InternalError("backtest is not wired into this container")
    return env
