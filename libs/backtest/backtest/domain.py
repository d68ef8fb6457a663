"""Pure rules of backtest runs: priorities, budgets, engine configuration, request fingerprints, and the
conversions of stored artifacts into download formats. No database, HTTP, CLI or queue."""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from platform_core.errors import InvalidInput
from quant import EngineConfig
from quant.results import for_export
from quant.stops import ExitsError, with_declared

# `metrics` is not stored as a file: it is the run's scalar metrics as a (metric, value) table.
ARTIFACT_TYPES = ("equity", "trades", "orders", "positions", "fills", "logs", "metrics", "report")
FORMAT_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
}
# The formats of each artifact type: the stored tables in any tabular format, the report as one HTML file.
TABLE_FORMATS = ("csv", "json", "parquet", "xlsx")
REPORT_FORMATS = ("html",)
HEADER_LANGUAGES = ("en", "zh")


def default_format(kind: str) -> str:
    return "html" if kind == "report" else "csv"


def formats_of(kind: str) -> tuple[str, ...]:
    return REPORT_FORMATS if kind == "report" else TABLE_FORMATS


UTF8_BOM = b"\xef\xbb\xbf"
# The headline metrics of a run, in the order both CLIs (`local` and the service commands) show those it has.
SUMMARY_METRICS = ("total_return", "annual_return", "volatility", "sharpe", "sortino", "max_drawdown", "calmar",
                   "benchmark_return", "excess_return", "trade_count", "win_rate", "order_count", "fill_count",
                   "blocked_order_count", "total_fees", "final_equity")  # fmt: skip
# The metrics a run list sorts by (`sort=-stats.sharpe`): every scalar metric of a run's stats.
RUN_SORT_METRICS = (*SUMMARY_METRICS, "alpha", "beta", "tracking_error", "information_ratio", "profit_factor",
                    "average_win", "average_loss", "average_holding_sessions", "turnover", "exposure", "sessions",
                    "absolute_pnl", "daily_win_rate", "best_trade", "worst_trade", "average_trade", "expectancy",
                    "max_consecutive_wins", "max_consecutive_losses")  # fmt: skip
RUN_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "early_stopped")


def queue_of(priority: str | int | None, default: str = "default") -> str:
    """The job queue of a run priority: a name as is; 7–9 high, 4–6 default, 1–3 low."""
    if priority is None:
        return default
    if isinstance(priority, str):
        return priority
    return "high" if priority >= 7 else "default" if priority >= 4 else "low"


def budget_seconds(budget_ms: int | None, default_s: int) -> int:
    """Whole seconds of a budget in milliseconds (rounded up); the default when none is given."""
    return default_s if budget_ms is None else max(1, math.ceil(budget_ms / 1000))


RUN_RULES = ("audit_lookahead",)  # rules of the run itself, not of the simulator


def engine_config(
    rules: dict[str, Any], initial_cash: float, source: str | None = None, *, field: str = "strategy"
) -> EngineConfig:
    """The engine configuration of a backtest: its rules preset with the given overrides, plus the exit
    rules the strategy `source` declares (`EXITS = exits(...)`) where the rules set none (a bad declaration:
    INVALID_INPUT naming `field`)."""
    given = {k: v for k, v in rules.items() if v is not None and k not in RUN_RULES}
    config = EngineConfig(initial_cash=initial_cash, **given)
    if source is None:
        return config
    try:
        return with_declared(config, source)
    except ExitsError as exc:
        raise InvalidInput(f"the strategy's exit rules are invalid: {exc}", field=field) from None


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def request_hash(scope: str, body: Any) -> str:
    """Fingerprint of one POST (endpoint + path ids + body) for Idempotency-Key comparisons."""
    return hashlib.sha256(canonical({"scope": scope, "body": body}).encode()).hexdigest()


