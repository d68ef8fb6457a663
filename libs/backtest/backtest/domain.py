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
from quant.stops import ExitsError, with_declared

ARTIFACT_TYPES = ("equity", "trades", "orders", "positions", "fills", "logs", "report")
FORMAT_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
    "html": "text/html; charset=utf-8",
}
# The formats of each artifact type: the stored tables in any tabular format, the report as one HTML file.
TABLE_FORMATS = ("csv", "json", "parquet")
REPORT_FORMATS = ("html",)


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
    {"cash", "market_value", "equity", "value", "commission", "stamp_duty", "transfer_fee", "fees", "cash_flow", "pnl"}
)


def _money_to_fen(frame: pl.DataFrame) -> pl.DataFrame:
    """CNY amounts rounded to the fen for people (binary floating point leaves 1e-12 noise behind)."""
    money = [c for c in frame.columns if c in MONEY_COLUMNS and frame.schema[c].is_float()]
    return frame.with_columns(pl.col(money).round(2)) if money else frame


def convert(parquet: bytes, fmt: str) -> bytes:
    """A stored Parquet artifact in `fmt`: parquet as is (full precision); csv UTF-8 (with BOM, for
    spreadsheets) with a header row; json an array of row objects (dates as ISO strings). In csv and json,
    CNY amounts are rounded to the fen."""
    if fmt == "parquet":
        return parquet
    frame = _money_to_fen(pl.read_parquet(io.BytesIO(parquet)))
    if fmt == "csv":
        return UTF8_BOM + frame.write_csv().encode("utf-8")
    rows = clean_json(frame.to_dicts())
    return json.dumps(rows, ensure_ascii=False, default=_json_value, allow_nan=False).encode("utf-8")


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
