"""The use cases of backtest — the functions the faces (API, CLI, the `backtest.run` job) call.

Every function takes the caller's session (it flushes, never commits) and, where it needs settings, the
artifact store or another context's env, the `BacktestEnv` (`backtest.config.env_of(container)`). Another
owner's backtest, run or artifact is NOT_FOUND, exactly like a missing one. Nothing is queued unless every
input was valid: a run's job is created in the caller's transaction and enqueued after commit.
`run_backtest` is one attempt of a run; it opens its units of work through the job it runs in.
"""

from backtest.service.artifacts import Download, artifact
from backtest.service.attempt import RunAttempt, run_backtest
from backtest.service.backtests import create_backtest, get_backtest, list_backtests
from backtest.service.operations import (
    backtest_counts,
    purge_idempotency_keys,
    run_job_counts,
    run_stats,
    run_time_histogram,
)
from backtest.service.runs import cancel_run, get_run, list_runs, rerun, run_job_id, submit_runs

__all__ = [
    "Download",
    "RunAttempt",
    "artifact",
    "backtest_counts",
    "cancel_run",
    "create_backtest",
    "get_backtest",
    "get_run",
    "list_backtests",
    "list_runs",
    "purge_idempotency_keys",
    "rerun",
    "run_backtest",
    "run_job_counts",
    "run_job_id",
    "run_stats",
    "run_time_histogram",
    "submit_runs",
]
