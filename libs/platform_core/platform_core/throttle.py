"""Fixed-window counters in Redis with `limits`, for the throttles that must fail closed (sign-in attempts in
user_auth, public share views in backtest): one short-timeout connection pool per throttle, and one
translation of an unreachable or failing Redis into 503 SERVICE_UNAVAILABLE with `Retry-After` — a throttled
request is refused, never let through uncounted and never a 500."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator

from limits import RateLimitItem
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter
from redis import Redis, RedisError

from platform_core.errors import ServiceUnavailable

UNAVAILABLE_RETRY_AFTER_S = 5


class RedisWindows:
    """A `FixedWindowRateLimiter` on its own Redis pool (socket timeouts `timeout_s`); `close()` releases it."""

    def __init__(self, redis_url: str, *, key_prefix: str, timeout_s: float = 2.0) -> None:
        self.redis = Redis.from_url(redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        storage = RedisStorage(
            redis_url, connection_pool=self.redis.connection_pool, key_prefix=key_prefix, wrap_exceptions=True
        )
        self.limiter = FixedWindowRateLimiter(storage)

    def close(self) -> None:
        self.redis.close()
        self.redis.connection_pool.disconnect()

    def retry_after(self, item: RateLimitItem, *identifiers: str) -> tuple[int, int, int]:
        """(seconds until the full window resets, requests remaining, the reset as unix seconds)."""
        stats = self.limiter.get_window_stats(item, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time())), stats.remaining, math.ceil(stats.reset_time)


def unavailable(message: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        message,
        details={"retry_after": UNAVAILABLE_RETRY_AFTER_S},
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)},
    )


@contextlib.contextmanager
def fail_closed(log: logging.Logger, what: str, message: str) -> Iterator[None]:
    """Redis unreachable or failing inside the block → `unavailable(message)`, logged without identities."""
    try:
        yield
    except (StorageError, RedisError) as exc:
        cause = exc.storage_error if isinstance(exc, StorageError) else exc
        log.warning(f"{what} store unreachable; refusing", extra={"error": type(cause).__name__})
        raise unavailable(message) from None
