"""Settings of the market_data context and the bundle (`MarketDataEnv`) its services run with.

`MarketDataSettings` reads the Tushare knobs (`HUICE_TUSHARE_*`, the token also as `TUSHARE_TOKEN`).
`MarketDataEnv` = settings + the Parquet bar store under `market/` of the storage (`<data_dir>/market` by
default, an S3 prefix with `HUICE_STORAGE_URL`) + the Redis URL of the shared
Tushare rate budget + the port to the job runtime a sync runs on (`SyncJobs`, provided by the composition
app: market_data never imports job_orchestration); `wire_market_data` in the
composition app builds it once at start-up and keeps it in `container.extras["market_data"]`; faces reach
it with `env_of(container)` and hand it to the services that read the store or the settings. Nothing is
read at import time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import AliasChoices, Field, SecretStr

from market_data.store import BarStore
from platform_core.errors import InternalError
from platform_core.settings import HuiceSettings
from platform_core.storage import LocalStorage, Storage

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from market_data.schemas import SyncJobRead
    from user_auth.principal import Principal


class MarketDataSettings(HuiceSettings):
    """Knobs of the market-data context (`HUICE_` prefix; the token also as plain `TUSHARE_TOKEN`)."""

    tushare_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("HUICE_TUSHARE_TOKEN", "TUSHARE_TOKEN"),
        description="Tushare Pro token; unset = offline sample data only.",
    )
    tushare_url: str = Field("https://api.tushare.pro", description="Base URL of the Tushare Pro HTTP API.")
    tushare_timeout: float = Field(30.0, gt=0, description="Seconds per HTTP request.")
    tushare_rate_per_minute: float = Field(
        200.0, gt=0, description="Calls per minute per token and endpoint, shared by every process through Redis."
    )
    tushare_max_retries: int = Field(4, ge=0, le=10, description="Retries on network errors, 5xx and quota replies.")
    tushare_backoff: float = Field(1.0, ge=0, description="First retry delay in seconds (doubles, with jitter).")
    tushare_quota_wait: float = Field(60.0, ge=0, description="Seconds to wait after a per-minute quota reply.")


class SyncJobs(Protocol):
    """The job runtime as a sync sees it (`market_data.sync` jobs). `principal` None = the operator on the
    server host (the CLI, which runs without a login); reads are not restricted to an owner."""

    def submit(self, session: Session, principal: Principal | None, payload: dict[str, Any]) -> SyncJobRead: ...

    def get(self, session: Session, job_id: uuid.UUID) -> SyncJobRead: ...

    def cancel(self, session: Session, job_id: uuid.UUID) -> SyncJobRead: ...

    def live_workers(self) -> int: ...


@dataclass
class MarketDataEnv:
    """What market data's services need beyond the session: the settings (Tushare knobs), the bar store,
    the shared rate budget's Redis and the job runtime a sync is submitted to."""

    settings: MarketDataSettings
    store: BarStore
    redis_url: str | None = None  # the Tushare rate budget shared across processes; None = per process
    jobs: SyncJobs | None = None  # set by the composition app once the job runtime is wired


def build_env(
    data_dir: Path,
    settings: MarketDataSettings | None = None,
    *,
    redis_url: str | None = None,
    storage: Storage | None = None,
) -> MarketDataEnv:
    """Build the bundle once at start-up (the composition app's `wire_market_data` calls this); the bars live
    under `market/` of `storage` (default: the local `data_dir`)."""
    root = storage if storage is not None else LocalStorage(Path(data_dir))
    return MarketDataEnv(
        settings=settings or MarketDataSettings(), store=BarStore(root.child("market")), redis_url=redis_url
    )


def env_of(container: Any) -> MarketDataEnv:
    """The `MarketDataEnv` of a composition root (API, CLI, job or test container)."""
    env = container.extras.get("market_data")
    if not isinstance(env, MarketDataEnv):
        raise InternalError("market_data is not wired into this container")
    return env
