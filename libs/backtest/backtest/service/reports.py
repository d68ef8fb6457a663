"""Reports: the self-contained HTML report of a succeeded run (artifact type `report`, format `html`), and the
report's data (`ReportData`, also what a share link's data answer carries).

The data is read from the run's stored artifacts through the result views (curves, drawdown periods,
return tables); the HTML is rendered by `backtest.report` and cached in the artifact store beside the run's
other artifacts (a run's results never change, so a cached report is valid until the template changes:
the key carries `REPORT_VERSION`). Older runs get theirs generated on first request.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy.orm import Session

from backtest import repository as repo
from backtest.config import BacktestEnv
from backtest.domain import FORMAT_MEDIA
from backtest.report import REPORT_VERSION, render_report
from backtest.schemas import CurvesRead, ReportData, ReportManifest, ReportRun, ShareInclude
from backtest.service import results
from backtest.service._common import backtest_read, owned_backtest, owned_run
from backtest.views import PageQuery
from platform_core.errors import NotFound
from user_auth.principal import Principal

FIRST_ROWS = 20
DRAWDOWN_PERIODS = 5
CURVE_POINTS = 3000
HISTOGRAM_BINS = 40
EVERYTHING = ShareInclude(trades=True, positions=True)


def _frame(env: BacktestEnv, row: repo.RunRow, kind: str) -> pl.DataFrame:
    ref = (row.artifacts or {}).get(kind)
    if ref is None:
        return pl.DataFrame()
    return pl.read_parquet(io.BytesIO(env.store.get(ref["key"])))


def succeeded_run(session: Session, principal: Principal, run_id: uuid.UUID) -> repo.RunRow:
    """One of the caller's runs that has results (NOT_FOUND otherwise, like an artifact of an unfinished run)."""
    row = owned_run(session, principal, run_id)
    if row.metrics is None or not row.artifacts or "equity" not in row.artifacts:
        raise NotFound(
            "run has no report yet (a report exists once the run succeeds)",
            details={"run_id": str(run_id), "type": "report"},
        )
    return row


def report_data(
    session: Session,
    env: BacktestEnv,
    principal: Principal,
    run_id: uuid.UUID,
    include: ShareInclude = EVERYTHING,
) -> ReportData:
    """Everything the report of one of the caller's succeeded runs shows; trades and blocked orders, and
    positions, only when `include` says so."""
    row = succeeded_run(session, principal, run_id)
    return report_data_of(session, env, principal, row, include)


def report_data_of(
    session: Session, env: BacktestEnv, principal: Principal, row: repo.RunRow, include: ShareInclude
) -> ReportData:
    """The report's data of a succeeded run of `principal`: the curves, drawdown periods, return tables and
    pages come from `service.results` (the functions behind `/api/runs/{id}/curves|drawdowns|returns|trades|
    orders|positions`); only the counts by reason, the fee totals and the return histogram, which no result
    view serves, are computed here from the run's artifacts."""
    bt = backtest_read(owned_backtest(session, principal, row.backtest_id))
    metrics, manifest, c = dict(row.metrics or {}), dict(row.manifest or {}), bt.context
    curves = results.run_curves(session, env, principal, row.id, points=CURVE_POINTS)
    tables = results.return_tables(session, env, principal, row.id)
    trades = blocked = positions = None
    trade_total = None
    if include.trades:
        page = results.page_trades(session, env, principal, row.id, PageQuery(limit=FIRST_ROWS))
        trades, trade_total = page.items, page.total
        blocked = _blocked_orders(session, env, principal, row.id)
    if include.positions:
        last = PageQuery(start=curves.end, end=curves.end, sort="-market_value", limit=FIRST_ROWS * 5)
        positions = results.page_positions(session, env, principal, row.id, last).items
    orders, fills, equity = _frame(env, row, "orders"), _frame(env, row, "fills"), _frame(env, row, "equity")
    return ReportData(
        run=ReportRun(
            run_id=row.id,
            strategy_name=bt.strategy.strategy_name,
            version_number=bt.strategy.version_number,
            params=dict(row.params),
            universe=c.universe,
            frequency=c.frequency,
            window=c.window,
            datasource=c.datasource,
            datasource_version=c.datasource_version,
            adjust=c.adjust,
            benchmark=c.benchmark,
            initial_cash=c.initial_cash,
            rules=c.rules.model_dump(mode="json"),
            completed_at=row.completed_at,
        ),
        metrics=metrics,
        manifest=ReportManifest(
            engine_version=manifest.get("engine_version"),
            rulebook_version=manifest.get("rulebook_version"),
            preset=manifest.get("preset"),
            fill=manifest.get("fill"),
            strategy_hash=manifest.get("strategy_hash") or bt.strategy.content_hash,
            data_hash=manifest.get("data_hash"),
            snapshot_id=(manifest.get("data") or {}).get("snapshot_id") or c.datasource_version,
            bars=manifest.get("bars"),
            period=[str(p) for p in manifest["period"]] if manifest.get("period") else None,
        ),
        curves=_rebased(curves, daily=c.frequency == "1d"),
        drawdowns=results.drawdown_periods(session, env, principal, row.id, top=DRAWDOWN_PERIODS),
        monthly=tables.monthly,
        yearly=tables.yearly,
        distribution=_distribution(equity),
        fees=_fees(fills),
        orders_by_reason=_orders_by_reason(orders),
        orders_by_tag=_orders_by_tag(orders),
        trades=trades,
        trade_total=trade_total,
        blocked_orders=blocked,
        positions=positions,
    )


