"""Pydantic in/out models of the market-data context (what the API and `--json` render)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class InstrumentRead(BaseModel):
    symbol: str = Field(examples=["600000.SH"])
    name: str
    exchange: Literal["SSE", "SZSE", "BSE"]
    board: Literal["main", "chinext", "star", "bse", "index"]
    kind: Literal["stock", "index"]
    list_date: date | None
    delist_date: date | None
    source: Literal["sample", "tushare"]


class StPeriodRead(BaseModel):
    start_date: date
    end_date: date | None
    name: str


class CoverageRead(BaseModel):
    """What one (frequency, symbol) partition of a snapshot holds."""

    freq: str
    symbol: str
    first_date: date | None
    last_date: date | None
    rows: int
    covered_start: date
    covered_end: date
    content_hash: str


class InstrumentDetail(InstrumentRead):
    st_periods: list[StPeriodRead]
    coverage: list[CoverageRead]


class CalendarRead(BaseModel):
    start: date
    end: date
    source: str
    sessions: list[date]


class SnapshotRead(BaseModel):
    """An immutable data snapshot: pin `id` to rerun a backtest on exactly the same bars."""

    id: str
    source: Literal["sample", "tushare"]
    created_at: datetime
    content_hash: str
    files: int
    rows: int
    coverage: dict[str, Any] = Field(description="Per frequency: symbols, first and last date.")


class SnapshotDetail(SnapshotRead):
    partitions: list[CoverageRead]


class BarsQuery(BaseModel):
    symbols: list[str]
    freq: str = "1d"
    start: date
    end: date
    adjust: str = "qfq"
    snapshot_id: str | None = None


class BarsRead(BaseModel):
    """Bars in the bar-frame contract, one object per row."""

    snapshot_id: str
    source: Literal["sample", "tushare"]
    freq: str
    adjust: str
    start: date
    end: date
    columns: list[str]
    rows: list[dict[str, Any]]


class LoadSampleResult(BaseModel):
    snapshot: SnapshotRead
    skipped: bool = Field(description="True when `--if-empty` found a sample snapshot and did nothing.")
    symbols: int
    rows: int


class SyncRequest(BaseModel):
    symbols: list[str] | None = Field(None, description="Codes to sync; omit with `all: true` for every listed one.")
    all: bool = False
    freq: str = "1d"
    start: date
    end: date
    mode: Literal["auto", "by_date", "by_symbol"] = Field(
        "auto", description="Plan for daily stock bars: `auto` makes the fewer calls."
    )


class SyncResult(BaseModel):
    snapshot: SnapshotRead
    created: bool = Field(description="False when nothing was missing (the previous snapshot still holds).")
    symbols: int
    fetched_rows: int
    calls: int
    plan: Literal["by_date", "by_symbol"] = Field(
        "by_symbol", description="How daily stock bars were fetched: by session (whole market) or by symbol."
    )
    waited_s: float = Field(0.0, description="Seconds spent waiting for the shared Tushare rate budget.")


class CheckIssue(BaseModel):
    check: str
    symbol: str
    date: date | None
    detail: str


class CheckRequest(BaseModel):
    symbols: list[str] | None = None
    freq: str = "1d"
    snapshot_id: str | None = None


class CheckReport(BaseModel):
    snapshot_id: str
    freq: str
    symbols: int
    rows: int
    ok: bool
    counts: dict[str, int]
    issues: list[CheckIssue]


class ProviderStatus(BaseModel):
    """The data provider as an operator checks it (`/ready`, `huice doctor`): whether a Tushare token is set
    and, when it is, whether one cheap call (`trade_cal` of one day) answered."""

    provider: str = "tushare"
    url: str = Field(description="Base URL of the Tushare Pro HTTP API (never the token).")
    token_configured: bool
    reachable: bool | None = Field(description="The probe call answered; None without a token (nothing to call).")
    latency_ms: float | None = None
    error: str | None = Field(None, description="Why the probe failed (the token is never quoted).")


class DataFreshness(BaseModel):
    """How current the market data is (monitoring): the newest snapshot, the last daily bar it holds and how
    many trading sessions have closed since."""

    newest_snapshot: SnapshotRead | None
    newest_tushare_snapshot_at: datetime | None = Field(description="When the last Tushare sync published data.")
    last_daily_date: date | None
    sessions_behind: int | None = Field(description="Trading sessions after last_daily_date up to `today`.")
    tushare_token_configured: bool
