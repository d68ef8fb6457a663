"""The job-kind registry and the `JobContext` a handler receives.

The composition app registers each kind once at start-up on the registry of its `JobsEnv`
(`env_of(container).registry.register("backtest.run", handler)`); worker processes build the container the
same way, so the kinds are the same everywhere. The registry only names kinds: no settings, no Redis.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

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
# Called in the transaction that ends a job of the kind without success (failed for good, or cancelled),
# inside a savepoint: (session, job_id, owner_id, payload, status). Lets the kind's owner react (e.g. a
# sweep moves on when one of its batch jobs failed) without anyone reading it.
EndedHook = Callable[["Session", "uuid.UUID", "uuid.UUID", "dict[str, Any]", str], None]
# Called once in a worker parent before it forks work-horses, in a transaction that is rolled back: runs
# the statements a job of the kind makes, for ids that do not exist and changing nothing, so that every
# horse finds them compiled (`job_orchestration.attempt.warm`).
WarmHook = Callable[["Session"], None]


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: Handler
    queue: Priority
    max_attempts: int
    budget_s: int | None  # None: the runtime's `default_budget_s`
    on_ended: EndedHook | None = None
    warm: WarmHook | None = None


class JobRegistry:
    """Job kinds by name (`JobsEnv.registry`)."""

    def __init__(self) -> None:
        self._kinds: dict[str, JobKind] = {}

    def register(
        self,
        kind: str,
        handler: Handler,
        *,
        queue: str = "default",
        max_attempts: int = 3,
        budget_s: int | None = None,
        on_ended: EndedHook | None = None,
        warm: WarmHook | None = None,
    ) -> JobKind:
        """Register a job kind (`context.action`); re-registering a name replaces it. Without `budget_s`
        its jobs get the runtime's default wall budget (`HUICE_JOBS_DEFAULT_BUDGET_S`). `on_ended` is called when
        one of its jobs ends failed or cancelled (see `EndedHook`); `warm` prepares a worker for its jobs
        (see `WarmHook`)."""
        if not _KIND.match(kind):
            raise ValueError(f"job kind must look like 'context.action', got {kind!r}")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        spec = JobKind(kind, handler, Priority(queue), max_attempts, budget_s or None, on_ended, warm)
        self._kinds[kind] = spec
        return spec

    def get(self, kind: str) -> JobKind | None:
        return self._kinds.get(kind)

    def kinds(self) -> list[str]:
        return sorted(self._kinds)
