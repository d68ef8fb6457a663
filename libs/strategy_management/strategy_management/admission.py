"""Admission of interactive confined runs: how many may run at once, for whom, in how much memory.

A save, a validation or a backtest's dry run starts a confined interpreter inside the API request. Without
a bound, one user firing many saves fills the API's thread pool and the machine's memory. `RunAdmission`
gives a run a slot before it starts and takes it back when it ends:

- per process: at most `max_runs` runs at once, and the sum of their address-space limits (each run
  reserves its `RunnerConfig.memory_bytes`) at most `memory_budget_bytes`;
- per user: at most `max_runs_per_user` runs at once across every API process, counted in Redis (a sorted
  set of slot tokens per user, scored by their expiry: a slot of a process that died expires after the
  run's wall-clock limit plus a margin, so a crash cannot leak it). Without Redis, or while it is
  unreachable, the per-user count is kept in this process (logged), the process bounds still hold.

Beyond a limit the run is refused at once with RATE_LIMITED (429) and `Retry-After`, the details naming
the limit (`process_runs`, `memory` or `user_runs`). Backtest runs in the workers do not come through
here: job orchestration bounds them (worker processes, concurrent jobs per owner).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from platform_core.errors import RateLimited

log = logging.getLogger(__name__)

KEY_PREFIX = "huice:strategy:runs"
SLOT_MARGIN_S = 10.0

# KEYS[1] the user's slot set; ARGV: now (ms), the limit, the new token, its expiry (ms), key TTL (ms).
# Drops expired slots, then adds the token if the user is below the limit. Returns 1 (admitted) or 0.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""

USER_RUNS = "user_runs"
PROCESS_RUNS = "process_runs"
MEMORY = "memory"


class RunAdmission:
    """Slots for confined runs (see module doc). Thread-safe; one per process, inside `StrategyEnv`."""

    def __init__(
        self,
        *,
        max_runs: int,
        max_runs_per_user: int,
        memory_budget_bytes: int,
        retry_after_s: int = 2,
        redis: Redis | None = None,
    ) -> None:
        self.max_runs = max_runs
        self.max_runs_per_user = max_runs_per_user
        self.memory_budget_bytes = memory_budget_bytes
        self.retry_after_s = retry_after_s
        self._redis = redis
        self._acquire = redis.register_script(_ACQUIRE) if redis is not None else None
        self._lock = threading.Lock()
        self._running = 0
        self._reserved = 0
        self._per_user: dict[str, int] = {}

    @property
    def running(self) -> int:
        """Runs admitted in this process and not yet finished."""
        return self._running

    @property
    def reserved_bytes(self) -> int:
        """The sum of the memory limits of the runs admitted in this process."""
        return self._reserved

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()

    @contextlib.contextmanager
    def admit(self, user_id: uuid.UUID | str, *, memory_bytes: int, wall_seconds: float) -> Iterator[None]:
        """Hold a slot for one run of `user_id` reserving `memory_bytes`; RATE_LIMITED if none is free."""
        user = str(user_id)
        self._take_local(user, memory_bytes)
        try:
            token = self._take_user(user, wall_seconds)
        except BaseException:
            self._give_local(user, memory_bytes)
            raise
        try:
            yield
        finally:
            self._give_user(user, token)
            self._give_local(user, memory_bytes)

    # --- this process ---------------------------------------------------------------------------------

    def _take_local(self, user: str, memory_bytes: int) -> None:
        with self._lock:
            if self._running >= self.max_runs:
                raise self._refusal(
                    PROCESS_RUNS,
                    f"too many strategy runs in progress (at most {self.max_runs} at once); try again shortly",
                    max=self.max_runs,
                )
            if self._reserved + memory_bytes > self.memory_budget_bytes:
                raise self._refusal(
                    MEMORY,
                    "the memory reserved for strategy runs is in use; try again shortly",
                    budget_mb=self.memory_budget_bytes // (1024 * 1024),
                    run_mb=memory_bytes // (1024 * 1024),
                )
            self._running += 1
            self._reserved += memory_bytes
            self._per_user[user] = self._per_user.get(user, 0) + 1

    def _give_local(self, user: str, memory_bytes: int) -> None:
        with self._lock:
            self._running -= 1
            self._reserved -= memory_bytes
            left = self._per_user.get(user, 1) - 1
            if left > 0:
                self._per_user[user] = left
            else:
                self._per_user.pop(user, None)

    # --- this user, across processes ------------------------------------------------------------------

    def _take_user(self, user: str, wall_seconds: float) -> str | None:
        """A Redis slot token (None when counted in this process only); RATE_LIMITED at the user's limit."""
        token = uuid.uuid4().hex
        if self._acquire is not None:
            now_ms = int(time.time() * 1000)
            ttl_ms = int((wall_seconds + SLOT_MARGIN_S) * 1000)
            try:
                admitted = self._acquire(
                    keys=[self._key(user)], args=[now_ms, self.max_runs_per_user, token, now_ms + ttl_ms, ttl_ms]
                )
            except RedisError as exc:
                log.warning("run admission: Redis unreachable, counting per process", extra={"error": repr(exc)[:200]})
            else:
                if not admitted:
                    raise self._user_refusal()
                return token
        with self._lock:  # this run is already counted in `_per_user`
            if self._per_user.get(user, 0) > self.max_runs_per_user:
                raise self._user_refusal()
        return None

    def _give_user(self, user: str, token: str | None) -> None:
        if token is None or self._redis is None:
            return
        try:
            self._redis.zrem(self._key(user), token)
        except RedisError as exc:  # the slot expires on its own
            log.warning("run admission: could not release a slot", extra={"error": type(exc).__name__})

    @staticmethod
    def _key(user: str) -> str:
        return f"{KEY_PREFIX}:{user}"

    def _user_refusal(self) -> RateLimited:
        return self._refusal(
            USER_RUNS,
            f"you already have {self.max_runs_per_user} strategy run(s) in progress; try again when one finishes",
            max=self.max_runs_per_user,
        )

    def _refusal(self, limit: str, message: str, **details: Any) -> RateLimited:
        return RateLimited(
            message,
            details={"limit": limit, **details, "retry_after": self.retry_after_s},
            headers={"Retry-After": str(self.retry_after_s)},
        )
