"""The one process-level hand-off of the composition root, for the RQ entry point only.

RQ finds job functions by import path, so a job cannot be handed the container as an argument. The worker
bootstrap (`huice.worker`) calls `set_runtime(container)` once before it starts taking work, and the RQ
entry point `job_orchestration.jobs.run` — the only reader — calls `runtime()` and passes its context's
env explicitly from there on. Nothing else may read it: every other face (API, CLI, tests) holds its
container and hands envs down. Nothing is set at import time.
"""

from __future__ import annotations

from typing import Any, Protocol

from redis import Redis

from platform_core.db import Database


class Runtime(Protocol):
    settings: Any
    db: Database
    redis: Redis
    extras: dict[str, Any]


_current: Runtime | None = None


def set_runtime(value: Runtime | None) -> None:
    global _current
    _current = value


def runtime() -> Runtime:
    if _current is None:
        raise RuntimeError("no runtime: this code must run inside a huice worker or app")
    return _current
