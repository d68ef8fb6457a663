"""Pure rules of monitoring: the summary windows, the alert rules and their transitions, schedule times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from platform_core.errors import InvalidInput

WINDOWS: dict[str, int] = {"15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800, "30d": 2592000}
DEFAULT_WINDOW = "24h"
MARKET_TZ = ZoneInfo("Asia/Shanghai")


def window_seconds(window: str, *, field: str = "window") -> int:
    """Seconds of a named window (15m, 1h, 6h, 24h, 7d, 30d); INVALID_INPUT for any other name."""
    try:
        return WINDOWS[window]
    except KeyError:
        raise InvalidInput(
            f"unknown window {window!r}", field=field, details={"window": window, "allowed": list(WINDOWS)}
        ) from None


class AlertRule(StrEnum):
    QUEUE_WAIT_P95 = "queue_wait_p95"
    FAILURE_RATE = "failure_rate"
    NO_LIVE_WORKER = "no_live_worker"
    DATA_STALE = "data_stale"
    DISK_NEARLY_FULL = "disk_nearly_full"


class AlertState(StrEnum):
    FIRING = "firing"
    OK = "ok"


class Transition(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Verdict:
    """One rule judged on the current figures: firing or not, the value seen and the threshold."""

    rule: AlertRule
    firing: bool
    value: float | None
    threshold: float | None
    message: str


def judge_above(rule: AlertRule, value: float | None, threshold: float | None, what: str, unit: str = "") -> Verdict:
    """Firing when `value` is known and above `threshold` (None threshold: the rule is off, never firing)."""
    firing = threshold is not None and value is not None and value > threshold
    shown = "unknown" if value is None else f"{value:g}{unit}"
    limit = "off" if threshold is None else f"{threshold:g}{unit}"
    return Verdict(rule, firing, value, threshold, f"{what} is {shown} (threshold {limit})")


def judge_no_worker(enabled: bool, alive: int | None) -> Verdict:
    """Firing when no worker is alive (or Redis cannot tell: workers cannot take jobs then either)."""
    firing = enabled and (alive is None or alive == 0)
    shown = "unknown (Redis unreachable)" if alive is None else str(alive)
    return Verdict(
        AlertRule.NO_LIVE_WORKER, firing, None if alive is None else float(alive), 0.0, f"live workers: {shown}"
    )


def transition(previous: AlertState | None, verdict: Verdict) -> Transition | None:
    """What changed: firing when a rule starts firing, resolved when a firing rule stops; else None."""
    was_firing = previous == AlertState.FIRING
    if verdict.firing and not was_firing:
        return Transition.FIRING
    if was_firing and not verdict.firing:
        return Transition.RESOLVED
    return None


def next_daily(after: datetime, at: str, tz: ZoneInfo = MARKET_TZ) -> datetime:
    """The first `at` (HH:MM in `tz`) strictly after `after` (an aware datetime), in UTC."""
    hour, minute = (int(p) for p in at.split(":"))
    local = after.astimezone(tz)
    candidate = datetime.combine(local.date(), time(hour, minute), tzinfo=tz)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(ZoneInfo("UTC"))
