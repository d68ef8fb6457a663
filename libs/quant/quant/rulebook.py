"""The dated A-share rulebook (see the shared reference `a-share-rules.md`): price-limit percentages by
board, ST status, date and listing age; lot rules; stamp duty and transfer fee schedules; limit-price
rounding. Every result states `RULEBOOK_VERSION`."""

from __future__ import annotations

import datetime as dt

import numpy as np

RULEBOOK_VERSION = "cn-a-share/2026.07.06-r2"

ST_TEN_PERCENT_FROM = dt.date(2026, 7, 6)  # ST/*ST on the main board: ±5% until 2026-07-05, ±10% after
CHINEXT_REFORM = dt.date(2020, 8, 24)  # ChiNext ±20% (incl. ST) and registration IPOs from this date
MAIN_REGISTRATION = dt.date(2023, 4, 10)  # first registration-based main-board listing

LIMIT_PCT = {"main": 0.10, "chinext": 0.20, "star": 0.20, "bse": 0.30}

# (min first buy, step after the minimum); odd lots below the minimum are only sellable to close out.
LOT_RULES = {"main": (100, 100), "chinext": (100, 100), "star": (200, 1), "bse": (100, 1)}

# Stamp duty: (effective from, rate of traded value, sides charged).
STAMP_DUTY_SCHEDULE: list[tuple[dt.date, float, str]] = [
    (dt.date(1990, 1, 1), 0.001, "both"),
    (dt.date(2007, 5, 30), 0.003, "both"),
    (dt.date(2008, 4, 24), 0.001, "both"),
    (dt.date(2008, 9, 19), 0.001, "sell"),
    (dt.date(2023, 8, 28), 0.0005, "sell"),
]

# Transfer fee (CSDC), both sides, rate of traded value. Before 2015-08-01: SSE 0.3‰ of par value
# (par 1 CNY, i.e. 0.0003 CNY per share), SZSE 0.0255‰ of value.
TRANSFER_FEE_SCHEDULE: list[tuple[dt.date, float]] = [
    (dt.date(2015, 8, 1), 0.00002),
    (dt.date(2022, 4, 29), 0.00001),
]
TRANSFER_PRE_2015 = {"SSE": ("per_share", 0.0003), "SZSE": ("value", 0.0000255), "BSE": ("value", 0.0000255)}
# Per-exchange exceptions to the schedule above: the BSE (opened 2021-11-15) charged 0.025‰ of value until
# CSDC's cut of 2022-04-29 brought it to 0.01‰ with the other exchanges (Xinhua 2022-04-28; the reference §8).
TRANSFER_EXCHANGE_SCHEDULE: dict[str, list[tuple[dt.date, float]]] = {
    "BSE": [(dt.date(2015, 8, 1), 0.00002), (dt.date(2021, 11, 15), 0.000025), (dt.date(2022, 4, 29), 0.00001)],
}

TICK = 0.01


def round_half_up_cent(x: np.ndarray | float) -> np.ndarray:
    """Round to 0.01 half up (四舍五入), robust to binary representation (1.155 -> 1.16)."""
    return np.floor(np.asarray(x, dtype=np.float64) * 100.0 + 0.5 + 1e-7) / 100.0