def logs_frame(lines: list[tuple[str, str, str]]) -> pl.DataFrame:
    """The run log as a frame (seq, stage, level, message). Deterministic: no wall-clock times."""
    return pl.DataFrame(
        {
            "seq": list(range(1, len(lines) + 1)),
            "stage": [s for s, _, _ in lines],
            "level": [lv for _, lv, _ in lines],
            "message": [m for _, _, m in lines],
        },
        schema={"seq": pl.Int64, "stage": pl.Utf8, "level": pl.Utf8, "message": pl.Utf8},
    )


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    """Parquet with fixed settings, so identical frames give identical bytes."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=False)
    return buffer.getvalue()


MONEY_COLUMNS = frozenset(
    {"cash", "market_value", "equity", "value", "commission", "stamp_duty", "transfer_fee", "fees", "cash_flow", "pnl",
     "dividends", "benchmark_equity"}
)  # fmt: skip


def _money_to_fen(frame: pl.DataFrame) -> pl.DataFrame:
    """CNY amounts rounded to the fen for people (binary floating point leaves 1e-12 noise behind)."""
    money = [c for c in frame.columns if c in MONEY_COLUMNS and frame.schema[c].is_float()]
    return frame.with_columns(pl.col(money).round(2)) if money else frame


FRACTION_COLUMNS = frozenset({"return", "returns", "drawdown", "weight"})
PRICE_COLUMNS = frozenset({"price", "entry_price", "exit_price", "close"})
# The one mapping of export headers (and metric names) to Chinese, for `headers=zh`.
ZH_NAMES = {
    "date": "日期", "ts": "时间", "symbol": "代码", "side": "方向", "quantity": "数量", "qty": "数量",
    "shares": "持股数量", "target_qty": "目标数量", "requested_qty": "委托数量", "filled_qty": "成交数量",
    "price": "价格", "value": "成交金额", "commission": "佣金", "stamp_duty": "印花税", "transfer_fee": "过户费",
    "fees": "费用合计", "cash_flow": "现金流", "status": "状态", "reason": "原因", "entry_date": "买入日期",
    "exit_date": "卖出日期", "entry_price": "买入价格", "exit_price": "卖出价格", "pnl": "盈亏", "return": "收益率",
    "holding_sessions": "持有交易日", "dividends": "分红", "close": "收盘价", "market_value": "市值", "cash": "现金",
    "equity": "权益", "returns": "日收益率", "drawdown": "回撤", "benchmark_equity": "基准权益", "seq": "序号",
    "stage": "阶段", "level": "级别", "message": "信息", "metric": "指标", "figure": "数值", "tag": "标签",
    "total_return": "总收益率", "annual_return": "年化收益率", "volatility": "年化波动率", "sharpe": "夏普比率",
    "sortino": "索提诺比率", "max_drawdown": "最大回撤", "calmar": "卡玛比率", "benchmark_return": "基准收益率",
    "excess_return": "超额收益率", "alpha": "阿尔法", "beta": "贝塔", "tracking_error": "跟踪误差",
    "information_ratio": "信息比率", "trade_count": "交易次数", "win_rate": "胜率", "daily_win_rate": "日胜率",
    "profit_factor": "盈亏比", "order_count": "委托数", "fill_count": "成交数", "blocked_order_count": "未成交委托数",
    "total_fees": "总费用", "final_equity": "期末权益", "initial_cash": "初始资金", "absolute_pnl": "总盈亏",
    "turnover": "换手率", "exposure": "持仓时间占比", "sessions": "交易日数", "best_trade": "最佳交易",
    "worst_trade": "最差交易", "average_trade": "平均每笔盈亏", "average_win": "平均盈利", "average_loss": "平均亏损",
    "average_holding_sessions": "平均持有交易日", "expectancy": "期望收益", "max_consecutive_wins": "最大连胜",
    "max_consecutive_losses": "最大连亏",
}  # fmt: skip


def metrics_frame(metrics: dict[str, Any] | None) -> pl.DataFrame:
    """A run's scalar metrics as a (metric, figure) table, in the summary order first (the `metrics` export;
    fractions stay fractions, as in the API); nested ones (monthly/yearly returns) have their own routes."""
    scalars = {k: v for k, v in (metrics or {}).items() if isinstance(v, int | float) and not isinstance(v, bool)}
    order = [k for k in SUMMARY_METRICS if k in scalars] + sorted(k for k in scalars if k not in SUMMARY_METRICS)
    values = [float(scalars[k]) if math.isfinite(scalars[k]) else None for k in order]
    return pl.DataFrame({"metric": order, "figure": values}, schema={"metric": pl.Utf8, "figure": pl.Float64})


def presentable(frame: pl.DataFrame, *, daily_open_fills: bool = False) -> pl.DataFrame:
    """A stored table as people download it (the stored Parquet, hashed in the manifest, stays as is): CNY
    to the fen, then the engine's export rules (`quant.results.for_export`): whole share counts as integers
    and, on a daily run filled at the next open, no 15:00 `ts` on orders and fills."""
    return for_export(_money_to_fen(frame), open_fills_on_daily_bars=daily_open_fills)


def convert(parquet: bytes | pl.DataFrame, fmt: str, *, headers: str = "en", daily_open_fills: bool = False) -> bytes:
    """A stored Parquet artifact (or a derived table) in `fmt`: parquet as is (full precision); csv UTF-8
    (with BOM, for spreadsheets) with a header row; json an array of row objects (dates as ISO strings);
    xlsx one typed sheet (dates as dates, integers as integers, numbers as numbers). Except in parquet the
    table is `presentable`, and `headers="zh"` names the csv/xlsx columns in Chinese (`ZH_NAMES`)."""
    if fmt == "parquet" and isinstance(parquet, bytes):
        return parquet
    frame = pl.read_parquet(io.BytesIO(parquet)) if isinstance(parquet, bytes) else parquet
    if fmt == "parquet":
        return parquet_bytes(frame)
    frame = presentable(frame, daily_open_fills=daily_open_fills)
    if fmt == "json":
        rows = clean_json(frame.to_dicts())
        return json.dumps(rows, ensure_ascii=False, default=_json_value, allow_nan=False).encode("utf-8")
    if headers == "zh":
        frame = _zh(frame)
    if fmt == "xlsx":
        return xlsx_bytes(frame)
    return UTF8_BOM + frame.write_csv().encode("utf-8")


def _zh(frame: pl.DataFrame) -> pl.DataFrame:
    renamed = frame.rename({c: ZH_NAMES[c] for c in frame.columns if c in ZH_NAMES})
    if "metric" in frame.columns:  # the metrics table: its row names too
        renamed = renamed.with_columns(pl.col(ZH_NAMES["metric"]).replace(ZH_NAMES))
    return renamed


def xlsx_bytes(frame: pl.DataFrame, sheet: str = "data") -> bytes:
    """One worksheet with typed cells (polars `write_excel` over xlsxwriter): dates `yyyy-mm-dd`, times
    `yyyy-mm-dd hh:mm`, integers without decimals, CNY with thousands and fen, fractions as percentages."""
    names = {v: k for k, v in ZH_NAMES.items()}  # a Chinese header still formats as its column
    formats: dict[str, str] = {}
    for column in frame.columns:
        base = names.get(column, column)
        if not frame.schema[column].is_float():
            continue
        if base == "figure":  # the metrics table mixes kinds: Excel's General shows each as it is
            continue
        if base in MONEY_COLUMNS:
            formats[column] = "#,##0.00"
        elif base in FRACTION_COLUMNS:
            formats[column] = "0.00%"
        elif base in PRICE_COLUMNS:
            formats[column] = "0.000"
        else:
            formats[column] = "0.000000"
    buffer = io.BytesIO()
    frame.write_excel(
        buffer,
        worksheet=sheet,
        # General for other floats: polars' default paints negatives red, which reads "up" in China
        dtype_formats={pl.Date: "yyyy-mm-dd", pl.Datetime: "yyyy-mm-dd hh:mm", pl.Int64: "0", pl.Float64: "General"},
        column_formats=formats or None,
        autofit=True,
        freeze_panes="A2",
    )
    return buffer.getvalue()


def _json_value(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def clean_json(value: Any) -> Any:
    """NaN/inf → None recursively (PostgreSQL JSONB and strict JSON refuse them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value


# --- share links ---------------------------------------------------------------------------------------

SHARE_TOKEN_PREFIX = "hs_"  # noqa: S105 - recognisable, so the log redaction masks a token wherever it appears
_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_expires_in(text: str, max_days: int) -> timedelta:
    """`30m`, `12h`, `7d` → a timedelta; INVALID_INPUT `expires_in` when malformed, zero or above the maximum."""
    match = _DURATION.match(text or "")
    if match is None:
        raise InvalidInput(
            f"expires_in must be a number and a unit s, m, h or d (e.g. 7d), got {text!r}", field="expires_in"
        )
    lifetime = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    if lifetime <= timedelta(0):
        raise InvalidInput("expires_in must be positive", field="expires_in")
    if lifetime > timedelta(days=max_days):
        raise InvalidInput(f"expires_in is at most {max_days}d", field="expires_in", details={"max_days": max_days})
    return lifetime


def new_share_token() -> str:
    """An unguessable link token: 32 random bytes, URL-safe."""
    return SHARE_TOKEN_PREFIX + secrets.token_urlsafe(32)


def share_token_hash(token: str) -> str:
    """What is stored of a token (and what a visit's token is looked up by)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def share_status(expires_at: datetime, revoked_at: datetime | None, now: datetime) -> str:
    if revoked_at is not None:
        return "revoked"
    return "active" if expires_at > now else "expired"
