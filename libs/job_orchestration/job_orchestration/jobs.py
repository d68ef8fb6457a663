"""The RQ entry point: every job kind runs through `run(job_id)` (JSON id in, PostgreSQL holds the rest).

RQ finds `run` by import path, so it cannot be handed the container: it takes the worker process's
container from `platform_core.runtime` (set once by the worker bootstrap, `huice.worker`) and passes its
`JobsEnv` explicitly from there on. This is the only reader of that process-level hand-off.
"""

from __future__ import annotations

import os
import socket
import uuid

from job_orchestration.attempt import execute
from job_orchestration.config import env_of
from platform_core.db import Database
from platform_core.runtime import runtime

_prepared_pid: int | None = None


def _after_fork(db: Database) -> None:
    """A forked work-horse must not reuse the parent's pooled database connections."""
    global _prepared_pid
    if _prepared_pid != os.getpid():
        db.engine.dispose(close=False)
        _prepared_pid = os.getpid()


def prepare_work_horse() -> None:
    """In a spare work-horse (`rq_worker.ResilientWorker`), before its job arrives: let go of the pool the
    fork inherited and open this process's own database connection, so that the job's first statement
    does not wait for a connect (TCP, start-up, authentication)."""
    env = env_of(runtime())
    _after_fork(env.db)
    with env.db.engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")


def run(job_id: str) -> str | None:
    """Run one attempt of job `job_id` under its lease; returns the status recorded (None if stale)."""
    env = env_of(runtime())
    _after_fork(env.db)
    worker = os.environ.get("RQ_WORKER_ID") or socket.gethostname()
    outcome = execute(env, uuid.UUID(job_id), worker_name=worker, pid=os.getpid())
    return str(outcome) if outcome is not None else None
