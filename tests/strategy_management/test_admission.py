"""The admission of interactive confined runs: per process, by memory, per user (in Redis, across processes)."""

from __future__ import annotations

import time
import uuid
from contextlib import ExitStack
from typing import Any

import pytest
from redis import Redis

from platform_core.embedded import free_port
from platform_core.errors import RateLimited
from strategy_management.admission import KEY_PREFIX, MEMORY, PROCESS_RUNS, USER_RUNS, RunAdmission

MB = 1024 * 1024


def _admission(redis: Redis | None = None, **kwargs: Any) -> RunAdmission:
    options = {"max_runs": 4, "max_runs_per_user": 2, "memory_budget_bytes": 4096 * MB, "retry_after_s": 3}
    return RunAdmission(**{**options, **kwargs}, redis=redis)


def _refused(admission: RunAdmission, user: Any, memory_mb: int = 100) -> RateLimited:
    with pytest.raises(RateLimited) as caught, admission.admit(user, memory_bytes=memory_mb * MB, wall_seconds=5):
        pass
    return caught.value


def _hold(stack: Any, admission: RunAdmission, user: Any, memory_mb: int = 100) -> None:
    stack.enter_context(admission.admit(user, memory_bytes=memory_mb * MB, wall_seconds=5))


def test_process_limit_refuses_beyond_max_runs_with_retry_after(redis: Redis) -> None:
    admission = _admission(redis, max_runs=2)
    with ExitStack() as stack:
        _hold(stack, admission, uuid.uuid4())
        _hold(stack, admission, uuid.uuid4())
        refusal = _refused(admission, uuid.uuid4())
        assert refusal.http_status == 429
        assert refusal.details == {"limit": PROCESS_RUNS, "max": 2, "retry_after": 3}
        assert refusal.headers == {"Retry-After": "3"}
        assert admission.running == 2
    assert admission.running == 0 and admission.reserved_bytes == 0
    with admission.admit(uuid.uuid4(), memory_bytes=MB, wall_seconds=5):
        assert admission.running == 1


def test_memory_budget_counts_each_runs_limit(redis: Redis) -> None:
    admission = _admission(redis, memory_budget_bytes=1000 * MB)
    with ExitStack() as stack:
        _hold(stack, admission, uuid.uuid4(), memory_mb=600)
        assert admission.reserved_bytes == 600 * MB
        refusal = _refused(admission, uuid.uuid4(), memory_mb=600)
        assert refusal.details["limit"] == MEMORY
        assert refusal.details["budget_mb"] == 1000 and refusal.details["run_mb"] == 600
        _hold(stack, admission, uuid.uuid4(), memory_mb=400)  # fits exactly
    assert admission.reserved_bytes == 0


def test_per_user_limit_holds_across_processes_through_redis(redis: Redis) -> None:
    first, second = _admission(redis), _admission(redis)  # two API processes
    user, other = uuid.uuid4(), uuid.uuid4()
    with ExitStack() as stack:
        _hold(stack, first, user)
        _hold(stack, second, user)
        for process in (first, second):
            refusal = _refused(process, user)
            assert refusal.details == {"limit": USER_RUNS, "max": 2, "retry_after": 3}
        _hold(stack, second, other)  # another user is not affected
        assert redis.zcard(f"{KEY_PREFIX}:{user}") == 2
        assert 0 < redis.pttl(f"{KEY_PREFIX}:{user}") <= 15_000  # wall 5 s + margin: a crash cannot leak slots
    assert redis.zcard(f"{KEY_PREFIX}:{user}") == 0
    assert first.running == second.running == 0


def test_a_slot_of_a_dead_process_expires(redis: Redis) -> None:
    admission = _admission(redis, max_runs_per_user=1)
    user = uuid.uuid4()
    redis.zadd(f"{KEY_PREFIX}:{user}", {"slot-of-a-killed-process": time.time() * 1000 - 1})
    with admission.admit(user, memory_bytes=MB, wall_seconds=5):
        assert redis.zrange(f"{KEY_PREFIX}:{user}", 0, -1) != [b"slot-of-a-killed-process"]
        redis.zadd(f"{KEY_PREFIX}:{user}", {"slot-of-a-live-process": time.time() * 1000 + 60_000})
    assert _refused(admission, user).details["limit"] == USER_RUNS


def test_a_failing_run_gives_its_slot_back(redis: Redis) -> None:
    admission = _admission(redis, max_runs_per_user=1)
    user = uuid.uuid4()
    with pytest.raises(ZeroDivisionError), admission.admit(user, memory_bytes=MB, wall_seconds=5):
        _ = 1 / 0
    assert admission.running == 0 and redis.zcard(f"{KEY_PREFIX}:{user}") == 0
    with admission.admit(user, memory_bytes=MB, wall_seconds=5):
        pass


def test_a_refused_user_slot_gives_the_process_slot_back(redis: Redis) -> None:
    admission = _admission(redis, max_runs_per_user=1)
    user = uuid.uuid4()
    with admission.admit(user, memory_bytes=MB, wall_seconds=5):
        _refused(admission, user)
        assert admission.running == 1 and admission.reserved_bytes == MB


def test_without_redis_users_are_counted_per_process() -> None:
    admission = _admission(None, max_runs_per_user=1)
    user = uuid.uuid4()
    with ExitStack() as stack:
        _hold(stack, admission, user)
        assert _refused(admission, user).details["limit"] == USER_RUNS
        _hold(stack, admission, uuid.uuid4())


def test_an_unreachable_redis_falls_back_to_the_process_count() -> None:
    dead = Redis(port=free_port(), socket_timeout=0.5, socket_connect_timeout=0.5)
    admission = _admission(dead, max_runs_per_user=1)
    user = uuid.uuid4()
    with ExitStack() as stack:
        _hold(stack, admission, user)
        assert _refused(admission, user).details["limit"] == USER_RUNS
    assert admission.running == 0
