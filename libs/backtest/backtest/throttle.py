"""Rate limits of the public share views, per token and per client address, in Redis with `limits`.

The same mechanism as user_auth's sign-in throttle: fixed windows counted in Redis (shared by every API
process), identities hashed in the keys, and it fails closed — while Redis is unreachable a share view is
refused with 503 SERVICE_UNAVAILABLE and `Retry-After`, never served uncounted.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from limits import parse
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter
from redis import Redis, RedisError

from platform_core.errors import RateLimited, ServiceUnavailable

log = logging.getLogger(__name__)

KEY_PREFIX = "huice:backtest:limits"
UNAVAILABLE_RETRY_AFTER_S = 5


def _key(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class ShareThrottle:
    """Counts share views; `check()` raises RateLimited once a window is full, ServiceUnavailable when
    Redis cannot be reached. It owns its connection pool (short timeouts): `close()` releases it."""

    def __init__(self, redis_url: str, *, timeout_s: float = 2.0) -> None:
        self._redis = Redis.from_url(redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._storage = RedisStorage(
            redis_url, connection_pool=self._redis.connection_pool, key_prefix=KEY_PREFIX, wrap_exceptions=True
        )
        self._limiter = FixedWindowRateLimiter(self._storage)

    def close(self) -> None:
        self._redis.close()
        self._redis.connection_pool.disconnect()

    def check(self, action: str, limits: list[tuple[str, str | None]]) -> None:
        """Count one view against each `(limit, identity)` (None = not applicable); refuse if one is full."""
        try:
            for spec, identity in limits:
                if identity is None:
                    continue
                item = parse(spec)
                if not self._limiter.hit(item, action, _key(identity)):
                    stats = self._limiter.get_window_stats(item, action, _key(identity))
                    retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                    raise RateLimited(
                        "too many views of shared links; try again later",
                        details={"retry_after": retry_after},
                        headers={"Retry-After": str(retry_after), "X-RateLimit-Limit": str(item.amount)},
                    )
        except (StorageError, RedisError) as exc:
            cause = exc.storage_error if isinstance(exc, StorageError) else exc
            log.warning("share throttle store unreachable; refusing the view", extra={"error": type(cause).__name__})
            raise ServiceUnavailable(
                "shared links are temporarily unavailable; try again shortly",
                details={"retry_after": UNAVAILABLE_RETRY_AFTER_S},
                headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)},
            ) from None
