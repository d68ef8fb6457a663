"""Pure parts of the report and the share links: expiry parsing, tokens and their hashes, link status, the
heatmap and headline helpers, and the renderer — autoescaped (a strategy name cannot inject markup or
script), the data only as JSON, the two inline scripts exactly the ones the page's policy allows by hash."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from backtest.domain import new_share_token, parse_expires_in, share_status, share_token_hash
from backtest.report import (
    ECHARTS_VERSION,
    content_security_policy,
    headline,
    heat_color,
    monthly_grid,
    render_report,
    render_sweep_report,
)
from backtest.schemas import (
    BestSoFar,
    BudgetUsed,
    DrawdownPeriod,
    Heatmap,
    OptimizationRead,
    OptimizationResult,
    PeriodReturn,
    ReportData,
    ReportManifest,
    ReportRun,
    SweepReportData,
    Window,
)
from backtest.service.reports import _distribution, _fees, _orders_by_reason, _orders_by_tag
from backtest.throttle import ShareThrottle
from platform_core.errors import InvalidInput, ServiceUnavailable


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", timedelta(seconds=30)), ("45m", timedelta(minutes=45)), ("12h", timedelta(hours=12)),
     ("7d", timedelta(days=7)), (" 30d ", timedelta(days=30))],
)  # fmt: skip
def test_expires_in_parses_a_number_and_a_unit(text: str, expected: timedelta) -> None:
    assert parse_expires_in(text, max_days=30) == expected


@pytest.mark.parametrize("text", ["", "7", "d", "7w", "1.5d", "-1d", "0m", "31d", "721h", "a week"])
def test_expires_in_refuses_malformed_zero_and_too_long(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_expires_in(text, max_days=30)
    assert caught.value.details["field"] == "expires_in"


def test_tokens_are_random_and_only_their_hash_is_kept() -> None:
    tokens = {new_share_token() for _ in range(100)}
    assert len(tokens) == 100
    token = tokens.pop()
    assert re.fullmatch(r"hs_[A-Za-z0-9_-]{43}", token)
    assert share_token_hash(token) == hashlib.sha256(token.encode()).hexdigest()
    assert token not in share_token_hash(token)


def test_a_link_is_revoked_expired_or_active() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert share_status(now + timedelta(seconds=1), None, now) == "active"
    assert share_status(now, None, now) == "expired"
    assert share_status(now + timedelta(days=1), now, now) == "revoked"


def test_heat_colours_are_red_for_gains_green_for_losses_and_deepen_with_size() -> None:
    assert heat_color(0.05, 0.10).startswith("rgba(194, 53, 49")
    assert heat_color(-0.05, 0.10).startswith("rgba(47, 143, 70")
    assert heat_color(None, 0.10) == heat_color(float("nan"), 0.10) == "transparent"
    alpha = [float(heat_color(v, 0.10).rsplit(",", 1)[1].rstrip(")")) for v in (0.01, 0.05, 0.10, 0.50)]
    assert alpha == sorted(alpha) and alpha[-1] == alpha[-2] == 0.80


def test_the_monthly_grid_has_a_row_per_year_with_twelve_cells_and_the_total() -> None:
    monthly = [{"period": "2023-11", "strategy": 0.02}, {"period": "2023-12", "strategy": -0.01},
               {"period": "2024-01", "strategy": 0.03}]  # fmt: skip
    yearly = [{"period": "2023", "strategy": 0.0098}, {"period": "2024", "strategy": 0.03}]
    rows = monthly_grid(monthly, yearly)
    assert [r["year"] for r in rows] == [2023, 2024]
    assert [c["text"] for c in rows[0]["cells"]] == [""] * 10 + ["2.0%", "-1.0%"]
    assert [c["text"] for c in rows[1]["cells"]][:2] == ["3.0%", ""]
    assert (rows[0]["total"]["text"], rows[1]["total"]["text"]) == ("1.0%", "3.0%")


def test_headline_shows_the_metrics_the_run_has_in_order() -> None:
    shown = headline({"sharpe": 1.234, "total_return": -0.1, "trade_count": 7, "final_equity": 1234567.891})
    assert [(m["label"], m["text"], m["tone"]) for m in shown] == [
        ("总收益", "-10.00%", "neg"),
        ("夏普比率", "1.23", ""),
        ("成交回合", "7", ""),
        ("期末权益", "1,234,567.89", ""),
    ]


def test_fees_orders_by_reason_and_distribution_from_frames() -> None:
    fills = pl.DataFrame({"commission": [5.0, 7.5], "stamp_duty": [0.0, 10.25], "transfer_fee": [0.1, 0.2]})
    assert _fees(fills) == {"commission": 12.5, "stamp_duty": 10.25, "transfer_fee": 0.3, "total": 23.05}
    orders = pl.DataFrame(
        {"status": ["filled", "partial", "rejected", "rejected", "rejected"],
         "reason": [None, "INSUFFICIENT_CASH", "LIMIT_UP", "LIMIT_UP", "SUSPENDED"]}
    )  # fmt: skip
    assert _orders_by_reason(orders) == [
        {"status": "rejected", "reason": "LIMIT_UP", "count": 2},
        {"status": "partial", "reason": "INSUFFICIENT_CASH", "count": 1},
        {"status": "rejected", "reason": "SUSPENDED", "count": 1},
    ]
    assert _orders_by_tag(orders) == []  # no labels: a vectorised run has no tag column
    tagged = orders.with_columns(
        side=pl.Series(["sell", "buy", "sell", "sell", "buy"]), tag=pl.Series([None, "ENTRY", "STOP", "STOP", None])
    )
    assert _orders_by_tag(tagged) == [
        {"tag": "STOP", "side": "sell", "status": "rejected", "count": 2},
        {"tag": "ENTRY", "side": "buy", "status": "partial", "count": 1},
    ]
    equity = pl.DataFrame({"returns": [0.0, 0.01, -0.02, 0.01, 0.03]})
    dist = _distribution(equity)
    assert sum(dist["counts"]) == 4 and len(dist["edges"]) == len(dist["counts"]) + 1
    assert dist["edges"][0] == -0.02 and dist["edges"][-1] == pytest.approx(0.03)


EVIL = '</script><script>alert("x")</script><img src=x onerror=alert(1)>'


def _data(name: str = EVIL) -> ReportData:
    return ReportData(
        run=ReportRun(
            run_id=uuid.uuid4(), strategy_name=name, version_number=3, params={"n<b>": "</script>"},
            universe=["600010.SH"], frequency="1d", window=Window(start=date(2024, 1, 1), end=date(2024, 2, 1)),
            datasource="sample", datasource_version="snap_1", adjust="qfq", benchmark=None, initial_cash=1e6,
            rules={"preset": "a-share", "fill": "next_open"}, completed_at=None,
        ),
        metrics={"total_return": 0.1, "sharpe": 1.5},
        manifest=ReportManifest(engine_version="0.1.0", rulebook_version="cn", preset="a-share", fill="next_open",
                                strategy_hash="sha256:ab", data_hash="sha256:cd", snapshot_id="snap_1", bars=3,
                                period=["2024-01-02", "2024-01-04"]),
        curves={"ts": ["2024-01-02", "2024-01-03", "2024-01-04"], "equity": [1.0, 1.1, 1.05],
                "drawdown": [0.0, 0.0, -0.045], "benchmark": None},
        drawdowns=[DrawdownPeriod(peak=date(2024, 1, 3), trough=date(2024, 1, 4), recovery=None, depth=-0.045,
                                  sessions=1, peak_equity=1.1e6, trough_equity=1.05e6)],
        monthly=[PeriodReturn(period="2024-01", strategy=0.05, benchmark=None, excess=None)],
        yearly=[PeriodReturn(period="2024", strategy=0.05, benchmark=None, excess=None)],
        distribution={"edges": [-0.05, 0.0, 0.1], "counts": [1, 1]},
        fees={"commission": 1.0, "stamp_duty": 0.0, "transfer_fee": 0.0, "total": 1.0},
        orders_by_reason=[], trades=None, trade_total=None, blocked_orders=None, positions=None,
    )  # fmt: skip


def test_a_strategy_name_cannot_inject_markup_or_script() -> None:
    page = render_report(_data())
    assert EVIL not in page and "<img src=x" not in page
    assert html.escape(EVIL, quote=False).replace('"', "&#34;") in page or "&lt;/script&gt;" in page
    assert page.count("<script") == 3  # the data (JSON, not run) and the two allowed scripts
    [data] = re.findall(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert "</" not in data and json.loads(data)["curves"]["equity"] == [1.0, 1.1, 1.05]


def test_the_inline_scripts_are_exactly_the_ones_the_policy_allows() -> None:
    page = render_report(_data("ma_cross"))
    [policy] = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    policy = html.unescape(policy)
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 2 and f"ECharts {ECHARTS_VERSION}" in page
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    for directive in ("default-src 'none'", "connect-src 'none'", "img-src data: blob:", "base-uri 'none'"):
        assert directive in policy
    assert content_security_policy() == policy + "; frame-ancestors 'none'"
    assert "研究用途，不构成投资建议" in page and "可复现清单" in page


def test_the_share_throttle_fails_closed_when_redis_is_unreachable() -> None:
    throttle = ShareThrottle("redis://127.0.0.1:1/0", timeout_s=0.2)
    try:
        with pytest.raises(ServiceUnavailable) as caught:
            throttle.check("share_view", [("10/minute", "token:abc")])
        assert caught.value.headers == {"Retry-After": "5"}
    finally:
        throttle.close()


def _sweep_data(name: str, error: str) -> SweepReportData:
    now = datetime(2024, 3, 1, tzinfo=UTC)
    opt = OptimizationRead(
        optimization_id=uuid.uuid4(), backtest_id=uuid.uuid4(), mode="grid", status="early_stopped", total=3,
        evaluated=2, failed=1, progress=66.67, metric="sharpe", direction="max",
        best=BestSoFar(index=0, params={"fast": 5, "slow": 20}, metric=1.25),
        budget=BudgetUsed(evaluations=2, max_evals=None, wall_ms=1500, budget_ms=600000),
        reason="stopped at evaluation #2: no improvement", eta_ms=None, concurrency_limit=2, batch_size=1,
        early_stop={"patience": 1},
        spec={"grid_spec": {"fast": [5, 10], "slow": [20]}, "params": {"fast": 5, "slow": 20}},
        diagnostics={"evaluations": 12, "periods": 300, "pbo": {"pbo": 0.25, "splits": 70, "blocks": 8},
                     "deflated_sharpe": {"index": 0, "sharpe_annualised": 1.3, "expected_max_sharpe_annualised": 0.8,
                                         "dsr": 0.93, "trials": 12}},
        batches=[], created_at=now, started_at=now, finished_at=now,
    )  # fmt: skip
    heat = Heatmap(x="fast", y="slow", metric="sharpe", aggregation="best (max) over the other parameters",
                   x_values=[5, 10], y_values=[20], z=[[1.25, None]])  # fmt: skip
    top = [
        OptimizationResult(index=0, params={"fast": 5, "slow": 20}, status="succeeded",
                           metrics={"sharpe": 1.25, "total_return": 0.1}, error=None),
        OptimizationResult(index=1, params={"fast": 10, "slow": 20}, status="failed", metrics=None,
                           error={"message": error}),
    ]  # fmt: skip
    return SweepReportData(optimization=opt, strategy_name=name, version_number=2, parameters=["fast", "slow"],
                           heatmap=heat, top=top, result_total=2)  # fmt: skip


def test_the_sweep_report_escapes_text_and_its_scripts_are_the_ones_the_policy_allows() -> None:
    hostile = '</script><script>alert("x")</script><img src=x onerror=alert(1)>'
    page = render_sweep_report(_sweep_data(hostile, hostile))
    assert "<img src=x" not in page and "&lt;/script&gt;&lt;script&gt;" in page
    [policy] = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 2
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in html.unescape(policy)
    assert content_security_policy() == html.unescape(policy) + "; frame-ancestors 'none'"
    [data] = re.findall(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert json.loads(data)["heatmap"]["z"] == [[1.25, None]]
    assert "提前停止（early_stopped）" in page and "stopped at evaluation #2" in page and "patience=1" in page
    assert '<td id="dsr">0.9300</td>' in page and '<td id="pbo">25.0%</td>' in page
    assert "耗时 1.5 秒 · 时间预算 10.0 分钟" in page
