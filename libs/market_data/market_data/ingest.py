"""Write use cases: load the offline sample, sync from Tushare, check integrity — each ends in a snapshot.

A snapshot is an immutable manifest (PostgreSQL) of content-addressed Parquet files (the store). A load or
sync writes new files for what changed, then records a new snapshot holding the previous snapshot's other
files: earlier snapshots stay readable, and an interrupted run leaves only unreferenced files behind (the
previous snapshot is still the newest). Nothing new → no new snapshot.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from market_data import repository as repo
from market_data import sample
from market_data.calendars import require_within, xshg_sessions
from market_data.config import current
from market_data.domain import CHECKS, Freq, Source, StPeriod, board_of, check_bars, exchange_of, parse_symbol
from market_data.schemas import CheckIssue, CheckReport, LoadSampleResult, SnapshotRead, SyncResult
from market_data.service import parse_freq, resolve_snapshot, trading_sessions, unique_symbols, validate_symbols
from market_data.store import StoredFile
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
from platform_core.ids import new_id, utcnow

log = logging.getLogger("huice.market_data")

Progress = Callable[[str, int, int], None]
MAX_ISSUES = 500
BOARD_FROM_MARKET = {"主板": "main", "创业板": "chinext", "科创板": "star", "北交所": "bse", "CDR": "main"}


@dataclass(frozen=True)
class Partition:
    file: StoredFile
    covered_start: date
    covered_end: date


# --- snapshots -----------------------------------------------------------------------------------------


def publish(session: Session, source: Source, written: list[Partition]) -> tuple[SnapshotRead, bool]:
    """A new snapshot = the newest snapshot of `source` with `written` partitions replaced or added.
    Returns the unchanged previous snapshot (and False) when the content is identical."""
    base = repo.latest_snapshot(session, source=source.value)
    manifest: dict[tuple[str, str], dict[str, Any]] = {}
    if base is not None:
        for f in repo.snapshot_files(session, base.id):
            manifest[(f.freq, f.symbol)] = {c: getattr(f, c) for c in _FILE_COLUMNS}
    for part in written:
        f = part.file
        manifest[(f.freq, f.symbol)] = {
            "freq": f.freq,
            "symbol": f.symbol,
            "path": f.path,
            "content_hash": f.content_hash,
            "rows": f.rows,
            "first_date": f.first_date,
            "last_date": f.last_date,
            "covered_start": part.covered_start,
            "covered_end": part.covered_end,
        }
    digest = _manifest_hash(manifest)
    if base is not None and base.content_hash == digest:
        return SnapshotRead.model_validate(base, from_attributes=True), False
    snapshot_id = f"snap_{new_id().hex}"
    files = [{**entry, "snapshot_id": snapshot_id} for _, entry in sorted(manifest.items())]
    row = repo.add_snapshot(
        session,
        {
            "id": snapshot_id,
            "source": source.value,
            "created_at": utcnow(),
            "content_hash": digest,
            "files": len(files),
            "rows": sum(f["rows"] for f in files),
            "coverage": _summary(files),
        },
        files,
    )
    log.info("market data snapshot %s (%s): %d files", snapshot_id, source.value, len(files))
    return SnapshotRead.model_validate(row, from_attributes=True), True


_FILE_COLUMNS = (
    "freq",
    "symbol",
    "path",
    "content_hash",
    "rows",
    "first_date",
    "last_date",
    "covered_start",
    "covered_end",
)


def _manifest_hash(manifest: dict[tuple[str, str], dict[str, Any]]) -> str:
    lines = [
        f"{k[0]}/{k[1]}:{v['content_hash']}:{v['covered_start']}:{v['covered_end']}"
        for k, v in sorted(manifest.items())
    ]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _summary(files: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for freq in sorted({f["freq"] for f in files}):
        part = [f for f in files if f["freq"] == freq]
        firsts = [f["first_date"] for f in part if f["first_date"]]
        lasts = [f["last_date"] for f in part if f["last_date"]]
        summary[freq] = {
            "symbols": len(part),
            "rows": sum(f["rows"] for f in part),
            "first_date": min(firsts).isoformat() if firsts else None,
            "last_date": max(lasts).isoformat() if lasts else None,
        }
    return summary


# --- sample --------------------------------------------------------------------------------------------


def load_sample(
    session: Session,
    *,
    symbols: list[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    if_empty: bool = False,
) -> LoadSampleResult:
    """Generate the synthetic sample (or a slice of it), store it and record a `sample` snapshot.

    `if_empty`: do nothing when a sample snapshot already exists (what `make run` uses)."""
    existing = repo.latest_snapshot(session, source=Source.SAMPLE.value)
    if if_empty and existing is not None:
        snap = SnapshotRead.model_validate(existing, from_attributes=True)
        return LoadSampleResult(
            snapshot=snap, skipped=True, symbols=snap.coverage.get("1d", {}).get("symbols", 0), rows=snap.rows
        )
    start, end = start or sample.SAMPLE_START, end or sample.SAMPLE_END
    require_within(start, end, sample.SAMPLE_START, sample.SAMPLE_END, source="sample")
    wanted = _sample_symbols(symbols)
    data = sample.generate(wanted, start, end)
    _store_sample_reference(session, data)
    store = current().store
    written = []
    for freq, frame in data.bars.items():
        for (symbol,), rows in frame.partition_by("symbol", as_dict=True, maintain_order=True).items():
            written.append(Partition(store.write(freq.value, symbol, rows), start, end))
    snapshot, _ = publish(session, Source.SAMPLE, written)
    return LoadSampleResult(
        snapshot=snapshot, skipped=False, symbols=len(data.instruments), rows=sum(p.file.rows for p in written)
    )


def _sample_symbols(symbols: list[str] | None) -> list[str] | None:
    if not symbols:
        return None
    known = {i.symbol for i in sample.universe()}
    cleaned = list(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
    malformed = [s for s in cleaned if parse_symbol(s) is None]
    unknown = [s for s in cleaned if s not in malformed and s not in known]
    if malformed or unknown:
        raise InvalidInput(
            f"unknown or malformed symbols: {', '.join(malformed + unknown)} (not in the sample universe)",
            field="symbols",
            details={"malformed": malformed, "unknown": unknown},
        )
    return cleaned


def _store_sample_reference(session: Session, data: sample.SampleData) -> None:
    repo.upsert_instruments(
        session,
        [
            {
                "symbol": i.symbol,
                "name": sample.current_name(i),
                "exchange": i.exchange,
                "board": i.board.value,
                "kind": i.kind,
                "list_date": i.list_date,
                "delist_date": i.delist_date,
                "source": Source.SAMPLE.value,
            }
            for i in data.instruments
        ],
        keep_other_sources=True,
    )
    symbols = [i.symbol for i in data.instruments]
    repo.replace_st_periods(
        session,
        symbols,
        [
            {"symbol": p.symbol, "start_date": p.start_date, "end_date": p.end_date, "name": p.name}
            for p in data.st_periods
        ],
    )
    _store_xshg_calendar(session, sample.SAMPLE_START, date(2026, 12, 31))


def _store_xshg_calendar(session: Session, start: date, end: date) -> None:
    if repo.calendar_days_between(session, start, end) == (end - start).days + 1:
        return
    open_days = set(xshg_sessions())
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    repo.upsert_calendar(
        session, [{"cal_date": d, "is_open": d in open_days, "source": "xshg"} for d in days], overwrite=False
    )


# --- Tushare sync --------------------------------------------------------------------------------------


def make_client(**overrides: Any) -> TushareClient:
    """A Tushare client from the context's settings (`TUSHARE_TOKEN`, `HUICE_TUSHARE_URL`, ...)."""
    s = current().settings
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
            client, instruments[symbol], existing.get(symbol), freq_value, start, end, st.get(symbol, [])
        )
        if part is not None:
            written.append(part)
            fetched += rows
        if progress is not None:
            progress(symbol, done, len(wanted))
    if not written and base is not None:
        snap = SnapshotRead.model_validate(base, from_attributes=True)
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
    cleaned = unique_symbols(symbols or [])
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
    store = current().store
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


