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
from backtest.domain import FORMAT_MEDIA, clean_json
from backtest.report import REPORT_VERSION, render_report
from backtest.schemas import ReportData, ReportManifest, ReportRun, ShareInclude
from backtest.service._common import backtest_read, owned_backtest, owned_run
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
    bt = backtest_read(owned_backtest(session, principal, row.backtest_id))
    metrics, manifest = dict(row.metrics or {}), dict(row.manifest or {})
    equity = _frame(env, row, "equity")
    orders, fills = _frame(env, row, "orders"), _frame(env, row, "fills")
    trades = _frame(env, row, "trades") if include.trades else None
    positions = _frame(env, row, "positions") if include.positions else None
    c = bt.context
    curves = _curves(equity, c.initial_cash)
    monthly, yearly = _return_tables(equity, c.initial_cash)
    blocked = orders.filter(pl.col("status") != "filled") if orders.height else orders
    data = {
        "run": ReportRun(
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
        "metrics": metrics,
        "manifest": ReportManifest(
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
        "curves": curves,
        "drawdowns": _drawdown_periods(equity),
        "monthly": monthly,
        "yearly": yearly,
        "distribution": _distribution(equity),
        "fees": _fees(fills),
        "orders_by_reason": _orders_by_reason(blocked),
        "trades": _rows(trades.head(FIRST_ROWS)) if trades is not None else None,
        "trade_total": trades.height if trades is not None else None,
        "blocked_orders": _rows(blocked.select(_present(blocked, ORDER_COLUMNS)).head(FIRST_ROWS))
        if include.trades
        else None,
        "positions": _last_positions(positions) if positions is not None else None,
    }
    return ReportData(**clean_json_model(data))


ORDER_COLUMNS = ("date", "symbol", "side", "quantity", "filled_quantity", "status", "reason")


def clean_json_model(data: dict[str, Any]) -> dict[str, Any]:
    """NaN/inf → None in the plain parts (models are validated as they are)."""
    return {k: v if hasattr(v, "model_dump") else clean_json(v) for k, v in data.items()}


def _present(frame: pl.DataFrame, columns: tuple[str, ...]) -> list[str]:
    return [c for c in columns if c in frame.columns]


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in frame.to_dicts()]


def _curves(equity: pl.DataFrame, initial_cash: float) -> dict[str, Any]:
    """Equity (and the benchmark's, when the artifact has it) rebased to 1 at the start, and the drawdown,
    thinned to about CURVE_POINTS points."""
    if equity.is_empty():
        return {"ts": [], "equity": [], "drawdown": [], "benchmark": None}
    step = max(1, equity.height // CURVE_POINTS)
    thin = equity if step == 1 else equity.gather_every(step)
    ts_col = "date" if equity.select(pl.col("ts").dt.time().n_unique()).item() <= 1 else "ts"
    ts = [t.isoformat() for t in thin[ts_col].to_list()]
    bench = None
    if "benchmark" in thin.columns:
        bench = [None if v is None else round(v / initial_cash, 6) for v in thin["benchmark"].to_list()]
    return {
        "ts": ts,
        "equity": [round(v / initial_cash, 6) for v in thin["equity"].to_list()],
        "drawdown": [round(v, 6) for v in thin["drawdown"].to_list()],
        "benchmark": bench,
    }


def _drawdown_periods(equity: pl.DataFrame, n: int = DRAWDOWN_PERIODS) -> list[dict[str, Any]]:
    """The `n` deepest drawdown periods: peak, trough, recovery (None if not recovered), depth, sessions."""
    if equity.is_empty():
        return []
    values = equity["equity"].to_numpy()
    dates = [d.isoformat() for d in equity["date"].to_list()]
    peaks = np.maximum.accumulate(values)
    periods, start = [], None
    for i, (v, p) in enumerate(zip(values, peaks, strict=True)):
        if v < p and start is None:
            start = i - 1
        elif v >= p and start is not None:
            periods.append((start, i))
            start = None
    if start is not None:
        periods.append((start, None))
    found = []
    for s, e in periods:
        segment = values[s + 1 : e] if e is not None else values[s + 1 :]
        trough = s + 1 + int(np.argmin(segment))
        found.append(
            {
                "peak": dates[s],
                "trough": dates[trough],
                "recovery": dates[e] if e is not None else None,
                "depth": float(values[trough] / values[s] - 1),
                "sessions": (e if e is not None else len(values) - 1) - s,
            }
        )
    return sorted(found, key=lambda d: d["depth"])[:n]


def _return_tables(equity: pl.DataFrame, initial_cash: float) -> tuple[list[dict], list[dict]]:
    if equity.is_empty():
        return [], []
    has_bench = "benchmark" in equity.columns
    cols = [pl.col("equity").last()] + ([pl.col("benchmark").last()] if has_bench else [])
    by = equity.with_columns(year=pl.col("date").dt.year(), month=pl.col("date").dt.month())

    def table(keys: list[str]) -> list[dict]:
        frame = by.group_by(keys, maintain_order=True).agg(cols).sort(keys)
        prev_e, prev_b, out = initial_cash, initial_cash, []
        for r in frame.to_dicts():
            strat = r["equity"] / prev_e - 1
            bench = r["benchmark"] / prev_b - 1 if has_bench and r.get("benchmark") else None
            out.append(
                {**{k: r[k] for k in keys}, "strategy": strat, "benchmark": bench,
                 "excess": strat - bench if bench is not None else None}
            )  # fmt: skip
            prev_e = r["equity"]
            prev_b = r["benchmark"] if has_bench and r.get("benchmark") else prev_b
        return out

    return table(["year", "month"]), table(["year"])


def _distribution(equity: pl.DataFrame) -> dict[str, Any]:
    if equity.height < 2 or "returns" not in equity.columns:
        return {"edges": [], "counts": []}
    returns = equity["returns"].drop_nulls().to_numpy()[1:]
    returns = returns[np.isfinite(returns)]
    if returns.size == 0:
        return {"edges": [], "counts": []}
    counts, edges = np.histogram(returns, bins=HISTOGRAM_BINS)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def _fees(fills: pl.DataFrame) -> dict[str, float]:
    parts = {
        k: float(fills[k].sum()) if k in fills.columns else 0.0 for k in ("commission", "stamp_duty", "transfer_fee")
    }
    return {**{k: round(v, 2) for k, v in parts.items()}, "total": round(sum(parts.values()), 2)}


def _orders_by_reason(blocked: pl.DataFrame) -> list[dict[str, Any]]:
    if blocked.is_empty():
        return []
    counted = (
        blocked.group_by(["status", "reason"]).len(name="count").sort(["count", "status"], descending=[True, False])
    )
    return counted.to_dicts()


def _last_positions(positions: pl.DataFrame) -> list[dict[str, Any]]:
    if positions.is_empty():
        return []
    last = positions.filter(pl.col("date") == pl.col("date").max()).sort("market_value", descending=True)
    return _rows(last.head(FIRST_ROWS * 5))


# --- the HTML ------------------------------------------------------------------------------------------


def _include_tag(include: ShareInclude) -> str:
    return f"t{int(include.trades)}p{int(include.positions)}"


def report_html(
    session: Session, env: BacktestEnv, principal: Principal, row: repo.RunRow, include: ShareInclude = EVERYTHING
) -> bytes:
    """The report of a succeeded run as HTML bytes, from the artifact store's cache or rendered now (and
    cached)."""
    key = f"{row.owner_id}/{row.id}/report-v{REPORT_VERSION}-{_include_tag(include)}.html"
    if env.store.exists(key):
        return env.store.get(key)
    html = render_report(report_data_of(session, env, principal, row, include)).encode("utf-8")
    env.store.put(key, html)
    return html


def run_report(session: Session, env: BacktestEnv, principal: Principal, run_id: uuid.UUID) -> tuple[str, str, bytes]:
    """(filename, media type, content) of the report of one of the caller's succeeded runs."""
    row = succeeded_run(session, principal, run_id)
    return f"{run_id}-report.html", FORMAT_MEDIA["html"], report_html(session, env, principal, row)
