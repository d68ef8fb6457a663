"""Loading the offline sample: the synthetic dataset (`market_data.sample`) stored and published as a
`sample` snapshot, with its instruments, ST periods, the XSHG calendar, and its fundamentals and index
constituents (`market_data.sample_reference`)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from sqlalchemy.orm import Session

from market_data import repository as repo
from market_data import sample, sample_reference
from market_data.calendars import require_within, xshg_sessions
from market_data.config import MarketDataEnv
from market_data.domain import Freq, Source, parse_symbol
from market_data.schemas import LoadSampleResult
from market_data.service._common import clean_symbols, default_id, snapshot_read
from market_data.service.snapshots import Partition, publish
from platform_core.errors import InvalidInput


def load_sample(
    session: Session,
    env: MarketDataEnv,
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
        snap = snapshot_read(existing, default_id(session))
        return LoadSampleResult(
            snapshot=snap, skipped=True, symbols=snap.coverage.get("1d", {}).get("symbols", 0), rows=snap.rows
        )
    start, end = start or sample.SAMPLE_START, end or sample.SAMPLE_END
    require_within(start, end, sample.SAMPLE_START, sample.SAMPLE_END, source="sample")
    wanted = _sample_symbols(symbols)
    data = sample.generate(wanted, start, end)
    _store_sample_reference(session, data)
    _store_sample_fundamentals(session, data, start, end)
    written = []
    for freq, frame in data.bars.items():
        for (symbol,), rows in frame.partition_by("symbol", as_dict=True, maintain_order=True).items():
            written.append(Partition(env.store.write(freq.value, symbol, rows), start, end))
    snapshot, _ = publish(session, Source.SAMPLE, written, store=env.store)
    return LoadSampleResult(
        snapshot=snapshot, skipped=False, symbols=len(data.instruments), rows=sum(p.file.rows for p in written)
    )


def _sample_symbols(symbols: list[str] | None) -> list[str] | None:
    if not symbols:
        return None
    known = {i.symbol for i in sample.universe()}
    cleaned = clean_symbols(symbols)
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


def _store_sample_fundamentals(session: Session, data: sample.SampleData, start: date, end: date) -> None:
    """daily_basic of the loaded stocks and the constituents of the sample indices over [start, end]."""
    basics = sample_reference.daily_basic(data.bars[Freq.DAILY]).rename({"date": "trade_date"})
    repo.upsert_daily_basic(session, [{**r, "source": Source.SAMPLE.value} for r in basics.to_dicts()])
    weights = sample_reference.index_weights(start, end)
    for code in sample_reference.INDEX_CODES:
        rows = weights.filter(pl.col("index_code") == code).with_columns(pl.lit(Source.SAMPLE.value).alias("source"))
        repo.replace_index_weights(session, code, start, end, rows.to_dicts())


def _store_xshg_calendar(session: Session, start: date, end: date) -> None:
    if repo.calendar_days_between(session, start, end) == (end - start).days + 1:
        return
    open_days = set(xshg_sessions())
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    repo.upsert_calendar(
        session, [{"cal_date": d, "is_open": d in open_days, "source": "xshg"} for d in days], overwrite=False
    )
