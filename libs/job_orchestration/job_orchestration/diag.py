"""Built-in diagnostic job kinds for operators and tests: `diag.sleep`, `diag.fail`, `diag.progress`.

- `diag.sleep` {seconds, cooperative=true}: sleeps; cooperative sleeps in steps with progress points.
- `diag.fail` {mode="transient"|"user", fail_attempts=99, message}: raises a transient error (retried; an
  unexpected exception, with `message` as its text when given) or a user error (not retried) on attempts up
  to `fail_attempts`, then succeeds.
- `diag.progress` {steps, delay}: reports `steps` progress points `delay` seconds apart.
"""

from __future__ import annotations

import time
from typing import Any

from job_orchestration.domain import DeterministicJobError
from job_orchestration.registry import JobContext, JobRegistry


class DiagnosticFailure(RuntimeError):
    """A transient failure on purpose."""


def _number(payload: dict[str, Any], key: str, default: float, high: float) -> float:
    value = payload.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= high:
        raise DeterministicJobError(f"{key} must be a number between 0 and {high}", details={"field": key})
    return float(value)


def sleep(ctx: JobContext) -> dict[str, Any]:
    seconds = _number(ctx.payload, "seconds", 1.0, 3600)
    if not ctx.payload.get("cooperative", True):
        time.sleep(seconds)
        return {"slept": seconds, "attempt": ctx.attempt}
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(0.2, left))
        ctx.progress(100 * (1 - max(0.0, deadline - time.monotonic()) / seconds) if seconds else 100, "sleeping")
    return {"slept": seconds, "attempt": ctx.attempt}


def fail(ctx: JobContext) -> dict[str, Any]:
    mode = ctx.payload.get("mode", "transient")
    if mode not in ("transient", "user"):
        raise DeterministicJobError("mode must be 'transient' or 'user'", details={"field": "mode"})
    fail_attempts = int(_number(ctx.payload, "fail_attempts", 99, 1000))
    if ctx.attempt <= fail_attempts:
        if mode == "user":
            raise DeterministicJobError("diagnostic user error", details={"attempt": ctx.attempt})
        message = ctx.payload.get("message")
        raise DiagnosticFailure(
            str(message)[:500] if message else f"diagnostic transient failure on attempt {ctx.attempt}"
        )
    return {"attempt": ctx.attempt}


def progress(ctx: JobContext) -> dict[str, Any]:
    steps = int(_number(ctx.payload, "steps", 5, 1000))
    delay = _number(ctx.payload, "delay", 0.05, 60)
    for step in range(1, steps + 1):
        time.sleep(delay)
        ctx.progress(100 * step / steps, f"step {step}/{steps}")
    return {"steps": steps, "attempt": ctx.attempt}


def register_diagnostics(registry: JobRegistry) -> None:
    registry.register("diag.sleep", sleep, queue="default", max_attempts=3)
    registry.register("diag.fail", fail, queue="default", max_attempts=3)
    registry.register("diag.progress", progress, queue="default", max_attempts=3)
