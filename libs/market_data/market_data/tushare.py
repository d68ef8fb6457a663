"""A client for the Tushare Pro HTTP protocol on httpx (not the `tushare` SDK), and its normalisation.

Protocol: POST JSON `{"api_name", "token", "params", "fields"}` to the base URL; the reply is
`{"code", "msg", "data": {"fields": [...], "items": [[...]]}}`; `code != 0` carries the error in `msg`.

- Paging: every call sends `limit`/`offset` and pages until a short page comes back (row caps silently
  truncate otherwise: daily 6000, stk_limit 5800, stk_mins 8000 ...).
- Throttle: a rate budget per token and endpoint (`rate_per_minute`): in Redis, shared by every process, when
  the client is given one (`market_data.rate_budget`), else a token bucket shared by this process's threads.
- Retries with exponential backoff and jitter on network errors, timeouts, 5xx, malformed replies and
  per-minute quota replies (which wait `quota_wait` first); token/permission errors and daily/hourly quota
  fail at once. Everything that gives up is UPSTREAM_ERROR with Tushare's message and retry advice.
- The token travels only in the request body: it never appears in URLs, logs or errors.

Units: daily `vol` is in lots (×100 → shares) and `amount` in thousand CNY (×1000 → CNY); minute bars are
already shares and CNY. Minute bars keep Tushare's right label (bar end time).
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import httpx
import polars as pl

from market_data.domain import STORED_SCHEMA, StPeriod, is_st_name, st_flags
from platform_core.errors import InvalidInput, UpstreamError

log = logging.getLogger("huice.market_data.tushare")

PAGE_SIZES = {
    "daily": 6000,
    "adj_factor": 6000,
    "stk_limit": 5800,
    "stk_mins": 8000,
    "stock_basic": 6000,
    "index_daily": 8000,
    "trade_cal": 6000,
    "namechange": 5000,
    "suspend_d": 5000,
    "daily_basic": 6000,
    "index_weight": 6000,
}
FIELDS = {
    "stock_basic": "ts_code,symbol,name,market,exchange,list_status,list_date,delist_date",
    "trade_cal": "exchange,cal_date,is_open,pretrade_date",
    "namechange": "ts_code,name,start_date,end_date",
    "daily": "ts_code,trade_date,open,high,low,close,pre_close,vol,amount",
    "index_daily": "ts_code,trade_date,open,high,low,close,pre_close,vol,amount",
    "adj_factor": "ts_code,trade_date,adj_factor",
    "stk_limit": "ts_code,trade_date,up_limit,down_limit",
    "suspend_d": "ts_code,trade_date,suspend_timing,suspend_type",
    "stk_mins": "ts_code,trade_time,open,close,high,low,vol,amount",
    "daily_basic": "ts_code,trade_date,close,pe,pb,ps,dv_ratio,total_mv,circ_mv,turnover_rate",
    "index_weight": "index_code,con_code,trade_date,weight",
}
_MINUTE_QUOTA = re.compile(r"每分钟最多访问|per minute", re.IGNORECASE)
_LONG_QUOTA = re.compile(r"每(小时|天)最多访问|per (hour|day)", re.IGNORECASE)
_DENIED = re.compile(r"token|权限|permission", re.IGNORECASE)
RETRY_ADVICE = "Tushare is unavailable or over quota; retry later (a re-run fetches only what is missing)"


class TokenBucket:
    """`rate_per_minute` tokens a minute, bursting up to `capacity`; `acquire()` sleeps until one is free."""

    def __init__(
        self,
        rate_per_minute: float,
        *,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate_per_minute / 60.0
        self.capacity = capacity if capacity is not None else max(1.0, min(rate_per_minute / 10, 20.0))
        self.tokens = self.capacity
        self.clock, self.sleep = clock, sleep
        self.updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token; returns the seconds waited."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            wait = 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate
            self.tokens -= 1
        if wait > 0:
            self.sleep(wait)
        return wait


class _Retry(Exception):
    def __init__(self, reason: str, *, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


class TushareClient:
    """Calls Tushare Pro endpoints and returns polars frames of the raw reply (strings as delivered)."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str | None,
        timeout: float = 30.0,
        rate_per_minute: float = 200.0,
        max_retries: int = 4,
        backoff: float = 1.0,
        quota_wait: float = 60.0,
        page_sizes: dict[str, int] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        budget: Any = None,
    ) -> None:
        if not token:
            raise InvalidInput(
                "no Tushare token configured: set TUSHARE_TOKEN (or HUICE_TUSHARE_TOKEN)", field="tushare_token"
            )
        self._token = token
        self.base_url = base_url
        self.max_retries, self.backoff, self.quota_wait = max_retries, backoff, quota_wait
        self.page_sizes = {**PAGE_SIZES, **(page_sizes or {})}
        self.rate_per_minute = rate_per_minute
        self.sleep = sleep
        self.calls = 0
        self.rows = 0  # rows received, every endpoint
        self._buckets: dict[str, TokenBucket] = {}
        self.budget = budget  # a RateBudget shared across processes; None = this process's token buckets
        self.waited_s = 0.0
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=timeout, headers={"User-Agent": "huice-market-data"})

    def close(self) -> None:
        self._http.close()
        if self.budget is not None and hasattr(self.budget, "close"):
            self.budget.close()

    def __enter__(self) -> TushareClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, api_name: str, params: dict[str, Any] | None = None, fields: str | None = None) -> pl.DataFrame:
        """All rows of one endpoint for `params`, paging with `limit`/`offset` until a short page."""
        size = self.page_sizes.get(api_name, 5000)
        columns: list[str] = []
        items: list[list[Any]] = []
        offset = 0
        while True:
            page_params = {**(params or {}), "limit": size, "offset": offset}
            columns, page = self._call(
                api_name, page_params, fields if fields is not None else FIELDS.get(api_name, "")
            )
            items.extend(page)
            self.rows += len(page)
            if len(page) < size:
                break
            offset += size
        return _frame(columns, items)

    def token_for_budget(self) -> str:
        """The token, for building a shared rate budget keyed by (a hash of) it."""
        return self._token

    def local_acquire(self, api_name: str) -> float:
        """One call of this process's own token bucket for `api_name` (the fallback of a shared budget)."""
        return self._bucket(api_name).acquire()

    def _acquire(self, api_name: str) -> None:
        waited = self.budget.acquire(api_name) if self.budget is not None else self.local_acquire(api_name)
        self.waited_s += waited

    def _bucket(self, api_name: str) -> TokenBucket:
        with self._lock:
            if api_name not in self._buckets:
                self._buckets[api_name] = TokenBucket(self.rate_per_minute, sleep=self.sleep)
            return self._buckets[api_name]

    def _call(self, api_name: str, params: dict[str, Any], fields: str) -> tuple[list[str], list[list[Any]]]:
        last = "no attempt made"
        for attempt in range(self.max_retries + 1):
            self._acquire(api_name)
            try:
                return self._once(api_name, params, fields)
            except _Retry as retry:
                last = retry.reason
                if attempt == self.max_retries:
                    break
                delay = retry.delay if retry.delay is not None else self.backoff * 2**attempt
                delay *= 1 + random.random() * 0.25  # jitter: workers do not retry in lockstep
                log.warning("tushare %s retry %d in %.2fs: %s", api_name, attempt + 1, delay, last)
                self.sleep(delay)
        raise UpstreamError(
            f"Tushare {api_name} failed after {self.max_retries + 1} attempts: {last}",
            details={"api_name": api_name, "attempts": self.max_retries + 1, "retry_advice": RETRY_ADVICE},
        )

    def _once(self, api_name: str, params: dict[str, Any], fields: str) -> tuple[list[str], list[list[Any]]]:
        body = {"api_name": api_name, "token": self._token, "params": params, "fields": fields}
        self.calls += 1
        try:
            response = self._http.post(self.base_url, json=body)
        except httpx.TimeoutException:
            raise _Retry("timed out") from None
        except httpx.TransportError as exc:
            raise _Retry(f"network error ({type(exc).__name__})") from None
        if response.status_code >= 500:
            raise _Retry(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise UpstreamError(
                f"Tushare {api_name} answered HTTP {response.status_code}",
                details={"api_name": api_name, "status": response.status_code, "retry_advice": RETRY_ADVICE},
            )
        try:
            reply = response.json()
            code, msg = reply["code"], reply.get("msg") or ""
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise _Retry("malformed reply (not the Tushare JSON protocol)") from None
        if code != 0:
            self._refuse(api_name, code, str(msg))
        try:
            data = reply["data"]
            return list(data["fields"]), list(data["items"])
        except (KeyError, TypeError):
            raise _Retry("malformed reply (no data.fields/data.items)") from None

    def _refuse(self, api_name: str, code: Any, msg: str) -> None:
        msg = msg.replace(self._token, "[REDACTED]")
        if _MINUTE_QUOTA.search(msg):
            raise _Retry(f"quota: {msg}", delay=self.quota_wait)
        details = {"api_name": api_name, "code": code, "upstream_message": msg}
        if _LONG_QUOTA.search(msg):
            raise UpstreamError(
                f"Tushare {api_name} over quota: {msg}",
                details={**details, "retry_advice": "the quota resets later; retry then"},
            )
        advice = (
            "check the token (TUSHARE_TOKEN) and the endpoint's permission" if _DENIED.search(msg) else RETRY_ADVICE
        )
        raise UpstreamError(f"Tushare {api_name} error {code}: {msg}", details={**details, "retry_advice": advice})


def _frame(columns: list[str], items: list[list[Any]]) -> pl.DataFrame:
    if not columns:
        return pl.DataFrame()
    data = {c: [row[i] for row in items] for i, c in enumerate(columns)}
    return pl.DataFrame(data, schema={c: _dtype(data[c]) for c in columns}, strict=False)


def _dtype(values: list[Any]) -> pl.DataType:
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, bool):
        return pl.Boolean()
    if isinstance(sample, int | float):
        return pl.Float64()
    return pl.Utf8()


