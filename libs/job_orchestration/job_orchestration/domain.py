"""Pure rules of the job runtime: statuses, priorities, backoff, error classification, stop signals."""

from __future__ import annotations

import traceback
from enum import StrEnum
from typing import Any

from platform_core.errors import AppError, ErrorCode
from platform_core.logging import redact_text


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EARLY_STOPPED = "early_stopped"


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.EARLY_STOPPED})
RETRYABLE_BY_USER = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})


class Priority(StrEnum):
    """The RQ queues, highest first: the order workers drain them in."""

    HIGH = "high"
    DEFAULT = "default"
    LOW = "low"


QUEUE_NAMES: tuple[str, ...] = tuple(p.value for p in Priority)
PRIORITY_RANK = {p: rank for rank, p in enumerate(Priority)}


class EventType(StrEnum):
    SUBMITTED = "submitted"
    ENQUEUED = "enqueued"
    STARTED = "started"
    PROGRESS = "progress"
    RETRYING = "retrying"
    REQUEUED = "requeued"
    CANCEL_REQUESTED = "cancel_requested"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RETRIED = "retried"


TERMINAL_EVENTS = frozenset({EventType.SUCCEEDED, EventType.FAILED, EventType.CANCELLED})

# AppError codes that mean "the same input will fail the same way": never retried.
DETERMINISTIC_CODES = frozenset(
    {
        ErrorCode.INVALID_INPUT,
        ErrorCode.NOT_FOUND,
        ErrorCode.FORBIDDEN,
        ErrorCode.UNAUTHORIZED,
        ErrorCode.CONFLICT,
        ErrorCode.PAYLOAD_TOO_LARGE,
    }
)


class DeterministicJobError(AppError):
    """A failure that a retry cannot fix (user code error, invalid input): the job fails at once."""

    code = ErrorCode.INVALID_INPUT


class JobInterrupted(BaseException):
    """Stops a handler. A BaseException, so `except Exception` in handler code does not swallow it."""


class JobCancelled(JobInterrupted):
    """The owner (or an admin) cancelled the job: raised at the handler's next progress point."""


class LeaseLost(JobInterrupted):
    """This attempt no longer holds the job's lease (reaped, cancelled, finished by another attempt)."""


class BudgetExceeded(JobInterrupted):
    """The attempt ran past the job's wall budget."""


def backoff_seconds(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff before retry number `attempt` (1 → base, 2 → 2·base, ...), capped."""
    return float(min(cap, base * (2 ** max(0, attempt - 1))))


def is_deterministic(exc: BaseException) -> bool:
    """User errors (deterministic) fail at once; everything else is transient and retried."""
    return isinstance(exc, DeterministicJobError) or (isinstance(exc, AppError) and exc.code in DETERMINISTIC_CODES)


def error_of(exc: BaseException) -> dict[str, Any]:
    """The error envelope body kept on a failed job: AppErrors as they are, anything else summarised."""
    if isinstance(exc, AppError):
        return {"code": str(exc.code), "message": exc.message, "details": exc.details}
    summary = redact_text(str(exc).splitlines()[0][:300]) if str(exc) else ""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    details: dict[str, Any] = {"reason": "transient_error", "exception": type(exc).__name__}
    if frame is not None:
        details["where"] = f"{frame.name}:{frame.lineno}"
    message = f"{type(exc).__name__}: {summary}" if summary else type(exc).__name__
    return {"code": str(ErrorCode.INTERNAL_ERROR), "message": message, "details": details}


def budget_error(budget_s: int) -> dict[str, Any]:
    return {
        "code": str(ErrorCode.INTERNAL_ERROR),
        "message": f"job exceeded its wall budget of {budget_s} s",
        "details": {"reason": "budget_exceeded", "budget_s": budget_s},
    }


def worker_lost_error(attempts: int) -> dict[str, Any]:
    return {
        "code": str(ErrorCode.INTERNAL_ERROR),
        "message": f"worker lost (no heartbeat) after {attempts} attempt(s)",
        "details": {"reason": "worker_lost", "attempts": attempts},
    }
