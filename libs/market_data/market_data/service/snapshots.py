"""Data snapshots: reading them (default, newest, by id, listed, coverage), publishing a new one after a
write, and the default-snapshot rule.

A snapshot is an immutable manifest (PostgreSQL) of content-addressed Parquet files (the store). A load or
sync writes new files for what changed, then publishes a new snapshot holding the previous snapshot's other
files: earlier snapshots stay readable, and an interrupted run leaves only unreferenced files behind.
Nothing new → no new snapshot. Whether a new snapshot is also the one new backtests use is `DEFAULT_RULE`.

Manifest layout 2 (`LAYOUT`): a published snapshot also lists its daily partitions packed per code prefix
(`store.write_pack`, `snapshot_packs`), written before the snapshot row, so it is visible with its packs or
not at all. A bucket whose members are unchanged reuses the previous snapshot's pack. Layout-1 snapshots
(published before) have no packs and read their per-symbol partitions, as they always did.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from market_data import repository as repo
from market_data.config import MarketDataEnv
from market_data.domain import Source
from market_data.schemas import CoverageRead, DataFreshness, DefaultSnapshotRead, SnapshotDetail, SnapshotRead
from market_data.service._common import NO_DATA_HINT, coverage_read, default_id, parse_freq, snapshot_read
from market_data.store import BarStore, PackRef, StoredFile, bucket_of, members_hash
from platform_core.errors import InvalidInput, NotFound
from platform_core.ids import new_id, utcnow
from platform_core.pagination import Page, PageParams

log = logging.getLogger("huice.market_data")

LAYOUT = 2  # the manifest format new snapshots are published in (see the module docstring)
PACKED_FREQS = ("1d",)  # minute partitions stay per symbol: a backtest reads few of them

DEFAULT_RULE = (
    "Unpinned reads and new backtests use the default snapshot. A snapshot is published only when every "
    "partition of its load or sync is in (complete); it becomes the default only if there is no default yet "
    "or it covers everything the current default covers (every frequency and symbol, over at least the same "
    "dates), or when an administrator names it (`huice data default <snapshot>`, "
    "PUT /api/market/snapshots/default). A partial sync therefore never changes what new backtests use."
)

# --- reading -------------------------------------------------------------------------------------------


def resolve_snapshot(session: Session, snapshot_id: str | None) -> repo.Snapshot:
    """The snapshot row of `snapshot_id`, or the default one when None; NOT_FOUND otherwise."""
    if snapshot_id is not None:
        row = repo.get_snapshot(session, snapshot_id)
        if row is None:
            raise NotFound(f"snapshot {snapshot_id} not found", details={"snapshot_id": snapshot_id})
        return row
    row = repo.current_default(session)
    if row is None:
        raise NotFound(NO_DATA_HINT)
    return row


def default_snapshot(session: Session) -> SnapshotRead:
    """The default snapshot (what an unpinned read and a new backtest use, see `DEFAULT_RULE`); NOT_FOUND
    when nothing is loaded."""
    row = resolve_snapshot(session, None)
    return snapshot_read(row, row.id)


def default_snapshot_detail(session: Session) -> DefaultSnapshotRead:
    """The default snapshot with how it became the default and the rule; NOT_FOUND when nothing is loaded."""
    record = repo.default_record(session)
    if record is None:
        raise NotFound(NO_DATA_HINT)
    row = resolve_snapshot(session, record.snapshot_id)
    return DefaultSnapshotRead(
        snapshot=snapshot_read(row, row.id),
        set_at=record.set_at,
        reason=record.reason,
        set_by=record.set_by,
        rule=DEFAULT_RULE,
    )


def set_default_snapshot(session: Session, snapshot_id: str, *, set_by: str | None = None) -> DefaultSnapshotRead:
    """Name the default snapshot explicitly (administrators; the faces check the role). NOT_FOUND for an
    unknown id; naming the current default again changes nothing."""
    row = resolve_snapshot(session, snapshot_id.strip())
    if default_id(session) != row.id:
        repo.set_default(session, row.id, at=utcnow(), reason="explicit", set_by=set_by)
        log.info("market data default snapshot %s (explicit)", row.id)
    return default_snapshot_detail(session)


def latest_snapshot(session: Session) -> SnapshotRead:
    """The newest data snapshot of any source (not necessarily the default); NOT_FOUND when nothing is
    loaded."""
    row = repo.latest_snapshot(session)
    if row is None:
        raise NotFound(NO_DATA_HINT)
    return snapshot_read(row, default_id(session))


def get_snapshot(session: Session, snapshot_id: str) -> SnapshotDetail:
    """One snapshot with every partition it holds; NOT_FOUND for an unknown id."""
    row = resolve_snapshot(session, snapshot_id)
    files = repo.snapshot_files(session, row.id)
    read = snapshot_read(row, default_id(session))
    return SnapshotDetail(**read.model_dump(), partitions=[coverage_read(f) for f in files])


def list_snapshots(session: Session, *, page: PageParams) -> Page[SnapshotRead]:
    """Data snapshots, newest first; the default one has `is_default`."""
    items, total = repo.list_snapshots(session, limit=page.limit, offset=page.offset)
    default = default_id(session)
    return Page[SnapshotRead](
        items=[snapshot_read(s, default) for s in items], total=total, limit=page.limit, offset=page.offset
    )


def coverage(
    session: Session, *, snapshot_id: str | None = None, freq: str | None = None, symbol: str | None = None
) -> list[CoverageRead]:
    """Partitions of a snapshot (default: the default snapshot): per frequency and symbol, the dates held."""
    row = resolve_snapshot(session, snapshot_id)
    freq_value = parse_freq(freq).value if freq else None
    symbols = [symbol.strip().upper()] if symbol else None
    files = repo.snapshot_files(session, row.id, freq=freq_value, symbols=symbols)
    return [coverage_read(f) for f in files]


# --- publishing ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Partition:
    """A stored file and the date range it covers (what a load or sync asked for, not only the bars held)."""

    file: StoredFile
    covered_start: date
    covered_end: date


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


def pack_refs(session: Session, snapshot: repo.Snapshot, freq: str) -> list[PackRef]:
    """The packs a read of `freq` from `snapshot` may use (none for a layout-1 snapshot)."""
    if snapshot.layout < 2 or freq not in PACKED_FREQS:
        return []
    return [PackRef(p.bucket, p.path, p.symbols) for p in repo.snapshot_packs(session, snapshot.id, freq=freq)]


def publish(
    session: Session, source: Source, written: list[Partition], *, store: BarStore
) -> tuple[SnapshotRead, bool]:
    """A new snapshot = the newest snapshot of `source` with `written` partitions replaced or added, its daily
    partitions packed in `store` (layout 2). Returns the unchanged previous snapshot (and False) when the
    content is identical."""
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
        return snapshot_read(base, default_id(session)), False
    snapshot_id = f"snap_{new_id().hex}"
    files = [{**entry, "snapshot_id": snapshot_id} for _, entry in sorted(manifest.items())]
    packs = [{**pack, "snapshot_id": snapshot_id} for pack in _packs(session, store, base, manifest)]
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
            "layout": LAYOUT,
        },
        files,
        packs,
    )
    log.info("market data snapshot %s (%s): %d files", snapshot_id, source.value, len(files))
    _promote_if_covering(session, row, manifest)
    return snapshot_read(row, default_id(session)), True


def _packs(
    session: Session, store: BarStore, base: repo.Snapshot | None, manifest: dict[tuple[str, str], dict[str, Any]]
) -> list[dict[str, Any]]:
    """The packs of a new manifest: per packed frequency and bucket, the base snapshot's pack when its members
    are unchanged, else a new one."""
    previous = {}
    if base is not None and base.layout >= 2:
        previous = {(p.freq, p.bucket, p.members_hash): p for p in repo.snapshot_packs(session, base.id)}
    buckets: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for (freq, symbol), entry in sorted(manifest.items()):
        if freq in PACKED_FREQS:
            buckets.setdefault((freq, bucket_of(symbol)), []).append((symbol, entry["path"], entry["content_hash"]))
    packs = []
    for (freq, bucket), members in buckets.items():
        reused = previous.get((freq, bucket, members_hash([(s, h) for s, _, h in members])))
        if reused is not None:
            packs.append({c: getattr(reused, c) for c in _PACK_COLUMNS})
            continue
        pack = store.write_pack(freq, bucket, members)
        packs.append({c: getattr(pack, c) for c in _PACK_COLUMNS})
    return packs


_PACK_COLUMNS = ("freq", "bucket", "path", "content_hash", "rows", "symbols", "members_hash")


def _promote_if_covering(session: Session, row: repo.Snapshot, manifest: dict[tuple[str, str], dict[str, Any]]) -> None:
    """`DEFAULT_RULE` for a newly published snapshot: the default when there is none yet or when it covers
    every partition of the current default over at least the same dates."""
    current = repo.current_default(session)
    if current is not None:
        held = repo.snapshot_files(session, current.id)
        uncovered = [f for f in held if not covers(manifest.get((f.freq, f.symbol)), f)]
        if uncovered:
            log.info(
                "market data snapshot %s is not the default: it lacks %d partitions of %s (e.g. %s/%s)",
                row.id, len(uncovered), current.id, uncovered[0].freq, uncovered[0].symbol,
            )  # fmt: skip
            return
    repo.set_default(session, row.id, at=row.created_at, reason="published", set_by=None)


def covers(entry: dict[str, Any] | None, old: repo.SnapshotFile) -> bool:
    """Whether a manifest entry holds the partition `old` over at least its covered dates."""
    return entry is not None and entry["covered_start"] <= old.covered_start and entry["covered_end"] >= old.covered_end


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


# --- freshness (monitoring) ----------------------------------------------------------------------------


def data_freshness(session: Session, env: MarketDataEnv, today: date | None = None) -> DataFreshness:
    """Published: the newest snapshot, the newest Tushare snapshot's time, the newest daily bar date and the
    trading sessions after it up to `today` (XSHG / the stored calendar; None when outside the calendar)."""
    today = today or utcnow().date()
    newest = repo.latest_snapshot(session)
    tushare = repo.latest_snapshot(session, source=Source.TUSHARE.value)
    last_text = ((newest.coverage or {}).get("1d") or {}).get("last_date") if newest is not None else None
    last = date.fromisoformat(last_text) if last_text else None
    behind = None
    if last is not None and last < today:
        from market_data.service.reference import trading_sessions

        try:
            behind = len(trading_sessions(session, last + timedelta(days=1), today))
        except InvalidInput:
            behind = None
    elif last is not None:
        behind = 0
    return DataFreshness(
        newest_snapshot=snapshot_read(newest, default_id(session)) if newest is not None else None,
        newest_tushare_snapshot_at=tushare.created_at if tushare is not None else None,
        last_daily_date=last,
        sessions_behind=behind,
        tushare_token_configured=env.settings.tushare_token is not None,
    )