# --- normalisation -------------------------------------------------------------------------------------


def ymd(day: date) -> str:
    return day.strftime("%Y%m%d")


def parse_ymd(value: str | None) -> date | None:
    return datetime.strptime(value, "%Y%m%d").date() if value else None


def _dates(frame: pl.DataFrame, column: str = "trade_date") -> pl.Expr:
    return pl.col(column).str.strptime(pl.Date, "%Y%m%d")


def normalize_daily(
    symbol: str,
    daily: pl.DataFrame,
    adj: pl.DataFrame,
    limits: pl.DataFrame,
    suspensions: pl.DataFrame,
    st_periods: list[StPeriod],
) -> pl.DataFrame:
    """Stored rows of one symbol: shares and CNY, limits and `adj_factor` joined by date, a suspended row
    (null prices, zero volume) for every full-day suspension without a bar, `is_st` from ST periods."""
    bars = pl.DataFrame(schema={"date": pl.Date})
    if daily.height:
        bars = daily.select(
            _dates(daily).alias("date"),
            *(pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close", "pre_close")),
            (pl.col("vol").cast(pl.Float64) * 100).round(0).alias("volume"),
            (pl.col("amount").cast(pl.Float64) * 1000).round(2).alias("amount"),
        ).with_columns(pl.lit(False).alias("suspended"))
    suspended = _suspended_days(suspensions)
    gaps = suspended.filter(~pl.col("date").is_in(bars["date"].implode())) if bars.height else suspended
    gaps = gaps.with_columns(pl.lit(0.0).alias("volume"), pl.lit(0.0).alias("amount"), pl.lit(True).alias("suspended"))
    frame = pl.concat([bars, gaps], how="diagonal_relaxed") if gaps.height else bars
    if not frame.height:
        return pl.DataFrame(schema=STORED_SCHEMA)
    return _finish(symbol, frame, adj, limits, st_periods, daily_ts_expr=True)


def normalize_minutes(
    symbol: str, mins: pl.DataFrame, adj: pl.DataFrame, limits: pl.DataFrame, st_periods: list[StPeriod]
) -> pl.DataFrame:
    """Stored minute rows: right-labelled `ts` from `trade_time`, session `date`, the day's limits/factor."""
    if not mins.height:
        return pl.DataFrame(schema=STORED_SCHEMA)
    frame = mins.select(
        pl.col("trade_time").str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S").alias("ts"),
        *(pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close")),
        pl.col("vol").cast(pl.Float64).alias("volume"),
        pl.col("amount").cast(pl.Float64).round(2).alias("amount"),
    ).with_columns(
        pl.col("ts").dt.date().alias("date"),
        pl.lit(False).alias("suspended"),
        pl.lit(None, pl.Float64).alias("pre_close"),
    )
    return _finish(symbol, frame, adj, limits, st_periods, daily_ts_expr=False)


def _suspended_days(suspensions: pl.DataFrame) -> pl.DataFrame:
    if not suspensions.height:
        return pl.DataFrame(schema={"date": pl.Date})
    timing = pl.col("suspend_timing") if "suspend_timing" in suspensions.columns else pl.lit(None, pl.Utf8)
    full_day = timing.is_null() | (timing.cast(pl.Utf8).str.strip_chars() == "")
    return (
        suspensions.filter((pl.col("suspend_type") == "S") & full_day)
        .select(_dates(suspensions).alias("date"))
        .unique()
    )


def _finish(
    symbol: str,
    frame: pl.DataFrame,
    adj: pl.DataFrame,
    limits: pl.DataFrame,
    st_periods: list[StPeriod],
    *,
    daily_ts_expr: bool,
) -> pl.DataFrame:
    if adj.height:
        factors = adj.select(_dates(adj).alias("date"), pl.col("adj_factor").cast(pl.Float64)).unique("date")
        frame = frame.join(factors, on="date", how="left")
    else:
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias("adj_factor"))
    if limits.height:
        bands = limits.select(
            _dates(limits).alias("date"), pl.col("up_limit").cast(pl.Float64), pl.col("down_limit").cast(pl.Float64)
        ).unique("date")
        frame = frame.join(bands, on="date", how="left")
    else:
        frame = frame.with_columns(
            pl.lit(None, pl.Float64).alias("up_limit"), pl.lit(None, pl.Float64).alias("down_limit")
        )
    if daily_ts_expr:
        frame = frame.with_columns((pl.col("date").cast(pl.Datetime("us")) + pl.duration(hours=15)).alias("ts"))
    frame = frame.sort("ts").with_columns(
        pl.lit(symbol).alias("symbol"),
        pl.col("adj_factor").forward_fill().backward_fill().fill_null(1.0),
    )
    frame = frame.with_columns(st_flags(frame["date"], st_periods).alias("is_st"))
    return frame.select(pl.col(n).cast(t) for n, t in STORED_SCHEMA.items())


def normalize_index(symbol: str, daily: pl.DataFrame) -> pl.DataFrame:
    """Index bars (`index_daily`): units like `daily`, factor 1, no limits, never suspended or ST."""
    empty = pl.DataFrame(schema={"ts_code": pl.Utf8, "trade_date": pl.Utf8, "adj_factor": pl.Float64})
    return normalize_daily(symbol, daily, empty, pl.DataFrame(), pl.DataFrame(), [])


def st_periods_from_names(names: pl.DataFrame) -> list[StPeriod]:
    """ST periods from `namechange` rows whose name carries ST / *ST."""
    if not names.height:
        return []
    periods = []
    for row in names.iter_rows(named=True):
        if is_st_name(row["name"] or ""):
            periods.append(
                StPeriod(row["ts_code"], parse_ymd(row["start_date"]), parse_ymd(row.get("end_date")), row["name"])
            )
    return sorted(periods, key=lambda p: (p.symbol, p.start_date))
