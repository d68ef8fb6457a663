"""The job-kind registry and the `JobContext` a handler receives.

The composition app registers each kind once at start-up (`registry.register("backtest.run", handler)`);
worker processes build the container the same way, so the registry is the same everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from job_orchestration.config import JobSettings
from job_orchestration.domain import Priority

if TYPE_CHECKING:
    import uuid
    from contextlib import AbstractContextManager

    from sqlalchemy.orm import Session

_KIND = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


class JobContext(Protocol):
    """What a handler sees: its job, the owner, the payload and the lease it runs under."""

    job_id: uuid.UUID
    owner_id: uuid.UUID
    payload: dict[str, Any]
    attempt: int

    def progress(self, pct: float, message: str = "") -> None:
        """Record progress (0–100). Raises `JobCancelled` / `LeaseLost` / `BudgetExceeded` to stop the work."""

    def heartbeat(self) -> None:
        """Prove liveness now (a background thread also heartbeats). Raises `LeaseLost` if the lease is gone."""

    def is_cancel_requested(self) -> bool:
        """Whether a cancel was requested (the handler may then stop on its own)."""

    def transaction(self) -> AbstractContextManager[Session]:
        """A unit of work that first verifies (and locks) the lease: results are written only by the holder."""


Handler = Callable[[JobContext], "dict[str, Any] | None"]


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: Handler
    queue: Priority
    max_attempts: int
    budget_s: int


class JobRegistry:
    """Kinds by name, plus the runtime's settings (`container.extras["job_orchestration"]`)."""

    def __init__(self, settings: JobSettings | None = None) -> None:
        self.settings = settings or JobSettings()
        self.redis: Any = None
        self._kinds: dict[str, JobKind] = {}

    def register(
        self,
        kind: str,
        handler: Handler,
        *,
        queue: str = "default",
        max_attempts: int = 3,
        budget_s: int | None = None,
    ) -> JobKind:
        """Register a job kind (`context.action`); re-registering a name replaces it."""
        if not _KIND.match(kind):
            raise ValueError(f"job kind must look like 'context.action', got {kind!r}")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        spec = JobKind(kind, handler, Priority(queue), max_attempts, budget_s or self.settings.default_budget_s)
        self._kinds[kind] = spec
        return spec

    def get(self, kind: str) -> JobKind | None:
        return self._kinds.get(kind)

    def kinds(self) -> list[str]:
        return sorted(self._kinds)


_installed: JobRegistry | None = None


def install(registry: JobRegistry, redis: Any) -> None:
    """Make `registry` (bound to `redis`) this process's job runtime — the composition app's wiring does this."""
    global _installed
    registry.redis = redis
    _installed = registry


def current() -> JobRegistry:
    """The job runtime of this process (installed at start-up, never at import)."""
    if _installed is None:
        from platform_core.errors import InternalError

        raise InternalError("job_orchestration is not wired into this process")
    return _installed