def _rebased(curves: CurvesRead, *, daily: bool) -> dict[str, Any]:
    """The chart's series: equity and the benchmark's as wealth (1 at the start), the drawdown as is."""
    initial = curves.initial_cash
    ts = [t.date().isoformat() if daily else t.isoformat() for t in curves.ts]
    bench = curves.benchmark and [None if v is None else round(v / initial, 6) for v in curves.benchmark]
    return {
        "ts": ts,
        "equity": [round(v / initial, 6) for v in curves.equity],
        "drawdown": [round(v, 6) for v in curves.drawdown],
        "benchmark": bench,
        "method": curves.method,
        "rows": curves.rows,
    }


def _blocked_orders(session: Session, env: BacktestEnv, principal: Principal, run_id: uuid.UUID) -> list[Any]:
    """The first orders not fully filled (partial or rejected), in time order."""
    first = [
        order
        for status in ("partial", "rejected")
        for order in results.page_orders(
            session, env, principal, run_id, PageQuery(status=status, sort="ts", limit=FIRST_ROWS)
        ).items
    ]
    return sorted(first, key=lambda o: o.ts)[:FIRST_ROWS]


# --- the HTML ------------------------------------------------------------------------------------------


def _distribution(equity: pl.DataFrame) -> dict[str, Any]:
    """Histogram of the per-bar returns (the first bar, which has none, left out)."""
    if equity.height < 2 or "returns" not in equity.columns:
        return {"edges": [], "counts": []}
    returns = equity["returns"].drop_nulls().to_numpy()[1:]
    returns = returns[np.isfinite(returns)]
    if returns.size == 0:
        return {"edges": [], "counts": []}
    counts, edges = np.histogram(returns, bins=HISTOGRAM_BINS)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def _fees(fills: pl.DataFrame) -> dict[str, float]:
    """The fees paid, by kind (commission, stamp duty, transfer fee) and in total."""
    kinds = ("commission", "stamp_duty", "transfer_fee")
    parts = {k: float(fills[k].sum()) if k in fills.columns else 0.0 for k in kinds}
    return {**{k: round(v, 2) for k, v in parts.items()}, "total": round(sum(parts.values()), 2)}


def _orders_by_tag(orders: pl.DataFrame) -> list[dict[str, Any]]:
    """The orders an event-driven strategy labelled (`order_target(code, 0, reason="STOP_LOSS")`), counted by
    tag, side and status (most frequent first); none when the run has no `tag` column."""
    if "tag" not in orders.columns:
        return []
    tagged = orders.filter(pl.col("tag").is_not_null())
    counted = tagged.group_by(["tag", "side", "status"]).len(name="count")
    return counted.sort(["count", "tag", "side", "status"], descending=[True, False, False, False]).to_dicts()


def _orders_by_reason(orders: pl.DataFrame) -> list[dict[str, Any]]:
    """Orders not fully filled, counted by status and reason (most frequent first)."""
    if orders.is_empty():
        return []
    blocked = orders.filter(pl.col("status") != "filled")
    if blocked.is_empty():
        return []
    counted = blocked.group_by(["status", "reason"]).len(name="count")
    return counted.sort(["count", "status", "reason"], descending=[True, False, False], nulls_last=True).to_dicts()


# --- the HTML ------------------------------------------------------------------------------------------


def _include_tag(include: ShareInclude) -> str:
    return f"t{int(include.trades)}p{int(include.positions)}"


def _cache_key(row: repo.RunRow, include: ShareInclude, suffix: str) -> str:
    return f"{row.owner_id}/{row.id}/report-v{REPORT_VERSION}-{_include_tag(include)}.{suffix}"


def cached_report_data(
    session: Session, env: BacktestEnv, principal: Principal, row: repo.RunRow, include: ShareInclude
) -> ReportData:
    """`report_data_of`, kept in the artifact store beside the run's artifacts after its first use (a run's
    results never change; the key carries `REPORT_VERSION` and what is included)."""
    key = _cache_key(row, include, "json")
    if env.store.exists(key):
        return ReportData.model_validate_json(env.store.get(key))
    data = report_data_of(session, env, principal, row, include)
    env.store.put(key, data.model_dump_json().encode("utf-8"))
    return data


def report_html(
    session: Session, env: BacktestEnv, principal: Principal, row: repo.RunRow, include: ShareInclude = EVERYTHING
) -> bytes:
    """The report of a succeeded run as HTML bytes, from the artifact store's cache or rendered now (and
    cached)."""
    key = _cache_key(row, include, "html")
    if env.store.exists(key):
        return env.store.get(key)
    html = render_report(cached_report_data(session, env, principal, row, include)).encode("utf-8")
    env.store.put(key, html)
    return html


def run_report(session: Session, env: BacktestEnv, principal: Principal, run_id: uuid.UUID) -> tuple[str, str, bytes]:
    """(filename, media type, content) of the report of one of the caller's succeeded runs."""
    row = succeeded_run(session, principal, run_id)
    return f"{run_id}-report.html", FORMAT_MEDIA["html"], report_html(session, env, principal, row)
