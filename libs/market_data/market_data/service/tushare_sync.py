"""Syncing from Tushare Pro: fetch only what the newest `tushare` snapshot lacks (calendar, instrument
reference with ST periods, bars), normalise to the stored schema, store, and publish a `tushare` snapshot.

Two plans for daily stock bars, chosen by the number of calls (`mode="auto"`): **by symbol** (`daily`,
`adj_factor`, `stk_limit`, `suspend_d` with `ts_code` and a date range: 4 calls per symbol) for a few codes,
and **by date** (the same endpoints with `trade_date`: the whole market of one session in 4 calls) when the
missing sessions are fewer than the symbols — a one-day update of ~5,400 stocks is 4 calls instead of
~21,600. By-date partitions (endpoint × session) are staged in the bar store as they arrive (each file
written atomically), so an interrupted sync keeps them and a re-run fetches only the partitions still
missing; the snapshot is recorded only when every partition is in, and the staged files of a published
sync are removed. Indices (`index_daily`) and minute bars (`stk_mins`) are always fetched by symbol."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, Literal

import polars as pl
from sqlalchemy.orm import Session

from market_data import repository as repo
from market_data.config import MarketDataEnv
from market_data.domain import Freq, Source, StPeriod, board_of, exchange_of, parse_symbol
from market_data.rate_budget import RedisRateBudget
from market_data.schemas import ProviderStatus, SyncResult
from market_data.service._common import clean_symbols, default_id, parse_freq, snapshot_read
from market_data.service.reference import validate_symbols
from market_data.service.reference_sync import STAGING, staged_query, sync_datasets
from market_data.service.snapshots import Partition, publish
from market_data.tushare import (
    TushareClient,
    normalize_daily,
    normalize_index,
    normalize_minutes,
    parse_ymd,
    st_periods_from_names,
    ymd,
)
from platform_core.errors import AppError, InvalidInput

Progress = Callable[[str, int, int], None]
SyncMode = Literal["auto", "by_date", "by_symbol"]
BY_DATE_ENDPOINTS = ("daily", "adj_factor", "stk_limit", "suspend_d")
DATASETS = ("bars", "daily_basic", "index_weight")
BOARD_FROM_MARKET = {"主板": "main", "创业板": "chinext", "科创板": "star", "北交所": "bse", "CDR": "main"}


def provider_status(env: MarketDataEnv, *, timeout: float = 3.0, today: date | None = None) -> ProviderStatus:
    """Published: the provider's state for `/ready` and `huice doctor` — the token's presence and, with a token,
    one `trade_cal` call of a single day through the provider's client (no retries, `timeout` seconds, outside
    the shared rate budget so a probe never waits for a sync's turn)."""
    s = env.settings
    status = ProviderStatus(url=s.tushare_url, token_configured=s.tushare_token is not None, reachable=None)
    if s.tushare_token is None:
        return status
    day = ymd(today or date.today())
    started = time.perf_counter()
    try:
        with make_client(env, timeout=timeout, max_retries=0, budget=None) as client:
            client.query("trade_cal", {"exchange": "SSE", "start_date": day, "end_date": day})
    except AppError as exc:
        status.reachable, status.error = False, exc.message
    except Exception as exc:  # a probe reports, never raises
        status.reachable, status.error = False, type(exc).__name__
    else:
        status.reachable = True
    status.latency_ms = round((time.perf_counter() - started) * 1000, 1)
    return status


def make_client(env: MarketDataEnv, **overrides: Any) -> TushareClient:
    """A Tushare client from the context's settings (`TUSHARE_TOKEN`, `HUICE_TUSHARE_URL`, ...), drawing on the
    rate budget shared through Redis (per token and endpoint) when the env has a Redis."""
    s = env.settings
    token = s.tushare_token.get_secret_value() if s.tushare_token else None
    options: dict[str, Any] = {
        "base_url": s.tushare_url,
        "token": token,
        "timeout": s.tushare_timeout,
        "rate_per_minute": s.tushare_rate_per_minute,
        "max_retries": s.tushare_max_retries,
        "backoff": s.tushare_backoff,
        "quota_wait": s.tushare_quota_wait,
    }
    client = TushareClient(**{**options, **overrides})
    if env.redis_url and "budget" not in overrides:
        client.budget = RedisRateBudget(
            env.redis_url,
            client.token_for_budget(),
            calls=max(1, int(s.tushare_rate_per_minute)),
            window_s=60,
            fallback=client.local_acquire,
            sleep=client.sleep,
        )
    return client


