"""The self-contained HTML reports of a run and of a sweep: a Jinja2 template (autoescaped; the data goes
in as JSON through `|tojson`), the vendored Apache ECharts (`static/echarts.min.js`, pinned, licence beside it) and the
report's own script and style, all inlined — the file makes no request to any host. A Content-Security-Policy
in the page itself (and in the share page's headers) allows only those two inline scripts (by hash), inline
styles and data:/blob: images, and no connections at all.

`render_report(data)` is pure: a `ReportData` in, the HTML text out. The service (`service.reports`)
builds the data from the same result functions as the API's curves and tables. `render_sweep_report(data)`
likewise renders a `SweepReportData` (`service.sweep_reports`: the sweep, its heatmap and Top-N) with the
sweep's script (`static/sweep.js`); both pages share one policy, which allows the three scripts by hash.
"""

from __future__ import annotations

import base64
import hashlib
import math
from functools import lru_cache
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from backtest.schemas import ReportData, SweepReportData

ECHARTS_VERSION = "6.1.0"  # npm `echarts`, dist/echarts.min.js; Apache-2.0 (static/ECHARTS-LICENSE, -NOTICE)
REPORT_VERSION = "1"  # bump when the template or its data change: cached reports are keyed by it

HEADLINE = (
    ("总收益", "total_return", "pct"),
    ("年化收益", "annual_return", "pct"),
    ("基准收益", "benchmark_return", "pct"),
    ("超额收益", "excess_return", "pct"),
    ("最大回撤", "max_drawdown", "pct"),
    ("夏普比率", "sharpe", "ratio"),
    ("索提诺比率", "sortino", "ratio"),
    ("卡玛比率", "calmar", "ratio"),
    ("年化波动", "volatility", "pct"),
    ("胜率", "win_rate", "pct"),
    ("成交回合", "trade_count", "int"),
    ("期末权益", "final_equity", "money"),
)
REASONS = {
    "INSUFFICIENT_CASH": "资金不足",
    "LIMIT_UP": "涨停无法买入",
    "LIMIT_DOWN": "跌停无法卖出",
    "SUSPENDED": "停牌",
    "T_PLUS_ONE": "T+1 限制",
    "LOT_SIZE": "不足一手",
    "VOLUME_CAP": "成交量上限",
    "NO_POSITION": "无持仓",
    "STOP_LOSS": "止损",
    "TAKE_PROFIT": "止盈",
    "TRAILING_STOP": "移动止损",
}


def _static(name: str) -> str:
    return (files("backtest.report") / "static" / name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


@lru_cache(maxsize=1)
def _assets() -> dict[str, Any]:
    echarts_js, report_js, sweep_js = _static("echarts.min.js"), _static("report.js"), _static("sweep.js")
    csp = (
        "default-src 'none'; "
        f"script-src {_sha256(echarts_js)} {_sha256(report_js)} {_sha256(sweep_js)}; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; connect-src 'none'; "
        "base-uri 'none'; form-action 'none'"
    )
    return {
        # our own packaged files, never user data: inlined verbatim (their hashes are in the policy)
        "echarts_js": Markup(echarts_js),  # noqa: S704
        "report_js": Markup(report_js),  # noqa: S704
        "sweep_js": Markup(sweep_js),  # noqa: S704
        "css": Markup(_static("report.css")),  # noqa: S704
        "csp": csp,
    }


def content_security_policy() -> str:
    """The page's policy, for the share page's response header too (plus `frame-ancestors`)."""
    return _assets()["csp"] + "; frame-ancestors 'none'"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("backtest.report", "templates"), autoescape=True, trim_blocks=True)
    env.globals.update(pct=pct, money=money, num=num, tone=tone, reason_label=reason_label)
    return env


def pct(value: Any, digits: int = 2) -> str:
    return "—" if not _finite(value) else f"{value * 100:.{digits}f}%"


def money(value: Any) -> str:
    return "—" if not _finite(value) else f"{value:,.2f}"


def num(value: Any, digits: int = 2) -> str:
    return "—" if not _finite(value) else f"{value:,.{digits}f}"


def tone(value: Any) -> str:
    return "" if not _finite(value) or value == 0 else ("pos" if value > 0 else "neg")


def reason_label(reason: Any) -> str:
    if not reason:
        return "—"
    return f"{REASONS[reason]}（{reason}）" if reason in REASONS else str(reason)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def heat_color(value: Any, scale: float) -> str:
    """Red for gains, green for losses (the A-share convention), deeper with the size of the move."""
    if not _finite(value) or scale <= 0:
        return "transparent"
    alpha = 0.08 + 0.72 * min(1.0, abs(value) / scale)
    rgb = "194, 53, 49" if value > 0 else "47, 143, 70"
    return f"rgba({rgb}, {alpha:.2f})"


