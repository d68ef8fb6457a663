"""Pydantic in/out models of the market-data context (what the API and `--json` render)."""

from __future__ import annotations

import uuid
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
    is_default: bool = Field(
        False, description="The default snapshot: what unpinned reads and new backtests use (see `default_rule`)."
    )


class SnapshotDetail(SnapshotRead):
    partitions: list[CoverageRead]


class DefaultSnapshotRead(BaseModel):
    """The default snapshot, how it became the default, and the rule that moves it."""

    snapshot: SnapshotRead
    set_at: datetime
    reason: Literal["published", "explicit", "migrated"] = Field(
        description="`published`: it covered the previous default when it was recorded; `explicit`: an "
        "administrator named it; `migrated`: the newest snapshot when the rule was introduced."
    )
    set_by: str | None = Field(None, description="Who named it (explicit only).")
    rule: str


class DefaultSnapshotSet(BaseModel):
    snapshot_id: str = Field(max_length=40, description="The snapshot new backtests and unpinned reads use from now.")


class IndexMember(BaseModel):
    symbol: str
    weight: float | None = Field(description="Weight in the index (%), as of the weight date.")


class IndexMembersRead(BaseModel):
    """The constituents of an index as of a session: those of the newest weight date on or before it (point in
    time — a stock that joins later is not among them)."""

    index_code: str
    on: date
    weight_date: date = Field(description="The `index_weight` date the members come from.")
    members: list[IndexMember]


class UniverseRead(BaseModel):
    """The stocks listed on a session: listed on or before it and not delisted by then (a stock delisted
    later is included while it traded)."""

    on: date
    symbols: list[str]


class FundamentalsRead(BaseModel):
    """`daily_basic` per stock and session: PE, PB, PS, dividend yield (%), total and float market value
    (10,000 CNY), turnover (% of float) — each row known after that session's close."""

    start: date
    end: date
    columns: list[str]
    rows: list[dict[str, Any]]


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
    datasets: list[Literal["bars", "daily_basic", "index_weight"]] = Field(
        default_factory=lambda: ["bars"],
        min_length=1,
        description="`bars` (daily/minute bars of the symbols), `daily_basic` (fundamentals of the whole market "
        "by session), `index_weight` (constituents of CSI 300/500/800/1000 and SSE 50).",
    )
    all: bool = False
    freq: str = "1d"
    start: date
    end: date
    mode: Literal["auto", "by_date", "by_symbol"] = Field(
        "auto", description="Plan for daily stock bars: `auto` makes the fewer calls."
    )


class SyncResult(BaseModel):
    snapshot: SnapshotRead | None = Field(description="The bars' snapshot (None when no bars were ever synced).")
    created: bool = Field(description="False when nothing was missing (the previous snapshot still holds).")
    symbols: int
    fetched_rows: int
    calls: int
    plan: Literal["by_date", "by_symbol"] = Field(
        "by_symbol", description="How daily stock bars were fetched: by session (whole market) or by symbol."
    )
    waited_s: float = Field(0.0, description="Seconds spent waiting for the shared Tushare rate budget.")
    basic_rows: int = Field(0, description="daily_basic rows stored.")
    weight_rows: int = Field(0, description="index_weight rows stored.")


class SyncProgress(BaseModel):
    """Where a sync is (the progress message of a `market_data.sync` job is this object as JSON).

    A partition is one (endpoint, session) of a by-date sync or one symbol of a by-symbol sync."""

    stage: str = Field(description="The partition last done (`2025-03-05 daily`) or what is waited for.")
    partitions_done: int
    partitions_total: int
    calls: int = Field(description="Tushare calls made so far (retries included).")
    rows: int = Field(description="Rows received from Tushare so far.")
    wait_s: float = Field(0.0, description="The quota wait in progress now (the shared rate budget), seconds.")
    waited_s: float = Field(0.0, description="Seconds waited for the rate budget so far.")
    elapsed_s: float
    eta_s: float | None = Field(None, description="Estimated seconds left (after the first partition).")


class SyncJobRead(BaseModel):
    """A sync running as a job of the job runtime (`market_data.sync`): follow it with
    `GET /api/jobs/{job_id}/events` (SSE), cancel or retry it with `/api/jobs/{job_id}:cancel|:retry` (a retry
    or a new sync resumes from the partitions already staged)."""

    job_id: uuid.UUID
    status: str = Field(description="queued, running, succeeded, failed or cancelled (the job runtime's statuses).")
    progress: float = Field(description="0–100.")
    sync: SyncProgress | None = Field(None, description="The latest progress report, once the job has one.")
    result: SyncResult | None = Field(None, description="The sync's result, once it succeeded.")
    error: dict[str, Any] | None = Field(None, description="The error envelope's body, once it failed.")
    attempts: int = 0
    cancel_requested: bool = False


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