def sync(
    session: Session,
    env: MarketDataEnv,
    *,
    client: TushareClient,
    symbols: list[str] | None,
    all_symbols: bool = False,
    freq: str = "1d",
    start: date,
    end: date,
    progress: Progress | None = None,
    mode: SyncMode = "auto",
    datasets: tuple[str, ...] = ("bars",),
) -> SyncResult:
    """Fetch from Tushare only what the newest `tushare` snapshot lacks for [start, end], normalise, store,
    and record a new snapshot (none when nothing was missing). `mode`: the plan for daily stock bars (see the
    module docstring); `progress(label, done, total)` counts partitions: symbols, or (session, endpoint) pairs
    on the by-date plan (4 per session). `datasets`: any of `bars`, `daily_basic` (the whole market per
    session, sessions without rows only) and `index_weight` (the sample's five indices over the window), see
    `reference_sync`."""
    if mode not in ("auto", "by_date", "by_symbol"):
        raise InvalidInput(
            f"unknown sync mode {mode!r}", field="mode", details={"valid": ["auto", "by_date", "by_symbol"]}
        )
    freq_value = parse_freq(freq)
    if start > end:
        raise InvalidInput(f"start {start} is after end {end}", details={"start": str(start), "end": str(end)})
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown or not datasets:
        raise InvalidInput(f"unknown datasets {unknown}", field="datasets", details={"valid": list(DATASETS)})
    if "bars" in datasets and not symbols and not all_symbols:
        raise InvalidInput("name --symbols or pass --all", field="symbols")
    calls_before = client.calls
    _ensure_calendar(session, client, start, end)
    wanted = _ensure_instruments(session, client, symbols, all_symbols or "bars" not in datasets)
    extra = sync_datasets(session, env, client, datasets, start, end, progress)
    base = repo.latest_snapshot(session, source=Source.TUSHARE.value)
    if "bars" not in datasets:
        snap = base or repo.current_default(session)
        return SyncResult(
            snapshot=snapshot_read(snap, default_id(session)) if snap else None, created=False, symbols=0,
            fetched_rows=0, calls=client.calls - calls_before, plan="by_date", waited_s=round(client.waited_s, 3),
            **extra,
        )  # fmt: skip
    existing = {f.symbol: f for f in repo.snapshot_files(session, base.id, freq=freq_value.value)} if base else {}
    instruments = repo.instruments_by_symbol(session, wanted)
    st = _st_by_symbol(session, wanted)
    plans = {s: _missing(instruments[s], existing.get(s), start, end) for s in wanted}
    plans = {s: r for s, r in plans.items() if r}
    stocks = [s for s in plans if instruments[s].kind != "index"]
    days = _sessions_in(session, [r for s in stocks for r in plans[s]])
    by_date = freq_value is Freq.DAILY and (mode == "by_date" or (mode == "auto" and 0 < len(days) < len(stocks)))
    written: list[Partition] = []
    fetched = 0
    market = _fetch_by_date(env, client, days, progress) if by_date and stocks else None
    todo = [s for s in wanted if s in plans]
    for done, symbol in enumerate(todo, start=1):
        inst, ranges = instruments[symbol], plans[symbol]
        if market is not None and inst.kind != "index":
            fresh = _from_market(market, symbol, ranges, st.get(symbol, []))
        else:
            fresh = pl.concat([_fetch(client, inst, freq_value, a, b, st.get(symbol, [])) for a, b in ranges])
        written.append(_merge(env, inst, existing.get(symbol), freq_value, fresh, ranges))
        fetched += fresh.height
        if progress is not None and market is None:
            progress(symbol, done, len(todo))
    if not written and base is not None:
        snap = snapshot_read(base, default_id(session))
        return SyncResult(
            snapshot=snap, created=False, symbols=len(wanted), fetched_rows=0, calls=client.calls - calls_before,
            plan="by_date" if by_date else "by_symbol", waited_s=round(client.waited_s, 3), **extra,
        )  # fmt: skip
    snapshot, created = publish(session, Source.TUSHARE, written, store=env.store)
    if market is not None:
        _unstage(env, days)
    return SyncResult(
        snapshot=snapshot, created=created, symbols=len(wanted), fetched_rows=fetched,
        calls=client.calls - calls_before, plan="by_date" if by_date else "by_symbol",
        waited_s=round(client.waited_s, 3), **extra,
    )  # fmt: skip