def limit_pct(board: str, is_st: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Daily limit fraction for one symbol over `dates` (datetime64[D]) given its ST flags."""
    dates = dates.astype("datetime64[D]")
    if board in ("star", "bse"):
        return np.full(dates.shape, LIMIT_PCT[board])
    if board == "chinext":
        after = dates >= np.datetime64(CHINEXT_REFORM)
        return np.where(after, 0.20, np.where(is_st, 0.05, 0.10))
    st_pct = np.where(dates >= np.datetime64(ST_TEN_PERCENT_FROM), 0.10, 0.05)
    return np.where(is_st, st_pct, 0.10)


def unbanded_sessions(board: str, list_date: dt.date) -> int:
    """First sessions after a listing on `list_date` that trade with no daily band at all: 5 for
    registration-based IPOs (STAR always, ChiNext from 2020-08-24, main board from 2023-04-10), 1 on the
    BSE, 0 for old-regime listings (their first day has a +44% / -36% band of the IPO price)."""
    if board == "bse":
        return 1
    registered = (
        board == "star"
        or (board == "chinext" and list_date >= CHINEXT_REFORM)
        or (board == "main" and list_date >= MAIN_REGISTRATION)
    )
    return 5 if registered else 0


def no_limit_sessions(board: str, list_date: dt.date | None) -> int:
    """Number of first sessions the simulator trades without a daily limit (0 if the listing date is unknown):
    the unbanded sessions, and for old-regime listings their first session (its ±44%/−36% IPO-price band is
    not modelled because the IPO price is not in the bar data)."""
    if list_date is None:
        return 0
    return unbanded_sessions(board, list_date) or 1


def stamp_rates(dates: np.ndarray, schedule=STAMP_DUTY_SCHEDULE) -> tuple[np.ndarray, np.ndarray]:
    """Per-date (buy rate, sell rate) of stamp duty."""
    starts = np.array([np.datetime64(d) for d, _, _ in schedule], dtype="datetime64[D]")
    idx = np.searchsorted(starts, dates.astype("datetime64[D]"), side="right") - 1
    rates = np.array([r for _, r, _ in schedule] + [0.0])
    both = np.array([side == "both" for _, _, side in schedule] + [False])
    sell = rates[idx]
    buy = np.where(both[idx], rates[idx], 0.0)
    return np.where(idx < 0, 0.0, buy), np.where(idx < 0, 0.0, sell)


def transfer_rates(dates: np.ndarray, exchange: str, schedule=TRANSFER_FEE_SCHEDULE) -> tuple[np.ndarray, np.ndarray]:
    """Per-date (rate of value, CNY per share) of the transfer fee for one exchange."""
    if schedule is TRANSFER_FEE_SCHEDULE:
        schedule = TRANSFER_EXCHANGE_SCHEDULE.get(exchange, schedule)
        builtin = True
    else:
        builtin = False
    starts = np.array([np.datetime64(d) for d, _ in schedule], dtype="datetime64[D]")
    idx = np.searchsorted(starts, dates.astype("datetime64[D]"), side="right") - 1
    value_rate = np.array([r for _, r in schedule])[np.maximum(idx, 0)]
    per_share = np.zeros(dates.shape)
    if builtin:
        kind, rate = TRANSFER_PRE_2015.get(exchange, ("value", 0.0000255))
        pre = idx < 0
        value_rate = np.where(pre, rate if kind == "value" else 0.0, value_rate)
        per_share = np.where(pre & (kind == "per_share"), rate, 0.0)
    else:
        value_rate = np.where(idx < 0, 0.0, value_rate)
    return value_rate, per_share


def describe() -> dict:
    """JSON-friendly summary of the rulebook, for manifests and docs."""
    return {
        "version": RULEBOOK_VERSION,
        "limit_pct": LIMIT_PCT,
        "st_main_limit": {"until_2026-07-05": 0.05, "from": ST_TEN_PERCENT_FROM.isoformat(), "after": 0.10},
        "chinext_20pct_from": CHINEXT_REFORM.isoformat(),
        "lot_rules": {k: {"min": m, "step": s} for k, (m, s) in LOT_RULES.items()},
        "stamp_duty": [(d.isoformat(), r, s) for d, r, s in STAMP_DUTY_SCHEDULE],
        "transfer_fee": [(d.isoformat(), r) for d, r in TRANSFER_FEE_SCHEDULE],
        "transfer_fee_by_exchange": {
            ex: [(d.isoformat(), r) for d, r in sched] for ex, sched in TRANSFER_EXCHANGE_SCHEDULE.items()
        },
        "zero_volume_bar": "blocked like a suspension (SUSPENDED)",
    }
