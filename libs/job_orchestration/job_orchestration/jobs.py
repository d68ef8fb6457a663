"""The RQ entry point: every job kind runs through `run(job_id)` (JSON id in, PostgreSQL holds the rest)."""

from __future__ import annotations

import os
import socket
import uuid

from job_orchestration.runner import execute
from platform_core.runtime import runtime

_prepared_pid: int | None = None


def _after_fork(db) -> None:
    """A forked work-horse must not reuse the parent's pooled database connections."""
    global _prepared_pid
    if _prepared_pid != os.getpid():
        db.engine.dispose(close=False)
        _prepared_pid = os.getpid()


def run(job_id: str) -> str | None:
    """Run one attempt of job `job_id` under its lease; returns the status recorded (None if stale)."""
    rt = runtime()
    _after_fork(rt.db)
    registry = rt.extras["job_orchestration"]
    worker = os.environ.get("RQ_WORKER_ID") or socket.gethostname()
    outcome = execute(rt.db, registry, uuid.UUID(job_id), worker_name=worker, pid=os.getpid())
    return str(outcome) if outcome is not None else None