def _ensure_calendar(session: Session, client: TushareClient, start: date, end: date) -> None:
    if repo.calendar_days_between(session, start, end, source=Source.TUSHARE.value) == (end - start).days + 1:
        return
    cal = client.query("trade_cal", {"exchange": "SSE", "start_date": ymd(start), "end_date": ymd(end)})
    rows = [
        {"cal_date": parse_ymd(r["cal_date"]), "is_open": int(float(r["is_open"])) == 1, "source": Source.TUSHARE.value}
        for r in cal.iter_rows(named=True)
    ]
    if len(rows) != (end - start).days + 1:
        raise InvalidInput(
            f"Tushare trade_cal has no complete calendar for {start}..{end}",
            details={"start": str(start), "end": str(end), "days_returned": len(rows)},
        )
    repo.upsert_calendar(session, rows, overwrite=True)


def _ensure_instruments(session: Session, client: TushareClient, symbols: list[str] | None, all_: bool) -> list[str]:
    cleaned = clean_symbols(symbols or [])
    malformed = [s for s in cleaned if parse_symbol(s) is None]
    if malformed:
        raise InvalidInput(
            f"unknown or malformed symbols: {', '.join(malformed)}",
            field="symbols",
            details={"malformed": malformed, "unknown": []},
        )
    known = repo.instruments_by_symbol(session, cleaned)
    if all_ or any(s not in known or known[s].source != Source.TUSHARE.value for s in cleaned):
        _refresh_reference(session, client, [s for s in cleaned if _looks_like_index(s)])
    if all_:
        return repo.all_symbols(session, kind="stock", source=Source.TUSHARE.value)
    return validate_symbols(session, cleaned)


def _looks_like_index(symbol: str) -> bool:
    return (symbol.startswith("000") and symbol.endswith(".SH")) or (
        symbol.startswith("399") and symbol.endswith(".SZ")
    )


def _refresh_reference(session: Session, client: TushareClient, indices: list[str]) -> None:
    frames = [client.query("stock_basic", {"list_status": status}) for status in ("L", "D", "P")]
    basics = (
        pl.concat([f for f in frames if f.height], how="diagonal_relaxed") if any(f.height for f in frames) else None
    )
    rows = []
    for r in basics.iter_rows(named=True) if basics is not None else []:
        code = r["ts_code"]
        rows.append(
            {
                "symbol": code,
                "name": r["name"],
                "exchange": r.get("exchange") or exchange_of(code),
                "board": BOARD_FROM_MARKET.get(r.get("market") or "", board_of(code).value),
                "kind": "stock",
                "list_date": parse_ymd(r.get("list_date")),
                "delist_date": parse_ymd(r.get("delist_date")),
                "source": Source.TUSHARE.value,
            }
        )
    rows += [
        {
            "symbol": s,
            "name": s,
            "exchange": exchange_of(s),
            "board": "index",
            "kind": "index",
            "list_date": None,
            "delist_date": None,
            "source": Source.TUSHARE.value,
        }
        for s in indices
    ]
    repo.upsert_instruments(session, rows, keep_other_sources=False)
    periods = st_periods_from_names(client.query("namechange", {}))
    repo.replace_st_periods(
        session,
        [r["symbol"] for r in rows],
        [{"symbol": p.symbol, "start_date": p.start_date, "end_date": p.end_date, "name": p.name} for p in periods],
    )


def _st_by_symbol(session: Session, symbols: list[str]) -> dict[str, list[StPeriod]]:
    result: dict[str, list[StPeriod]] = {}
    for p in repo.st_periods(session, symbols):
        result.setdefault(p.symbol, []).append(StPeriod(p.symbol, p.start_date, p.end_date, p.name))
    return result


def missing_ranges(covered: tuple[date, date] | None, lo: date, hi: date) -> list[tuple[date, date]]:
    """What to fetch so that coverage becomes one interval spanning `covered` and [lo, hi]."""
    if covered is None:
        return [(lo, hi)]
    cs, ce = covered
    ranges = []
    if lo < cs:
        ranges.append((lo, cs - timedelta(days=1)))
    if hi > ce:
        ranges.append((ce + timedelta(days=1), hi))
    return ranges


def _missing(
    inst: repo.Instrument, existing: repo.SnapshotFile | None, start: date, end: date
) -> list[tuple[date, date]]:
    """The date ranges of [start, end] (within the listing) that the symbol's stored coverage lacks."""
    lo = max(start, inst.list_date) if inst.list_date else start
    hi = min(end, inst.delist_date - timedelta(days=1)) if inst.delist_date else end
    if lo > hi:
        return []
    covered = (existing.covered_start, existing.covered_end) if existing else None
    return missing_ranges(covered, lo, hi)


