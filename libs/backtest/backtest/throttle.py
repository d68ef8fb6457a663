"""Rate limits of the public share views, per token and per client address, in Redis with `limits`.

The same mechanism as user_auth's sign-in throttle: fixed windows counted in Redis (shared by every API
process), identities hashed in the keys, and it fails closed — while Redis is unreachable a share view is
refused with 503 SERVICE_UNAVAILABLE and `Retry-After`, never served uncounted.
"""

from __future__ import annotations

import hashlib
import logging

from limits import parse

from platform_core import throttle as windows
from platform_core.errors import RateLimited

log = logging.getLogger(__name__)

KEY_PREFIX = "huice:backtest:limits"
UNAVAILABLE = "shared links are temporarily unavailable; try again shortly"


def _key(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class ShareThrottle:
    """Counts share views; `check()` raises RateLimited once a window is full, ServiceUnavailable when
    Redis cannot be reached. It owns its connection pool (short timeouts): `close()` releases it."""

    def __init__(self, redis_url: str, *, timeout_s: float = 2.0) -> None:
        self._windows = windows.RedisWindows(redis_url, key_prefix=KEY_PREFIX, timeout_s=timeout_s)
        self._limiter = self._windows.limiter

    def close(self) -> None:
        self._windows.close()

    def check(self, action: str, limits: list[tuple[str, str | None]]) -> None:
        """Count one view against each `(limit, identity)` (None = not applicable); refuse if one is full."""
        with windows.fail_closed(log, "share throttle", UNAVAILABLE):
            for spec, identity in limits:
                if identity is None:
                    continue
                item = parse(spec)
                if not self._limiter.hit(item, action, _key(identity)):
                    retry_after, _, _ = self._windows.retry_after(item, action, _key(identity))
                    raise RateLimited(
                        "too many views of shared links; try again later",
                        details={"retry_after": retry_after},
                        headers={"Retry-After": str(retry_after), "X-RateLimit-Limit": str(item.amount)},
                    )
