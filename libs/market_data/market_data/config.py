"""Settings and the per-process wiring of the context (the store root, the Tushare knobs).

`wire_market_data` in the composition app builds a `MarketDataRuntime` once at start-up and calls
`configure()`; the published service functions (which take only a session) find the store through
`current()`. Nothing is read at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr

from market_data.store import BarStore
from platform_core.errors import InternalError
from platform_core.settings import HuiceSettings


class MarketDataSettings(HuiceSettings):
    """Knobs of the market-data context (`HUICE_` prefix; the token also as plain `TUSHARE_TOKEN`)."""

    tushare_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("HUICE_TUSHARE_TOKEN", "TUSHARE_TOKEN"),
        description="Tushare Pro token; unset = offline sample data only.",
    )
    tushare_url: str = Field("https://api.tushare.pro", description="Base URL of the Tushare Pro HTTP API.")
    tushare_timeout: float = Field(30.0, gt=0, description="Seconds per HTTP request.")
    tushare_rate_per_minute: float = Field(200.0, gt=0, description="Calls per minute per endpoint (token bucket).")
    tushare_max_retries: int = Field(4, ge=0, le=10, description="Retries on network errors, 5xx and quota replies.")
    tushare_backoff: float = Field(1.0, ge=0, description="First retry delay in seconds (doubles, with jitter).")
    tushare_quota_wait: float = Field(60.0, ge=0, description="Seconds to wait after a per-minute quota reply.")


@dataclass
class MarketDataRuntime:
    settings: MarketDataSettings
    store: BarStore


_current: MarketDataRuntime | None = None


def build_runtime(data_dir: Path, settings: MarketDataSettings | None = None) -> MarketDataRuntime:
    return MarketDataRuntime(settings=settings or MarketDataSettings(), store=BarStore(Path(data_dir) / "market"))


def configure(runtime: MarketDataRuntime | None) -> None:
    global _current
    _current = runtime


def current() -> MarketDataRuntime:
    """The wired runtime (set by `wire_market_data`), else the worker runtime's `extras["market_data"]`."""
    if _current is not None:
        return _current
    try:
        from platform_core.runtime import runtime

        return runtime().extras["market_data"]
    except (RuntimeError, KeyError):
        raise InternalError("market_data is not wired into this process") from None
