"""Pure market rules: ticks, limit prices, boards, bar labels, adjustment and the integrity checks (the dated
limit rules themselves are the quant core's: tests/quant/test_rulebook.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from market_data.domain import (
    STORED_SCHEMA,
    Board,
    adjust_bars,
    bar_ends,
    board_of,
    check_bars,
    limit_prices,
    parse_symbol,
    round_price,
)
from quant.contract import BAR_SCHEMA


def test_round_price_is_half_up_on_the_tick() -> None:
    assert round_price(1.155) == 1.16
    assert limit_prices(1.05, 0.10) == (1.16, 0.95)
    assert limit_prices(10.0, 0.05) == (10.5, 9.5)


def test_codes_and_boards() -> None:
    assert parse_symbol("600000.SH") == ("600000", "SH")
    assert parse_symbol("600000.XX") is None and parse_symbol("60000.SH") is None
    assert [board_of(s) for s in ("688001.SH", "300750.SZ", "430047.BJ", "000001.SZ")] == [
        Board.STAR,
        Board.CHINEXT,
        Board.BSE,
        Board.MAIN,
    ]


def test_bar_ends_are_right_labelled() -> None:
    five, fifteen = bar_ends("5min"), bar_ends("15min")
    assert len(five) == 48 and len(fifteen) == 16
    assert [t.strftime("%H:%M") for t in (five[0], five[23], five[24], five[-1])] == [
        "09:35",
        "11:30",
        "13:05",
        "15:00",
    ]
    assert [t.strftime("%H:%M") for t in (fifteen[0], fifteen[8])] == ["09:45", "13:15"]


def _stored(rows: list[dict]) -> pl.DataFrame:
    base = {
        "symbol": "600010.SH",
        "pre_close": None,
        "volume": 100.0,
        "amount": 1000.0,
        "up_limit": None,
        "down_limit": None,
        "suspended": False,
        "is_st": False,
    }
    full = [{**base, **r, "ts": datetime.combine(r["date"], datetime.min.time()).replace(hour=15)} for r in rows]
    return pl.DataFrame(full, schema=STORED_SCHEMA)


def test_adjustment_anchors_qfq_at_the_end_date() -> None:
    stored = _stored(
        [
            {"date": date(2024, 1, 2), "open": 10.0, "high": 10.0, "low": 10.0, "close": 10.0, "adj_factor": 1.0},
            {"date": date(2024, 1, 3), "open": 5.0, "high": 5.0, "low": 5.0, "close": 5.0, "adj_factor": 2.0},
            {"date": date(2024, 1, 4), "open": 2.0, "high": 2.0, "low": 2.0, "close": 2.0, "adj_factor": 4.0},
        ]
    )
    assert adjust_bars(stored, "qfq", date(2024, 1, 3))["close"].to_list() == [5.0, 5.0]
    assert adjust_bars(stored, "hfq", date(2024, 1, 4))["close"].to_list() == [10.0, 10.0, 8.0]
    none = adjust_bars(stored, "none", date(2024, 1, 4))
    assert none["close"].to_list() == none["raw_close"].to_list() == [10.0, 5.0, 2.0]


def test_point_in_time_adjustment_does_not_move_earlier_prices_when_a_later_event_comes() -> None:
    """A 2:1 split on 2024-01-04 (raw 10 → 5, factor 1 → 2): with the window ending before it, qfq and
    qfq_pit agree; with the window ending after it, qfq halves every earlier price (a later factor leaks into
    them) while qfq_pit keeps them as they were known, with the same returns."""
    stored = _stored(
        [
            {"date": date(2024, 1, 2), "open": 10.0, "high": 10.0, "low": 10.0, "close": 10.0, "adj_factor": 1.0},
            {"date": date(2024, 1, 3), "open": 11.0, "high": 11.0, "low": 11.0, "close": 11.0, "adj_factor": 1.0},
            {"date": date(2024, 1, 4), "open": 5.5, "high": 5.5, "low": 5.5, "close": 5.5, "adj_factor": 2.0},
            {"date": date(2024, 1, 5), "open": 6.0, "high": 6.0, "low": 6.0, "close": 6.0, "adj_factor": 2.0},
        ]
    )
    before, after = date(2024, 1, 3), date(2024, 1, 5)
    assert adjust_bars(stored, "qfq", before)["close"].to_list() == [10.0, 11.0]
    assert adjust_bars(stored, "qfq_pit", before)["close"].to_list() == [10.0, 11.0]
    assert adjust_bars(stored, "qfq", after)["close"].to_list() == [5.0, 5.5, 5.5, 6.0]
    pit = adjust_bars(stored, "qfq_pit", after)
    assert pit["close"].to_list() == [10.0, 11.0, 11.0, 12.0]
    assert pit["raw_close"].to_list() == [10.0, 11.0, 5.5, 6.0]


def test_check_finds_ohlc_and_non_session_rows() -> None:
    stored = _stored(
        [
            {"date": date(2024, 1, 2), "open": 10.0, "high": 9.0, "low": 9.5, "close": 9.8, "adj_factor": 1.0},
            {"date": date(2024, 1, 6), "open": 10.0, "high": 10.0, "low": 10.0, "close": 10.0, "adj_factor": 1.0},
        ]
    )
    issues = check_bars(stored, [date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5)])
    assert [(i.check, str(i.date)) for i in issues] == [
        ("ohlc", "2024-01-02"),
        ("missing_sessions", "2024-01-03"),
        ("missing_sessions", "2024-01-04"),
        ("missing_sessions", "2024-01-05"),
        ("non_sessions", "2024-01-06"),
    ]


def _window_adjusted(stored: pl.DataFrame, adjust: str, end: date) -> pl.DataFrame:
    """The adjustment as one window expression per symbol (the definition `adjust_bars` must equal)."""
    frame = stored.filter(pl.col("date") <= end).with_columns(
        pl.col(c).alias(f"raw_{c}") for c in ("open", "high", "low", "close")
    )
    if adjust != "none":
        scale = pl.col("adj_factor")
        if adjust != "hfq":
            scale = scale / (scale.last() if adjust == "qfq" else scale.first()).over("symbol")
        frame = frame.with_columns((pl.col(c) * scale).alias(c) for c in ("open", "high", "low", "close", "pre_close"))
    return frame.select(pl.col(name).cast(dtype) for name, dtype in BAR_SCHEMA.items())


@pytest.mark.parametrize("adjust", ["none", "hfq", "qfq", "qfq_pit"])
@pytest.mark.parametrize("case", ["varying", "constant", "null_factor"])
def test_adjustment_equals_the_per_symbol_window_bit_for_bit(adjust: str, case: str) -> None:
    rng = np.random.default_rng(3)
    rows = []
    for k, symbol in enumerate(["000001.SZ", "000002.SZ", "600000.SH", "688001.SH"]):
        factor = 1.0 if case == "constant" else 1.0 + k / 7
        for i in range(40):
            day = date(2024, 1, 1) + timedelta(days=i)
            if case != "constant" and i in (1, 11, 19, 27, 39):  # also on the first and last rows
                factor *= 1.0 + rng.random() / 3
            price = float(np.round(10 + rng.normal(), 2))
            rows.append({"symbol": symbol, "date": day, "open": price, "high": price + 0.1, "low": price - 0.1,
                         "close": price, "pre_close": None if i == 5 else price, "adj_factor": factor})  # fmt: skip
    stored = _stored(rows)
    if case == "null_factor":
        stored = stored.with_columns(pl.when(pl.int_range(pl.len()) == 50).then(None).otherwise(pl.col("adj_factor"))
                                     .alias("adj_factor"))  # fmt: skip
    for end in (date(2024, 2, 9), date(2024, 1, 20)):
        got, want = adjust_bars(stored, adjust, end), _window_adjusted(stored, adjust, end)
        assert got.schema == want.schema
        for name in got.columns:
            a, b = got[name], want[name]
            assert a.null_count() == b.null_count(), name
            if a.dtype == pl.Float64:
                assert (a.to_numpy().view(np.int64) == b.to_numpy().view(np.int64)).all(), name
            else:
                assert a.to_list() == b.to_list(), name
