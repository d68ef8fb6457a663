"""Syncing the point-in-time reference data from Tushare Pro: `daily_basic` (fundamentals) by session for
the whole market, and `index_weight` (constituents) per index — plus the by-date staging both this and
the bar sync use.

`daily_basic` is fetched for the open sessions of the window that hold no Tushare rows yet (one call per session,
paged at 6,000 rows); each session is staged under `<store>/staging/by-date/<yyyymmdd>/daily_basic.parquet`
as it arrives (in the storage, so a sync resumed on another machine finds it), so an interrupted sync keeps
it, and the rows are upserted when all are in. `index_weight` is one call per index over the window (paged),
replacing that index's weights of the window.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date

import polars as pl
from sqlalchemy.orm import Session

from market_data import repository as repo
from market_data.config import MarketDataEnv
from market_data.domain import Source
from market_data.sample_reference import INDEX_CODES
from market_data.tushare import TushareClient, parse_ymd, ymd
from platform_core.storage import Storage

STAGING = "staging/by-date"  # below the bar store's storage: <yyyymmdd>/<endpoint>.parquet
Progress = Callable[[str, int, int], None]


def staged_query(
    staging: Storage, client: TushareClient, endpoint: str, day: date, *, keep_empty: bool
) -> pl.DataFrame:
    """The whole market of `endpoint` on `day`: read back from `<yyyymmdd>/<endpoint>.parquet` of `staging`
    when an earlier sync staged it, else fetched and staged (written atomically; an empty answer only with
    `keep_empty` — an empty `daily` is a session not yet published upstream)."""
    key = f"{ymd(day)}/{endpoint}.parquet"
    if staging.exists(key):
        return pl.read_parquet(io.BytesIO(staging.get(key)))
    frame = client.query(endpoint, {"trade_date": ymd(day)})
    if frame.height or keep_empty:
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        staging.put(key, buffer.getvalue())
    return frame


def sync_datasets(
    session: Session,
    env: MarketDataEnv,
    client: TushareClient,
    datasets: tuple[str, ...],
    start: date,
    end: date,
    progress: Progress | None,
) -> dict[str, int]:
    """The reference datasets of a sync; the rows stored of each (`basic_rows`, `weight_rows`)."""
    basic = _daily_basic(session, env, client, start, end, progress) if "daily_basic" in datasets else 0
    weights = _index_weights(session, client, start, end, progress) if "index_weight" in datasets else 0
    return {"basic_rows": basic, "weight_rows": weights}


def _daily_basic(
    session: Session, env: MarketDataEnv, client: TushareClient, start: date, end: date, progress: Progress | None
) -> int:
    held = repo.basic_dates(session, start, end, source=Source.TUSHARE.value)
    days = [d for d in repo.open_days(session, start, end) if d not in held]
    staging = env.store.storage.child(STAGING)
    frames = []
    for done, day in enumerate(days, start=1):
        frame = staged_query(staging, client, "daily_basic", day, keep_empty=False)
        if frame.height:
            frames.append(frame.with_columns(pl.all().cast(pl.Utf8)))
        if progress is not None:
            progress(f"{day.isoformat()} daily_basic", done, len(days))
    rows = [_basic_row(r) for f in frames for r in f.iter_rows(named=True)]
    repo.upsert_daily_basic(session, rows)
    for day in days:
        staging.delete(f"{ymd(day)}/daily_basic.parquet")
    return len(rows)


def _number(value: str | None) -> float | None:
    return float(value) if value not in (None, "", "None", "nan") else None


def _basic_row(r: dict[str, str | None]) -> dict[str, object]:
    values = {c: _number(r.get(c)) for c in repo.BASIC_COLUMNS}
    return {"symbol": r["ts_code"], "trade_date": parse_ymd(r["trade_date"]), **values, "source": Source.TUSHARE.value}


def _index_weights(session: Session, client: TushareClient, start: date, end: date, progress: Progress | None) -> int:
    stored = 0
    for done, code in enumerate(INDEX_CODES, start=1):
        frame = client.query("index_weight", {"index_code": code, "start_date": ymd(start), "end_date": ymd(end)})
        rows = [
            {
                "index_code": code,
                "con_code": r["con_code"],
                "trade_date": parse_ymd(str(r["trade_date"])),
                "weight": _number(None if r.get("weight") is None else str(r["weight"])),
                "source": Source.TUSHARE.value,
            }
            for r in frame.iter_rows(named=True)
        ]
        repo.replace_index_weights(session, code, start, end, rows)
        stored += len(rows)
        if progress is not None:
            progress(f"{code} index_weight", done, len(INDEX_CODES))
    return stored
