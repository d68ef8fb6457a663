"""The job handlers of backtest (registered by the composition app with job_orchestration). `backtest.run`
parses the payload and runs one attempt of the run with `service.run_backtest`, whose outcome becomes the
job's result; user errors there (INVALID_INPUT) fail the run at once with the user's message, anything
else is retried. `backtest.optimize` evaluates one batch of a sweep with `service.run_batch`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from backtest import gateways, service
from backtest.config import BacktestEnv

KIND = gateways.JOB_KIND
OPTIMIZE_KIND = gateways.OPTIMIZE_KIND


def handler(env: BacktestEnv) -> Callable[[Any], dict[str, Any]]:
    """The job handler bound to this process's backtest env (it receives job_orchestration's `JobContext`)."""

    def run(ctx: Any) -> dict[str, Any]:
        run_id = uuid.UUID(str(ctx.payload["run_id"]))
        return service.run_backtest(env, ctx, run_id).model_dump(mode="json")

    return run


def warm(session: Any) -> None:
    """The `backtest.run` kind's `warm` hook: a run's statements (`service.warm_reads`)."""
    service.warm_reads(session)


def optimize_handler(env: BacktestEnv) -> Callable[[Any], dict[str, Any]]:
    """The `backtest.optimize` handler: one batch of a sweep."""

    def run(ctx: Any) -> dict[str, Any]:
        return service.run_batch(env, ctx, uuid.UUID(str(ctx.payload["task_id"])))

    return run


def batch_ended(env: BacktestEnv) -> Callable[..., None]:
    """The `backtest.optimize` kind's `on_ended` hook: a batch job that failed for good or was cancelled on
    the job runtime moves its sweep on (next batches, or the end) at once, without anyone reading it."""

    def ended(session: Any, job_id: uuid.UUID, owner_id: uuid.UUID, payload: dict[str, Any], status: str) -> None:
        service.batch_ended(session, env, owner_id, uuid.UUID(str(payload["task_id"])), status)

    return ended
