"""Throttling of sensitive attempts (login, register, reset, verification) in Redis with `limits`.

Each attempt is counted per account and per client address in fixed windows. When a window is full the
attempt is refused with RATE_LIMITED and the `Retry-After` / `X-RateLimit-*` headers.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from limits import parse
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter

from platform_core.errors import RateLimited


def _key(value: str) -> str:
    """Identifiers are hashed: no email or address in Redis keys."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


class Throttle:
    """Counts attempts in Redis; `check()` raises RateLimited once a limit is exhausted."""

    def __init__(self, redis_url: str, redis_client: Any = None) -> None:
        pool = getattr(redis_client, "connection_pool", None)
        self._storage = RedisStorage(redis_url, connection_pool=pool, key_prefix="huice:auth:limits")
        self._limiter = FixedWindowRateLimiter(self._storage)

    def check(self, action: str, limits: list[tuple[str, str | None]]) -> None:
        """Count one attempt of `action` against each `(limit, identity)`; refuse if any is exhausted."""
        for spec, identity in limits:
            if identity is None:
                continue
            item = parse(spec)
            key = _key(identity)
            if not self._limiter.hit(item, action, key):
                stats = self._limiter.get_window_stats(item, action, key)
                reset = math.ceil(stats.reset_time)
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                raise RateLimited(
                    "too many attempts; try again later",
                    details={"retry_after": retry_after},
                    headers={
                        "Retry-After": str(retry_after),
                        "X-RateLimit-Limit": str(item.amount),
                        "X-RateLimit-Remaining": str(stats.remaining),
                        "X-RateLimit-Reset": str(reset),
                    },
                )
