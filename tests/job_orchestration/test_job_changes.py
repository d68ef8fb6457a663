"""`sse.job_changes` on the real Redis: a state change of any job wakes it, a progress event does not, and
without Redis it only waits."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

from job_orchestration.config import env_of
from job_orchestration.sse import _is_state_change, job_changes


def _event(type_: str) -> str:
    return json.dumps({"id": 1, "job_id": "j", "type": type_, "status": "running", "progress": 10.0})


def test_a_state_change_wakes_it(container, redis) -> None:
    """Pub/sub is server-wide: other processes' job events may wake it too (harmless for a refresh), so
    only the wake-up is asserted here; the filter is asserted below."""
    env = env_of(container)

    async def scenario() -> bool:
        async with job_changes(env) as changes:
            redis.publish("runs.job-b", _event("cancelled"))
            return await changes.changed(5.0)

    assert asyncio.run(scenario()) is True


def test_progress_is_not_a_change_and_unknown_messages_are() -> None:
    assert _is_state_change(_event("progress")) is False
    assert [_is_state_change(_event(t)) for t in ("submitted", "started", "cancelled", "failed")] == [True] * 4
    assert _is_state_change(b"not json") is True


def test_without_redis_it_waits_and_says_no_change(container) -> None:
    env = dataclasses.replace(env_of(container), redis_url="redis://127.0.0.1:1/0")

    async def scenario() -> tuple[bool, float]:
        async with job_changes(env) as changes:
            started = time.monotonic()
            return await changes.changed(0.3), time.monotonic() - started

    changed, waited = asyncio.run(scenario())
    assert changed is False and waited >= 0.25
