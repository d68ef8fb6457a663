"""The self-contained HTML report of a sweep (an optimisation): the parameter heatmap of two chosen
parameters, the Top-N table, status, budget and stop reason, and the overfitting diagnostics (deflated
Sharpe ratio, PBO). Its data comes from the very service calls behind `GET /api/optimizations/{id}`,
`/heatmap` and `/results` — nothing is computed a second time. A sweep may still be running, so its report
is rendered on each request (it is small) rather than cached.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from backtest.config import BacktestEnv
from backtest.domain import FORMAT_MEDIA
from backtest.report import render_sweep_report
from backtest.schemas import SweepReportData
from backtest.service._common import owned_backtest
from backtest.service.optimizations import get_optimization, optimization_heatmap, optimization_results
from platform_core.pagination import PageParams
from user_auth.principal import Principal

TOP_N = 20


def sweep_parameters(spec: dict) -> list[str]:
    """The sweep's parameters: the swept ones in the order given, then the fixed ones."""
    names = [*(spec.get("grid_spec") or {}), *(spec.get("space") or {})]
    return names + [p for p in (spec.get("params") or {}) if p not in names]


def sweep_report_data(
    session: Session,
    env: BacktestEnv,
    principal: Principal,
    optimization_id: uuid.UUID,
    *,
    x: str | None = None,
    y: str | None = None,
    metric: str | None = None,
    top: int = TOP_N,
) -> SweepReportData:
    """What the report of one of the caller's sweeps shows; the heatmap over `x` × `y` (default: the first
    two parameters) of `metric` (default: the sweep's objective)."""
    opt = get_optimization(session, env, principal, optimization_id)
    names = sweep_parameters(opt.spec)
    heat = None
    if x is not None or y is not None or len(names) >= 2:
        x = x or next((n for n in names if n != y), "")
        y = y or next((n for n in names if n != x), "")
        heat = optimization_heatmap(session, principal, optimization_id, x=x, y=y, metric=metric)
    page = optimization_results(session, principal, optimization_id, PageParams(limit=top, offset=0))
    backtest = owned_backtest(session, principal, opt.backtest_id)
    return SweepReportData(
        optimization=opt,
        strategy_name=backtest.strategy_name,
        version_number=backtest.version_number,
        parameters=names,
        heatmap=heat,
        top=page.items,
        result_total=page.total,
    )


def sweep_report(
    session: Session,
    env: BacktestEnv,
    principal: Principal,
    optimization_id: uuid.UUID,
    *,
    x: str | None = None,
    y: str | None = None,
    metric: str | None = None,
) -> tuple[str, str, bytes]:
    """(filename, media type, content) of the HTML report of one of the caller's sweeps."""
    data = sweep_report_data(session, env, principal, optimization_id, x=x, y=y, metric=metric)
    return f"{optimization_id}-sweep-report.html", FORMAT_MEDIA["html"], render_sweep_report(data).encode("utf-8")
