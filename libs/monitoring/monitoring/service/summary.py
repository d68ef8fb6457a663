"""The operations summary: users, strategies, backtests and runs, queues and workers, data freshness and
the firing alerts — each figure read from the context that owns it, through its published services."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backtest import service as backtests
from job_orchestration import service as jobs
from market_data import service as market
from monitoring import repository as repo
from monitoring.config import MonitoringEnv
from monitoring.domain import DEFAULT_WINDOW, AlertState, window_seconds
from monitoring.schemas import AlertRead, DataSummary, Summary
from monitoring.service._common import require_admin
from platform_core.ids import utcnow
from strategy_management import service as strategies
from user_auth import service as users
from user_auth.principal import Principal

TUSHARE_REFRESH_KIND = "monitoring.tushare_refresh"
ABSENT: dict[str, str] = {}  # figures a context does not publish (yet), with the reason


def summary(session: Session, env: MonitoringEnv, principal: Principal, *, window: str = DEFAULT_WINDOW) -> Summary:
    """The summary over `window` (15m, 1h, 6h, 24h, 7d, 30d; INVALID_INPUT otherwise), for admins."""
    require_admin(principal)
    return build_summary(session, env, window=window)


def build_summary(session: Session, env: MonitoringEnv, *, window: str = DEFAULT_WINDOW) -> Summary:
    """The summary without the caller check (the alert evaluation and the stream use it)."""
    window_s = window_seconds(window)
    now = utcnow()
    queue = jobs.stats(session, env.jobs, window_s=window_s)
    counts = backtests.backtest_counts(session)
    return Summary(
        generated_at=now,
        window=window,
        window_s=window_s,
        users=users.user_counts(session, now),
        strategies=strategies.strategy_counts(session),
        backtests=counts,
        runs=backtests.run_stats(session, env.backtest, window_s=window_s),
        jobs=queue,
        workers_alive=queue.workers_alive,
        data=DataSummary(
            freshness=market.data_freshness(session, env.market, now.date()),
            last_sync=jobs.latest_job(session, TUSHARE_REFRESH_KIND),
        ),
        optimisations_running=counts.optimisations_running,
        share_link_visits=counts.share_link_visits,
        absent=dict(ABSENT),
        alerts_firing=firing(session),
    )


def firing(session: Session) -> list[AlertRead]:
    """The rules firing now, by rule name."""
    rows = repo.alert_states(session).values()
    return [AlertRead.model_validate(r) for r in sorted(rows, key=lambda r: r.rule) if r.state == AlertState.FIRING]
