"""Integrity checks of a snapshot's bars: OHLC consistency, volume, limits, and sessions against the calendar."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from market_data import repository as repo
from market_data.config import MarketDataEnv
from market_data.domain import CHECKS, Freq, check_bars
from market_data.schemas import CheckIssue, CheckReport
from market_data.service._common import parse_freq
from market_data.service.reference import trading_sessions, validate_symbols
from market_data.service.snapshots import pack_refs, resolve_snapshot

MAX_ISSUES = 500


def check(
    session: Session,
    env: MarketDataEnv,
    *,
    symbols: list[str] | None = None,
    freq: str = "1d",
    snapshot_id: str | None = None,
) -> CheckReport:
    """Integrity report of a snapshot (default: the newest): OHLC consistency, non-negative volume, prices
    inside the limits, duplicate sessions, and sessions missing or extra against the calendar."""
    freq_value = parse_freq(freq)
    snapshot = resolve_snapshot(session, snapshot_id)
    wanted = validate_symbols(session, symbols) if symbols else None
    files = repo.snapshot_files(session, snapshot.id, freq=freq_value.value, symbols=wanted)
    stored = env.store.read_layout([(f.symbol, f.path) for f in files], pack_refs(session, snapshot, freq_value.value))
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
