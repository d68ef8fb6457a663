"""The offline trading calendar: `exchange_calendars`' XSHG (shared by SSE, SZSE and BSE).

XSHG's holidays are recorded only up to 2026-12-31; beyond that there is no calendar, and asking for one is
an INVALID_INPUT, never a guess. The calendar is built on first use and kept for the process.
"""

from __future__ import annotations

import functools
import warnings
from datetime import date

from platform_core.errors import InvalidInput

XSHG_FIRST = date(2005, 1, 4)
XSHG_LAST = date(2026, 12, 31)


@functools.lru_cache(maxsize=1)
def xshg_sessions() -> tuple[date, ...]:
    """Every XSHG session from 2005 through the last recorded year."""
    import exchange_calendars

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas deprecation chatter inside exchange_calendars
        calendar = exchange_calendars.get_calendar("XSHG", start=XSHG_FIRST.isoformat(), end=XSHG_LAST.isoformat())
        return tuple(ts.date() for ts in calendar.sessions)


def require_within(start: date, end: date, first: date, last: date, *, source: str) -> None:
    """INVALID_INPUT unless [start, end] is inside the calendar's known range."""
    if start > end:
        raise InvalidInput(
            f"start {start} is after end {end}", details={"start": start.isoformat(), "end": end.isoformat()}
        )
    if start < first or end > last:
        raise InvalidInput(
            f"dates outside the trading calendar's range {first}..{last} ({source}); no calendar is known beyond it",
            details={
                "start": start.isoformat(),
                "end": end.isoformat(),
                "calendar_first": first.isoformat(),
                "calendar_last": last.isoformat(),
                "calendar_source": source,
            },
        )


def xshg_between(start: date, end: date) -> list[date]:
    require_within(start, end, XSHG_FIRST, XSHG_LAST, source="xshg")
    return [d for d in xshg_sessions() if start <= d <= end]