# --- integrity check -----------------------------------------------------------------------------------


def check(
    session: Session, *, symbols: list[str] | None = None, freq: str = "1d", snapshot_id: str | None = None
) -> CheckReport:
    """Integrity report of a snapshot (default: the newest): OHLC consistency, non-negative volume, prices
    inside the limits, duplicate sessions, and sessions missing or extra against the calendar."""
    freq_value = parse_freq(freq)
    snapshot = resolve_snapshot(session, snapshot_id)
    wanted = validate_symbols(session, symbols) if symbols else None
    files = repo.snapshot_files(session, snapshot.id, freq=freq_value.value, symbols=wanted)
    stored = current().store.read([f.path for f in files])
    sessions: list[date] = []
    if stored.height and freq_value is Freq.DAILY:
        sessions = trading_sessions(session, stored["date"].min(), stored["date"].max())
    issues = check_bars(stored, sessions, daily=freq_value is Freq.DAILY)
    counts = {name: 0 for name in CHECKS}
    for issue in issues:
        counts[issue.check] += 1
    return CheckReport(
        snapshot_id=snapshot.id,
        freq=freq_value.value,
        symbols=len(files),
        rows=stored.height,
        ok=not issues,
        counts=counts,
        issues=[CheckIssue(check=i.check, symbol=i.symbol, date=i.date, detail=i.detail) for i in issues[:MAX_ISSUES]],
    )
