"""Reading bars: the contract frame (`get_bars`), the benchmark, and the views the faces render (JSON, CSV).

Bars come as the polars frame of `spec/BarFrameContract.md`; a pinned `snapshot_id` reads exactly that
snapshot's files, so reruns see identical data — from its per-symbol partitions or its packs (layout 2), the
same rows in the same order either way.
"""

from __future__ import annotations

from datetime import date

import polars as pl
from sqlalchemy.orm import Session

from market_data import repository as repo
from market_data.calendars import require_within
from market_data.config import MarketDataEnv
from market_data.domain import Adjust, Freq, adjust_bars
from market_data.schemas import BarsRead
from market_data.service._common import clean_symbols, parse_adjust, parse_freq
from market_data.service.reference import calendar_bounds, instrument_frame, known_instruments, validate_symbols
from market_data.service.snapshots import pack_refs, resolve_snapshot


def get_bars(
    session: Session,
    env: MarketDataEnv,
    *,
    symbols: list[str],
    freq: str,
    start: date,
    end: date,
    adjust: str = "qfq",
    snapshot_id: str | None = None,
) -> pl.DataFrame:
    """Bars of `symbols` in [start, end] as the contract frame, sorted by symbol then ts.

    `adjust`: `none` (raw), `qfq` (anchored at each symbol's last session on or before `end`), `hfq`.
    INVALID_INPUT for unknown/malformed codes (each named), unsupported freq/adjust, start > end or dates
    outside the calendar; NOT_FOUND for an unknown snapshot or when nothing is loaded."""
    frame, _ = read_bars(
        session, env, symbols=symbols, freq=freq, start=start, end=end, adjust=adjust, snapshot_id=snapshot_id
    )
    return frame


def read_bars(
    session: Session,
    env: MarketDataEnv,
    *,
    symbols: list[str],
    freq: str,
    start: date,
    end: date,
    adjust: str,
    snapshot_id: str | None,
) -> tuple[pl.DataFrame, repo.Snapshot]:
    """`get_bars` and the snapshot row it read (for the views, which name the snapshot)."""
    freq_value, adjust_value = _checked_window(session, freq, adjust, start, end)
    symbols = validate_symbols(session, symbols)
    snapshot = resolve_snapshot(session, snapshot_id)
    files = repo.snapshot_files(session, snapshot.id, freq=freq_value.value, symbols=symbols)
    packs = pack_refs(session, snapshot, freq_value.value)
    stored = env.store.read_layout([(f.symbol, f.path) for f in files], packs, start, end)
    return adjust_bars(stored, adjust_value, end), snapshot


def _checked_window(session: Session, freq: str, adjust: str, start: date, end: date) -> tuple[Freq, Adjust]:
    """The parsed `freq` and `adjust` of a read, once its window is checked against the calendar."""
    freq_value, adjust_value = parse_freq(freq), parse_adjust(adjust)
    first, last, source = calendar_bounds(session)
    require_within(start, end, first, last, source=source)
    return freq_value, adjust_value


def get_inputs(
    session: Session,
    env: MarketDataEnv,
    *,
    symbols: list[str],
    freq: str,
    start: date,
    end: date,
    adjust: str,
    snapshot_id: str | None,
    benchmark: str | None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None]:
    """What `get_bars`, `get_instruments(symbols)` and (with `benchmark`) `get_benchmark` of the same window
    and snapshot return, with the same errors in the same order, reading the calendar, the instruments, the
    snapshot, its files and (daily) its packs once for all three: a backtest's inputs in 5 statements, not 13."""
    freq_value, adjust_value = _checked_window(session, freq, adjust, start, end)
    bench = [benchmark] if benchmark else []
    known = known_instruments(session, symbols, bench)
    symbols = validate_symbols(session, symbols, known=known)
    snapshot = resolve_snapshot(session, snapshot_id)
    daily = Freq.DAILY.value
    wanted = symbols + [s for s in clean_symbols(bench) if s not in symbols] if freq_value.value == daily else symbols
    files = repo.snapshot_files(session, snapshot.id, freq=freq_value.value, symbols=wanted)
    packs = pack_refs(session, snapshot, freq_value.value)
    chosen = set(symbols)
    stored = env.store.read_layout([(f.symbol, f.path) for f in files if f.symbol in chosen], packs, start, end)
    bars = adjust_bars(stored, adjust_value, end)
    instruments = instrument_frame(symbols, known)
    if not benchmark:
        return bars, instruments, None
    [code] = validate_symbols(session, bench, known=known)
    if freq_value.value != daily:
        files = repo.snapshot_files(session, snapshot.id, freq=daily, symbols=[code])
        packs = pack_refs(session, snapshot, daily)
    stored = env.store.read_layout([(f.symbol, f.path) for f in files if f.symbol == code], packs, start, end)
    return bars, instruments, adjust_bars(stored, parse_adjust("none"), end)


def warm_reads(session: Session) -> None:
    """The statements of `get_inputs` (and of `read_bars`), run for a snapshot that does not exist (a worker
    parent prepares its work-horses with them: `job_orchestration.attempt.warm`)."""
    ghost = "warm-" + "0" * 11
    repo.calendar_range(session)
    repo.instruments_by_symbol(session, [ghost])
    repo.get_snapshot(session, ghost)
    repo.snapshot_files(session, ghost, freq=Freq.DAILY.value, symbols=[ghost])
    repo.snapshot_packs(session, ghost, freq=Freq.DAILY.value)


def get_benchmark(
    session: Session, env: MarketDataEnv, symbol: str, start: date, end: date, snapshot_id: str | None = None
) -> pl.DataFrame:
    """A benchmark index (e.g. `000300.SH`) as a contract frame of daily bars (prices unadjusted)."""
    return get_bars(
        session,
        env,
        symbols=[symbol],
        freq=Freq.DAILY.value,
        start=start,
        end=end,
        adjust="none",
        snapshot_id=snapshot_id,
    )


def bars_view(
    session: Session,
    env: MarketDataEnv,
    query_symbols: list[str],
    *,
    freq: str,
    start: date,
    end: date,
    adjust: str,
    snapshot_id: str | None,
) -> BarsRead:
    """The bars as rows with the snapshot they come from (the API's JSON and `huice data bars --json`)."""
    frame, snapshot = read_bars(
        session, env, symbols=query_symbols, freq=freq, start=start, end=end, adjust=adjust, snapshot_id=snapshot_id
    )
    return BarsRead(
        snapshot_id=snapshot.id,
        source=snapshot.source,
        freq=freq,
        adjust=adjust,
        start=start,
        end=end,
        columns=frame.columns,
        rows=frame.to_dicts(),
    )


def bars_csv(
    session: Session,
    env: MarketDataEnv,
    query_symbols: list[str],
    *,
    freq: str,
    start: date,
    end: date,
    adjust: str,
    snapshot_id: str | None,
    bom: bool = False,
) -> str:
    """The bars as CSV text (header = the contract's columns); `bom` starts it with a UTF-8 byte-order mark,
    for a file or download a spreadsheet opens (Excel in a Chinese locale reads UTF-8 only with it)."""
    frame, _ = read_bars(
        session, env, symbols=query_symbols, freq=freq, start=start, end=end, adjust=adjust, snapshot_id=snapshot_id
    )
    return frame.write_csv(include_bom=bom)
