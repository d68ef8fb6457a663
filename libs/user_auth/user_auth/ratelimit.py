"""Rate limits of every API route, in Redis with `limits` (fixed windows shared by every API process).

A request is counted against the limit of its route class (read, write, submit, download) for the caller's
plan — per principal: a user's session and each of their API keys are separate identities — or, on routes
without a caller, against the anonymous limit per client address. A spec may hold several limits
("20/second;1200/minute"); the window closest to exhaustion is the one reported in `X-RateLimit-*`.

The limiter fails open: when its Redis is unreachable (or slower than `HUICE_AUTH_RATE_TIMEOUT_SECONDS`)
the request goes through without headers, the outage is logged, and Redis is not asked again for
`RETRY_STORE_AFTER_S` seconds — never a 500, never a request stalled on a dead store. This holds for
writes and submissions too: they stay bounded by the plan's quotas in PostgreSQL, and sign-in attempts by
the login throttle, which fails closed (`user_auth.throttle`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import RedisStorage
from redis import Redis, RedisError

from platform_core.errors import RateLimited

log = logging.getLogger(__name__)

KEY_PREFIX = "huice:rate"
RETRY_STORE_AFTER_S = 5.0


@dataclass(frozen=True)
class Window:
    """One limit's current window: its size, what is left, when it resets (epoch seconds)."""

    spec: str
    limit: int
    remaining: int
    reset: int
    period_s: int

    @property
    def used_fraction(self) -> float:
        return 1.0 if self.limit <= 0 else 1 - self.remaining / self.limit


@dataclass(frozen=True)
class Decision:
    """The outcome of counting one request: allowed or not, and the window to report."""

    allowed: bool
    route_class: str
    window: Window

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.window.limit),
            "X-RateLimit-Remaining": str(self.window.remaining),
            "X-RateLimit-Reset": str(self.window.reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers

    @property
    def retry_after(self) -> int:
        return min(self.window.period_s, max(1, math.ceil(self.window.reset - time.time())))

    def refusal(self) -> RateLimited:
        return RateLimited(
            f"rate limit of {self.route_class} requests exceeded; retry in {self.retry_after} s",
            details={
                "limit": self.window.spec,
                "route_class": self.route_class,
                "retry_after": self.retry_after,
            },
            headers=self.headers(),
        )


# KEYS: one fixed-window counter per limit of the spec, in order; ARGV: (expiry s, amount) per limit.
# Each counter is incremented (its expiry set when the window starts) and answered as (count, ttl); a
# limit found exhausted stops the count there, as `FixedWindowRateLimiter.hit` limit by limit did.
_COUNT_WINDOWS = """
local out = {}
for i, key in ipairs(KEYS) do
    local current = redis.call("incrby", key, 1)
    if current == 1 then
        redis.call("expire", key, ARGV[2 * i - 1])
    end
    out[#out + 1] = current
    out[#out + 1] = redis.call("ttl", key)
    if current > tonumber(ARGV[2 * i]) then
        break
    end
end
return out
"""


@functools.lru_cache(maxsize=64)
def _parsed(spec: str) -> tuple[RateLimitItem, ...]:
    """A spec's limits, parsed once (a handful of specs, one per plan and route class; every request counts)."""
    return tuple(parse_many(spec))


def _key(identity: str) -> str:
    """Identities are hashed: no user id, key id or address in Redis keys."""
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


class RateLimiter:
    """Counts requests per (route class, identity) in Redis. `close()` releases its connection pool."""

    def __init__(self, redis_url: str, *, timeout_s: float = 0.25) -> None:
        self._redis = Redis.from_url(redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._storage = RedisStorage(
            redis_url, connection_pool=self._redis.connection_pool, key_prefix=KEY_PREFIX, wrap_exceptions=True
        )
        # limits' fixed windows (the same keys, `FixedWindowRateLimiter` semantics), every limit of a spec
        # counted and read in ONE round trip: its hit + get + ttl per limit were three each
        self._count = self._redis.register_script(_COUNT_WINDOWS)
        self._down_until = 0.0
        self._lock = threading.Lock()

    def close(self) -> None:
        self._redis.close()
        self._redis.connection_pool.disconnect()

    def hit(self, route_class: str, identity: str, spec: str) -> Decision | None:
        """Count one request; the decision, or None when the store is unreachable (fail open, logged)."""
        if time.monotonic() < self._down_until:
            return None
        key = _key(identity)
        items = _parsed(spec)
        try:
            counted = self._count(
                [self._storage.prefixed_key(item.key_for(route_class, key)) for item in items],
                [arg for item in items for arg in (item.get_expiry(), item.amount)],
            )
            now = time.time()
            closest: Window | None = None
            for item, (current, ttl) in zip(items, zip(counted[::2], counted[1::2], strict=True), strict=False):
                window = Window(
                    spec=str(item),
                    limit=item.amount,
                    remaining=max(0, item.amount - int(current)),
                    reset=math.ceil(now + max(int(ttl), 0)),
                    period_s=item.get_expiry(),
                )
                if int(current) > item.amount:
                    return Decision(allowed=False, route_class=route_class, window=window)
                if closest is None or window.used_fraction > closest.used_fraction:
                    closest = window
        except (StorageError, RedisError) as exc:
            cause = exc.storage_error if isinstance(exc, StorageError) else exc
            with self._lock:
                self._down_until = time.monotonic() + RETRY_STORE_AFTER_S
            log.warning("rate-limit store unreachable; letting requests through", extra={"error": type(cause).__name__})
            return None
        assert closest is not None
        return Decision(allowed=True, route_class=route_class, window=closest)
