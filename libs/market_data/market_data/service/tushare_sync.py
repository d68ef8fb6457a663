"""Syncing from Tushare Pro: fetch only what the newest `tushare` snapshot lacks (calendar, instrument
reference with ST periods, bars), normalise to the stored schema, store, and publish a `tushare` snapshot."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from market_data import repository as repo
from market_data.config import MarketDataEnv
from market_data.domain import Freq, Source, StPeriod, board_of, exchange_of, parse_symbol
from market_data.schemas import SyncResult
from market_data.service._common import clean_symbols, parse_freq, snapshot_read
from market_data.service.reference import validate_symbols
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
from platform_core.errors import InvalidInput

Progress = Callable[[str, int, int], None]
BOARD_FROM_MARKET = {"主板": "main", "创业板": "chinext", "科创板": "star", "北交所": "bse", "CDR": "main"}


def make_client(env: MarketDataEnv, **overrides: Any) -> TushareClient:
    """A Tushare client from the context's settings (`TUSHARE_TOKEN`, `HUICE_TUSHARE_URL`, ...)."""
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
    return TushareClient(**{**options, **overrides})


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
) -> SyncResult:
    """Fetch from Tushare only what the newest `tushare` snapshot lacks for [start, end], normalise, store,
    and record a new snapshot (none when nothing was missing)."""
    freq_value = parse_freq(freq)
    if start > end:
        raise InvalidInput(f"start {start} is after end {end}", details={"start": str(start), "end": str(end)})
    if not symbols and not all_symbols:
        raise InvalidInput("name --symbols or pass --all", field="symbols")
    calls_before = client.calls
    _ensure_calendar(session, client, start, end)
    wanted = _ensure_instruments(session, client, symbols, all_symbols)
    base = repo.latest_snapshot(session, source=Source.TUSHARE.value)
    existing = {f.symbol: f for f in repo.snapshot_files(session, base.id, freq=freq_value.value)} if base else {}
    instruments = repo.instruments_by_symbol(session, wanted)
    st = _st_by_symbol(session, wanted)
    written: list[Partition] = []
    fetched = 0
    for done, symbol in enumerate(wanted, start=1):
        part, rows = _sync_symbol(
            env, client, instruments[symbol], existing.get(symbol), freq_value, start, end, st.get(symbol, [])
        )
        if part is not None:
            written.append(part)
            fetched += rows
        if progress is not None:
            progress(symbol, done, len(wanted))
    if not written and base is not None:
        snap = snapshot_read(base)
        return SyncResult(
            snapshot=snap, created=False, symbols=len(wanted), fetched_rows=0, calls=client.calls - calls_before
        )
    snapshot, created = publish(session, Source.TUSHARE, written)
    return SyncResult(
        snapshot=snapshot, created=created, symbols=len(wanted), fetched_rows=fetched, calls=client.calls - calls_before
    )


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


def _sync_symbol(
    env: MarketDataEnv,
    client: TushareClient,
    inst: repo.Instrument,
    existing: repo.SnapshotFile | None,
    freq: Freq,
    start: date,
    end: date,
    st: list[StPeriod],
) -> tuple[Partition | None, int]:
    lo = max(start, inst.list_date) if inst.list_date else start
    hi = min(end, inst.delist_date - timedelta(days=1)) if inst.delist_date else end
    if lo > hi:
        return None, 0
    covered = (existing.covered_start, existing.covered_end) if existing else None
    ranges = missing_ranges(covered, lo, hi)
    if not ranges:
        return None, 0
    fresh = pl.concat([_fetch(client, inst, freq, a, b, st) for a, b in ranges])
    store = env.store
    old = store.read([existing.path]) if existing else pl.DataFrame(schema=fresh.schema)
    merged = pl.concat([old.join(fresh.select("ts"), on="ts", how="anti"), fresh])
    cover_lo, cover_hi = (min(lo, covered[0]), max(hi, covered[1])) if covered else (lo, hi)
    return Partition(store.write(freq.value, inst.symbol, merged), cover_lo, cover_hi), fresh.height


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
