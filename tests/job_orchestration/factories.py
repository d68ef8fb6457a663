"""Small helpers of the job_orchestration tests (jobs are created through the service)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from job_orchestration import service
from job_orchestration.config import JobsEnv
from job_orchestration.schemas import JobRead
from platform_core.db import Database

# the events of a `diag.progress` job of 3 steps that succeeds at its first attempt
THREE_STEPS_EVENTS = ["submitted", "enqueued", "started", "progress", "progress", "progress", "succeeded"]


def submit(env: JobsEnv, owner: Any, kind: str = "diag.sleep", payload: dict | None = None, **kw: Any) -> JobRead:
    """Submit through the service in its own transaction on the env's database."""
    with env.db.transaction() as session:
        return service.submit(session, env, owner, kind=kind, payload=payload or {}, **kw)


def read(db: Database, job_id: uuid.UUID) -> JobRead:
    from job_orchestration import repository as repo
    from job_orchestration import transitions

    with db.transaction() as session:
        return transitions.to_read(repo.get(session, job_id))


def event_types(db: Database, job_id: uuid.UUID) -> list[str]:
    from job_orchestration import repository as repo

    with db.transaction() as session:
        return [e.type for e in repo.events_after(session, job_id, None)]


def wait_for(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Poll until `check()` returns a truthy value (the value is returned); AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def wait_status(db: Database, job_id: uuid.UUID, *statuses: str, timeout: float = 30.0) -> JobRead:
    def check() -> JobRead | None:
        job = read(db, job_id)
        return job if job.status in statuses else None

    try:
        return wait_for(check, timeout)
    except AssertionError:
        raise AssertionError(f"job {job_id} not in {statuses}: {read(db, job_id)!r}") from None