def _merge(
    env: MarketDataEnv,
    inst: repo.Instrument,
    existing: repo.SnapshotFile | None,
    freq: Freq,
    fresh: pl.DataFrame,
    ranges: list[tuple[date, date]],
) -> Partition:
    """The symbol's new partition: the stored rows outside the fresh ones, plus the fresh ones."""
    store = env.store
    old = store.read([existing.path]) if existing else pl.DataFrame(schema=fresh.schema)
    merged = pl.concat([old.join(fresh.select("ts"), on="ts", how="anti"), fresh])
    lo, hi = min(a for a, _ in ranges), max(b for _, b in ranges)
    if existing is not None:
        lo, hi = min(lo, existing.covered_start), max(hi, existing.covered_end)
    return Partition(store.write(freq.value, inst.symbol, merged), lo, hi)


def _sessions_in(session: Session, ranges: list[tuple[date, date]]) -> list[date]:
    """The open sessions inside any of `ranges`, in order."""
    if not ranges:
        return []
    lo, hi = min(a for a, _ in ranges), max(b for _, b in ranges)
    days = repo.open_days(session, lo, hi)
    return [d for d in days if any(a <= d <= b for a, b in ranges)]


def _fetch_by_date(
    env: MarketDataEnv, client: TushareClient, days: list[date], progress: Progress | None
) -> dict[str, dict[str, pl.DataFrame]]:
    """The whole market of each session from the four by-date endpoints, as {endpoint: {ts_code: rows}}.
    Each (endpoint, session) partition already staged by an earlier, interrupted sync is read back instead
    of fetched; a `daily` answer without rows (a session not yet published upstream) is not staged."""
    staging = env.store.storage.child(STAGING)
    frames: dict[str, list[pl.DataFrame]] = {e: [] for e in BY_DATE_ENDPOINTS}
    total, done = len(days) * len(BY_DATE_ENDPOINTS), 0
    for day in days:
        for endpoint in BY_DATE_ENDPOINTS:
            frame = staged_query(staging, client, endpoint, day, keep_empty=endpoint != "daily")
            if frame.width:
                frames[endpoint].append(frame.with_columns(pl.all().cast(pl.Utf8)))
            done += 1
            if progress is not None:
                progress(f"{day.isoformat()} {endpoint}", done, total)
    market: dict[str, dict[str, pl.DataFrame]] = {}
    for endpoint, parts in frames.items():
        whole = (
            pl.concat(parts, how="diagonal_relaxed")
            if parts
            else pl.DataFrame({"ts_code": []}, schema={"ts_code": pl.Utf8})
        )
        market[endpoint] = {key[0]: rows for key, rows in whole.partition_by("ts_code", as_dict=True).items()}
    return market


def _from_market(
    market: dict[str, dict[str, pl.DataFrame]], symbol: str, ranges: list[tuple[date, date]], st: list[StPeriod]
) -> pl.DataFrame:
    """One symbol's stored rows from the by-date frames, within its missing ranges."""

    def rows(endpoint: str) -> pl.DataFrame:
        frame = market[endpoint].get(symbol)
        if frame is None:
            return pl.DataFrame()
        inside = pl.any_horizontal([pl.col("trade_date").is_between(pl.lit(ymd(a)), pl.lit(ymd(b))) for a, b in ranges])
        return frame.filter(inside)

    return normalize_daily(symbol, rows("daily"), rows("adj_factor"), rows("stk_limit"), rows("suspend_d"), st)


def _unstage(env: MarketDataEnv, days: list[date]) -> None:
    """Remove the staged partitions of a published by-date sync."""
    staging = env.store.storage.child(STAGING)
    for day in days:
        staging.delete_prefix(ymd(day))


def _fetch(
    client: TushareClient, inst: repo.Instrument, freq: Freq, start: date, end: date, st: list[StPeriod]
) -> pl.DataFrame:
    by_code = {"ts_code": inst.symbol, "start_date": ymd(start), "end_date": ymd(end)}
    if inst.kind == "index":
        return normalize_index(inst.symbol, client.query("index_daily", by_code))
    adj = client.query("adj_factor", by_code)
    limits = client.query("stk_limit", by_code)
    if freq is Freq.DAILY:
        return normalize_daily(
            inst.symbol, client.query("daily", by_code), adj, limits, client.query("suspend_d", by_code), st
        )
    mins = client.query(
        "stk_mins",
        {
            "ts_code": inst.symbol,
            "freq": freq.value,
            "start_date": f"{start.isoformat()} 09:00:00",
            "end_date": f"{end.isoformat()} 15:00:00",
        },
    )
    return normalize_minutes(inst.symbol, mins, adj, limits, st)
