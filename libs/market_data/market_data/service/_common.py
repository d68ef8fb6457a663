"""Helpers shared by the use cases: option parsing, symbol cleaning, schema conversion."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy.orm import Session

from market_data import repository as repo
from market_data.domain import Adjust, Freq
from market_data.schemas import CoverageRead, SnapshotRead
from platform_core.errors import InvalidInput

NO_DATA_HINT = "no market data loaded: run `huice data load-sample` or `huice data sync`"


def parse_freq(freq: str) -> Freq:
    try:
        return Freq(freq)
    except ValueError:
        allowed = [f.value for f in Freq]
        raise InvalidInput(
            f"unsupported frequency {freq!r}; use one of {allowed}", field="freq", details={"allowed": allowed}
        ) from None


def parse_adjust(adjust: str) -> Adjust:
    try:
        return Adjust(adjust)
    except ValueError:
        allowed = [a.value for a in Adjust]
        raise InvalidInput(
            f"unsupported adjustment {adjust!r}; use one of {allowed}", field="adjust", details={"allowed": allowed}
        ) from None


def clean_symbols(symbols: Iterable[str]) -> list[str]:
    """The codes trimmed and upper-cased, in order (blanks dropped); INVALID_INPUT naming the codes given
    more than once (a duplicate is reported, never silently dropped)."""
    cleaned = [s.strip().upper() for s in symbols if s and s.strip()]
    duplicates = [s for s, n in Counter(cleaned).items() if n > 1]
    if duplicates:
        raise InvalidInput(
            f"duplicate symbols: {', '.join(duplicates)}", field="symbols", details={"duplicates": duplicates}
        )
    return cleaned


def default_id(session: Session) -> str | None:
    """The id of the default snapshot (None before any data is loaded)."""
    row = repo.current_default(session)
    return row.id if row is not None else None


def snapshot_read(row: repo.Snapshot, default: str | None) -> SnapshotRead:
    """The snapshot as read by callers; `default` = the current default's id (marks `is_default`)."""
    read = SnapshotRead.model_validate(row, from_attributes=True)
    return read.model_copy(update={"is_default": row.id == default})


def coverage_read(row: repo.SnapshotFile) -> CoverageRead:
    return CoverageRead.model_validate(row, from_attributes=True)
