"""One Tushare rate budget per token and endpoint, shared by every process (API, CLI, workers) through Redis.

Tushare counts calls per token and endpoint ("每分钟最多访问该接口N次"), so a per-process token bucket lets
an API sync, a CLI sync and a scheduled sync together exceed it. `RedisRateBudget` keeps a moving window per
(token hash, endpoint) in Redis with the `limits` library (the same storage the login throttle uses): a call
takes a slot or waits until the window has one, and reports the wait (`on_wait`) so a progress bar can show
it. The token itself never reaches Redis (only a sha256 prefix). If Redis cannot be reached, the budget falls
back to this process's token bucket and logs it once: the sync goes on, only the sharing is lost.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger("huice.market_data.rate_budget")

KEY_PREFIX = "huice:market:tushare"
MAX_SLEEP_S = 5.0  # re-check at least this often (another process may have freed nothing, the window moves)

Waited = Callable[[str, float], None]


class RateBudget(Protocol):
    def acquire(self, api_name: str) -> float:
        """Take one call of `api_name`'s budget, waiting as needed; returns the seconds waited."""
        ...


class RedisRateBudget:
    """`calls` per `window_s` seconds per (token, endpoint), counted in Redis across processes."""

    def __init__(
        self,
        redis_url: str,
        token: str,
        *,
        calls: int,
        window_s: int = 60,
        fallback: Callable[[str], float] | None = None,
        on_wait: Waited | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout_s: float = 2.0,
    ) -> None:
        self._redis = Redis.from_url(redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        storage = RedisStorage(
            redis_url, connection_pool=self._redis.connection_pool, key_prefix=KEY_PREFIX, wrap_exceptions=True
        )
        self._limiter = MovingWindowRateLimiter(storage)
        self._item = RateLimitItemPerSecond(max(1, int(calls)), max(1, int(window_s)))
        self._who = hashlib.sha256(token.encode()).hexdigest()[:24]
        self._fallback = fallback
        self._degraded = False
        self.on_wait = on_wait
        self.sleep = sleep

    def close(self) -> None:
        self._redis.close()
        self._redis.connection_pool.disconnect()

    def acquire(self, api_name: str) -> float:
        waited = 0.0
        while True:
            try:
                if self._limiter.hit(self._item, self._who, api_name):
                    return waited
                reset = self._limiter.get_window_stats(self._item, self._who, api_name).reset_time
            except (StorageError, RedisError, OSError) as exc:
                return waited + self._degrade(api_name, exc)
            pause = min(MAX_SLEEP_S, max(0.01, reset - time.time()))
            if self.on_wait is not None:
                self.on_wait(api_name, pause)
            self.sleep(pause)
            waited += pause

    def _degrade(self, api_name: str, exc: BaseException) -> float:
        if not self._degraded:
            log.warning(
                "tushare rate budget: Redis unreachable (%s); this process falls back to its own token bucket",
                type(exc).__name__,
            )
            self._degraded = True
        return self._fallback(api_name) if self._fallback is not None else 0.0
