"""Server-sent events of one job, resumable with `Last-Event-ID`, reusable by other contexts' routers; and
`job_changes`, a wake-up on any job's event for streams of figures over every job.

The stream first replays the persisted events after the given id, then follows the Redis channel
`runs.{job_id}`. A message on the channel is only a wake-up: the events themselves are read back from
PostgreSQL after the last one sent, so the stream is complete and in order even if Redis drops a
message (a periodic re-read covers that too). The stream ends after the job's terminal event.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from job_orchestration import repository as repo
from job_orchestration import transitions
from job_orchestration.config import JobsEnv, env_of
from job_orchestration.domain import TERMINAL_EVENTS, EventType
from job_orchestration.schemas import JobEvent
from job_orchestration.service import events as service_events
from platform_core.errors import InvalidInput
from user_auth.principal import Principal

POLL_SECONDS = 2.0
KEEPALIVE_SECONDS = 15.0


def _last_event_id(request: Request) -> int | None:
    raw = request.headers.get("last-event-id") or request.query_params.get("after")
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise InvalidInput("Last-Event-ID must be an event id", field="Last-Event-ID")
    return int(raw)


def format_event(event: JobEvent) -> str:
    return f"id: {event.id}\nevent: {event.type}\ndata: {event.model_dump_json()}\n\n"


async def sse_response(request: Request, principal: Principal, job_id: uuid.UUID) -> StreamingResponse:
    """Stream the events of `job_id` to `principal` (NOT_FOUND for another owner's job, before streaming)."""
    env = env_of(request.app.state.container)
    after = _last_event_id(request)

    def replay() -> list[JobEvent]:
        with env.db.transaction() as session:
            return service_events(session, principal, job_id, after)

    first = await run_in_threadpool(replay)  # raises NotFound → the usual envelope
    return StreamingResponse(
        _stream(request, env, job_id, first, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _read_after(env: JobsEnv, job_id: uuid.UUID, after: int | None) -> list[JobEvent]:
    with env.db.transaction() as session:
        return [transitions.event_read(e) for e in repo.events_after(session, job_id, after)]


async def _stream(
    request: Request, env: JobsEnv, job_id: uuid.UUID, first: list[JobEvent], after: int | None
) -> AsyncIterator[str]:
    client = AsyncRedis.from_url(env.redis_url)
    pubsub = client.pubsub()
    last = after
    try:
        try:
            await pubsub.subscribe(transitions.channel(job_id))
        except RedisError:
            pubsub = None
        pending = first + await run_in_threadpool(_read_after, env, job_id, first[-1].id if first else after)
        idle = 0.0
        while True:
            for event in pending:
                if last is not None and event.id <= last:
                    continue
                last = event.id
                yield format_event(event)
                if event.type in TERMINAL_EVENTS:
                    return
            if await request.is_disconnected():
                return
            woke = await _wait(pubsub)
            idle = 0.0 if woke else idle + POLL_SECONDS
            if idle >= KEEPALIVE_SECONDS:
                idle = 0.0
                yield ": keep-alive\n\n"
            pending = await run_in_threadpool(_read_after, env, job_id, last)
    finally:
        if pubsub is not None:
            with contextlib.suppress(RedisError):
                await pubsub.aclose()
        await client.aclose()


async def _wait(pubsub: Any) -> bool:
    """Wait for a message on the channel (up to the poll interval); False on timeout or Redis trouble."""
    import asyncio

    if pubsub is None:
        await asyncio.sleep(POLL_SECONDS)
        return False
    try:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_SECONDS)
    except RedisError:
        await asyncio.sleep(POLL_SECONDS)
        return False
    return message is not None


class JobChanges:
    """A subscription to the events of every job (the channels `runs.*`): `changed(timeout)` says whether
    a job changed state (any event but `progress`) within `timeout` seconds. Without Redis (or while it is
    away) it waits the timeout and says False, so a caller falls back to its periodic refresh."""

    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub

    async def changed(self, timeout: float) -> bool:
        import asyncio

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            if self._pubsub is None:
                await asyncio.sleep(left)
                return False
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
            except RedisError:
                await asyncio.sleep(left)
                return False
            if message is not None and _is_state_change(message.get("data")):
                return True
        return False

    async def settle(self, quiet_s: float) -> None:
        """Swallow the events of the next `quiet_s` seconds (a burst of changes becomes one refresh)."""
        import asyncio

        loop = asyncio.get_running_loop()
        deadline = loop.time() + quiet_s
        while (left := deadline - loop.time()) > 0:
            await self.changed(left)


def _is_state_change(data: Any) -> bool:
    import json

    try:
        return json.loads(data).get("type") != EventType.PROGRESS
    except (TypeError, ValueError, AttributeError):
        return True  # not an event we know: refresh rather than miss a change


@contextlib.asynccontextmanager
async def job_changes(env: JobsEnv) -> AsyncIterator[JobChanges]:
    """Follow every job's events (published after each transition's commit) for as long as the block runs;
    for pages that show figures over all jobs (monitoring's summary stream). Progress events do not count
    as a change: they move no figure of a summary."""
    client = AsyncRedis.from_url(env.redis_url)
    pubsub = client.pubsub()
    try:
        try:
            await pubsub.psubscribe(transitions.channel("*"))
            await pubsub.get_message(timeout=2.0)  # the confirmation: subscribed before the block starts
        except RedisError:
            pubsub = None
        yield JobChanges(pubsub)
    finally:
        if pubsub is not None:
            with contextlib.suppress(RedisError):
                await pubsub.aclose()
        with contextlib.suppress(RedisError):
            await client.aclose()
