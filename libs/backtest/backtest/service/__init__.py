"""The use cases of backtest — the functions the faces (API, CLI, the `backtest.run` job) call.

Every function takes the caller's session (it flushes, never commits) and, where it needs settings, the
artifact store or another context's env, the `BacktestEnv` (`backtest.config.env_of(container)`). Another
owner's backtest, run or artifact is NOT_FOUND, exactly like a missing one. Nothing is queued unless every
input was valid: a run's job is created in the caller's transaction and enqueued after commit.
`service.results` studies a finished run (pages, curves, drawdowns, returns, rolling statistics) and
compares or diffs runs. `run_backtest` is one attempt of a run; it opens its units of work through the job it runs in
(`warm_reads`: its statements, which a worker runs once before it forks).
Sweeps (`mode` grid / random / bayes on `submit_runs`, or `submit_optimization`) are optimisations:
`run_batch` is one batch of one (the `backtest.optimize` job), the rest reads, cancels and promotes.
"""

from backtest.service.artifacts import Download, artifact
from backtest.service.attempt import RunAttempt, run_backtest, warm_reads
from backtest.service.backtests import create_backtest, get_backtest, list_backtests
from backtest.service.operations import (
    backtest_counts,
    purge_idempotency_keys,
    run_job_counts,
    run_stats,
    run_time_histogram,
)
from backtest.service.optimizations import (
    batch_ended,
    cancel_optimization,
    get_optimization,
    list_optimizations,
    optimization_heatmap,
    optimization_results,
    promote,
    results_csv,
    run_batch,
    submit_optimization,
)
from backtest.service.reports import report_data, run_report
from backtest.service.results import (
    COMPARE_METRICS,
    PageQuery,
    compare_csv,
    compare_runs,
    diff_runs,
    drawdown_periods,
    page_fills,
    page_orders,
    page_positions,
    page_trades,
    return_tables,
    rolling,
    run_curves,
    run_study,
)
from backtest.service.runs import cancel_run, get_run, list_runs, rerun, run_job_id, submit_runs
from backtest.service.shares import (
    create_share,
    create_sweep_share,
    list_shares,
    revoke_share,
    shared_report,
    shared_view,
)
from backtest.service.sweep_reports import sweep_report, sweep_report_data

__all__ = [
    "COMPARE_METRICS",
    "Download",
    "PageQuery",
    "RunAttempt",
    "artifact",
    "backtest_counts",
    "batch_ended",
    "cancel_optimization",
    "cancel_run",
    "compare_csv",
    "compare_runs",
    "create_backtest",
    "create_share",
    "create_sweep_share",
    "diff_runs",
    "drawdown_periods",
    "get_backtest",
    "get_optimization",
    "get_run",
    "list_backtests",
    "list_optimizations",
    "list_runs",
    "list_shares",
    "optimization_heatmap",
    "optimization_results",
    "page_fills",
    "page_orders",
    "page_positions",
    "page_trades",
    "promote",
    "purge_idempotency_keys",
    "report_data",
    "rerun",
    "results_csv",
    "return_tables",
    "revoke_share",
    "rolling",
    "run_backtest",
    "run_batch",
    "run_curves",
    "run_job_counts",
    "run_job_id",
    "run_report",
    "run_stats",
    "run_study",
    "run_time_histogram",
    "shared_report",
    "shared_view",
    "submit_optimization",
    "submit_runs",
    "sweep_report",
    "sweep_report_data",
    "warm_reads",
]