def monthly_grid(monthly: list[dict[str, Any]], yearly: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Monthly returns as year rows × 12 month cells (text and colour), with the year's total."""
    values = [m["strategy"] for m in monthly if _finite(m.get("strategy"))]
    scale = min(0.15, max((abs(v) for v in values), default=0.0)) or 0.01
    by_year: dict[int, dict[int, Any]] = {}
    for m in monthly:  # period "YYYY-MM"
        year, month = (int(part) for part in str(m["period"]).split("-")[:2])
        by_year.setdefault(year, {})[month] = m.get("strategy")
    totals = {int(str(y["period"])[:4]): y.get("strategy") for y in yearly}
    rows = []
    for year in sorted(by_year):
        cells = [
            {"text": pct(by_year[year].get(month), 1) if month in by_year[year] else "",
             "color": heat_color(by_year[year].get(month), scale)}
            for month in range(1, 13)
        ]  # fmt: skip
        total = totals.get(year)
        rows.append(
            {"year": year, "cells": cells, "total": {"text": pct(total, 1), "color": heat_color(total, scale * 3)}}
        )
    return rows


def headline(metrics: dict[str, Any]) -> list[dict[str, str]]:
    shown = []
    for label, key, kind in HEADLINE:
        if key not in metrics:
            continue
        value = metrics[key]
        text = (
            pct(value) if kind == "pct" else money(value) if kind == "money" else num(value, 0 if kind == "int" else 2)
        )
        shown.append({"label": label, "text": text, "tone": tone(value) if kind == "pct" else ""})
    return shown


def render_report(data: ReportData) -> str:
    """The report of one run as one HTML document (UTF-8 text)."""
    assets = _assets()
    page = data.model_dump(mode="json")
    page["run"] = data.run  # dates as dates in the title
    chart_data = {"curves": page["curves"], "drawdowns": page["drawdowns"], "yearly": page["yearly"],
                  "distribution": page["distribution"]}  # fmt: skip
    return (
        _environment()
        .get_template("run.html.j2")
        .render(
            **page,
            headline=headline(data.metrics),
            monthly_grid=monthly_grid(page["monthly"], page["yearly"]),
            chart_data=chart_data,
            echarts_version=ECHARTS_VERSION,
            engine_label=data.manifest.engine_version or "",
            **assets,
        )
    )


STATUS = {"queued": "排队中", "running": "运行中", "succeeded": "已完成", "failed": "失败", "cancelled": "已取消",
          "early_stopped": "提前停止"}  # fmt: skip
SWEEP_COLUMNS = (
    ("sharpe", "夏普", "ratio"),
    ("total_return", "总收益", "pct"),
    ("annual_return", "年化", "pct"),
    ("max_drawdown", "最大回撤", "pct"),
    ("volatility", "波动", "pct"),
    ("calmar", "卡玛", "ratio"),
    ("trade_count", "回合", "int"),
)


def _metric_text(value: Any, kind: str) -> str:
    return pct(value) if kind == "pct" else num(value, 0 if kind == "int" else 2)


def _duration(ms: Any) -> str:
    if not _finite(ms):
        return "—"
    seconds = ms / 1000
    return f"{seconds:.1f} 秒" if seconds < 120 else f"{seconds / 60:.1f} 分钟"


def render_sweep_report(data: SweepReportData) -> str:
    """The report of one sweep as one HTML document (UTF-8 text)."""
    assets = {k: v for k, v in _assets().items() if k != "report_js"}
    opt = data.optimization
    columns = [c for c in SWEEP_COLUMNS if c[0] == opt.metric] + [c for c in SWEEP_COLUMNS if c[0] != opt.metric]
    swept = [p for p in data.parameters if p in (opt.spec.get("grid_spec") or {}) or p in (opt.spec.get("space") or {})]
    rows = [
        {
            "index": r.index,
            "params": [r.params.get(p) for p in swept],
            "status": r.status,
            "cells": [
                {"text": _metric_text((r.metrics or {}).get(key), kind), "tone": tone((r.metrics or {}).get(key))
                 if kind == "pct" else ""}
                for key, _, kind in columns
            ],
            "error": (r.error or {}).get("message"),
        }
        for r in data.top
    ]  # fmt: skip
    heat = data.heatmap.model_dump(mode="json") if data.heatmap else None
    return (
        _environment()
        .get_template("sweep.html.j2")
        .render(
            opt=opt,
            strategy_name=data.strategy_name,
            version_number=data.version_number,
            status_label=STATUS.get(opt.status, opt.status),
            wall=_duration(opt.budget.wall_ms),
            budget=_duration(opt.budget.budget_ms) if opt.budget.budget_ms else "不限",
            swept=swept,
            fixed={k: v for k, v in (opt.spec.get("params") or {}).items() if k not in swept},
            columns=columns,
            rows=rows,
            result_total=data.result_total,
            heatmap=heat,
            diagnostics=opt.diagnostics or {},
            chart_data={"heatmap": heat},
            echarts_version=ECHARTS_VERSION,
            engine_label="",
            **assets,
        )
    )
