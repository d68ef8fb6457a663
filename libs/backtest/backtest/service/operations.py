"""Operations figures and retention for the monitoring context: counts of backtests and runs, the run
statistics (a run is a `backtest.run` job: its status, queue wait and run time are the job's), and the
purge of expired idempotency keys."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from backtest import gateways
from backtest import repository as repo
from backtest.config import BacktestEnv
from backtest.schemas import BacktestCounts
from job_orchestration import service as jobs
from job_orchestration.schemas import JobCount, KindStats, RunTimeHistogram
from platform_core.ids import utcnow


def backtest_counts(session: Session) -> BacktestCounts:
    """Published: how many backtests and runs exist, sweeps running and share-link visits (every owner)."""
    backtests, runs = repo.counts(session)
    return BacktestCounts(
        backtests=backtests,
        runs=runs,
        optimisations_running=repo.optimisations_running(session),
        share_link_visits=repo.share_link_visits(session),
    )


def run_stats(session: Session, env: BacktestEnv, *, window_s: int | None = None) -> KindStats:
    """Published: runs by status now; queue wait, run time, failure and completion rate over the window."""
    return jobs.kind_stats(session, env.jobs, gateways.JOB_KIND, window_s=window_s)


def run_job_counts(session: Session) -> list[JobCount]:
    """Published: the run jobs by status (the `backtest.run` rows of the job counters)."""
    return [c for c in jobs.job_counts(session) if c.kind == gateways.JOB_KIND]


def run_time_histogram(session: Session, bounds: list[float]) -> RunTimeHistogram:
    """Published: cumulative run-time counts of the succeeded runs (a Prometheus histogram)."""
    return jobs.run_time_histogram(session, gateways.JOB_KIND, bounds)


def purge_idempotency_keys(session: Session, env: BacktestEnv) -> int:
    """Published (retention): forget every idempotency key older than `HUICE_BACKTEST_IDEMPOTENCY_TTL_H`."""
    return repo.purge_expired_keys(session, utcnow() - timedelta(hours=env.settings.idempotency_ttl_h))
