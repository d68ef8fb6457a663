"""Ids and the clock: one place to create identifiers and read the time, so tests can pin both."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

_clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def new_id() -> uuid.UUID:
    """A time-ordered UUID (v7): sorts by creation time, good for primary keys and cursors."""
    ms = int(utcnow().timestamp() * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(secrets.token_bytes(10), "big")
    value = (ms << 80) | (0x7 << 76) | ((rand >> 68) & 0xFFF) << 64 | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random secret (tokens, API keys)."""
    return secrets.token_urlsafe(nbytes)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return _clock()


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); `None` restores the system clock."""
    global _clock
    _clock = clock or (lambda: datetime.now(UTC))
