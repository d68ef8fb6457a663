"""Throttling of sensitive attempts (login, register, reset, verification) in Redis with `limits`.

Attempts are counted in fixed windows per identity (an account, a client address, or the pair of both).
When a window is full the attempt is refused with RATE_LIMITED and the `Retry-After` / `X-RateLimit-*`
headers. Besides counters the throttle remembers "known" identities (an account and an address it
signed in from) for a while, so the account-wide login limit never shuts the owner out of their usual
addresses (see `service.accounts.login`).

The throttle fails closed: when its Redis cannot be reached (or answers too slowly) every throttled
attempt is refused with 503 SERVICE_UNAVAILABLE and `Retry-After` — never let through uncounted, never a 500.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging

from limits import RateLimitItem, parse

from platform_core import throttle as windows
from platform_core.errors import RateLimited, ServiceUnavailable

log = logging.getLogger(__name__)

KEY_PREFIX = "huice:auth:limits"
UNAVAILABLE_RETRY_AFTER_S = windows.UNAVAILABLE_RETRY_AFTER_S
UNAVAILABLE = "sign-in protection is temporarily unavailable; try again shortly"


def _key(value: str) -> str:
    """Identifiers are hashed: no email or address in Redis keys."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


def unavailable() -> ServiceUnavailable:
    return windows.unavailable(UNAVAILABLE)


class Throttle:
    """Counts attempts in Redis; `check()` raises RateLimited once a limit is exhausted, ServiceUnavailable
    when Redis is unreachable. It owns its connection pool (short timeouts): `close()` releases it."""

    def __init__(self, redis_url: str, *, timeout_s: float = 2.0) -> None:
        self._windows = windows.RedisWindows(redis_url, key_prefix=KEY_PREFIX, timeout_s=timeout_s)
        self._redis, self._limiter = self._windows.redis, self._windows.limiter

    def close(self) -> None:
        self._windows.close()

    def check(self, action: str, limits: list[tuple[str, str | None]]) -> None:
        """Count one attempt of `action` against each `(limit, identity)`; refuse if any is exhausted."""
        with _store_errors():
            for spec, identity in limits:
                if identity is None:
                    continue
                item = parse(spec)
                if not self._limiter.hit(item, action, _key(identity)):
                    raise self._refusal(item, action, _key(identity))

    def refuse_if_exhausted(self, action: str, spec: str, identity: str) -> None:
        """RateLimited if the window of `(action, identity)` is used up — without counting an attempt."""
        item = parse(spec)
        with _store_errors():
            if not self._limiter.test(item, action, _key(identity)):
                raise self._refusal(item, action, _key(identity))

    def count(self, action: str, spec: str, identity: str) -> None:
        """Count one attempt (e.g. a failure) without refusing this one."""
        with _store_errors():
            self._limiter.hit(parse(spec), action, _key(identity))

    def clear(self, action: str, spec: str, identity: str) -> None:
        """Forget the attempts counted for `(action, identity)` in the current window."""
        with _store_errors():
            self._limiter.clear(parse(spec), action, _key(identity))

    def remember(self, kind: str, identity: str, ttl_s: int) -> None:
        """Mark `identity` as known for `ttl_s` seconds (renewed on every call)."""
        with _store_errors():
            self._redis.set(self._known_key(kind, identity), b"1", ex=ttl_s)

    def remembers(self, kind: str, identity: str) -> bool:
        with _store_errors():
            return bool(self._redis.exists(self._known_key(kind, identity)))

    @staticmethod
    def _known_key(kind: str, identity: str) -> str:
        return f"{KEY_PREFIX}:known:{kind}:{_key(identity)}"

    def _refusal(self, item: RateLimitItem, action: str, key: str) -> RateLimited:
        retry_after, remaining, reset = self._windows.retry_after(item, action, key)
        return RateLimited(
            "too many attempts; try again later",
            details={"retry_after": retry_after},
            headers={
                "Retry-After": str(retry_after),
                "X-RateLimit-Limit": str(item.amount),
                "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(reset),
            },
        )


def _store_errors() -> contextlib.AbstractContextManager[None]:
    """An unreachable or failing Redis → 503 SERVICE_UNAVAILABLE (logged without identities)."""
    return windows.fail_closed(log, "throttle", UNAVAILABLE)
