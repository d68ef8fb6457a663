"""Point-in-time universe membership over the sample slice: all listed stocks with a delisting, index
members, and the filters (boards, ST, sessions since listing), each computed by hand from the sample's
reference data."""

from __future__ import annotations

from datetime import date

import polars as pl

from market_data import service


def _on(frame: pl.DataFrame, day: date) -> list[str]:
    return frame.filter(pl.col("date") == day)["symbol"].to_list()


def test_all_listed_stocks_include_a_delisted_one_while_it_traded(session, loaded) -> None:
    frame = service.universe_membership(session, index=None, start=date(2021, 6, 29), end=date(2021, 7, 2))
    assert "600110.SH" in _on(frame, date(2021, 6, 30)) and "600110.SH" not in _on(frame, date(2021, 7, 1))
    assert "000300.SH" not in frame["symbol"].to_list()  # an index is not a stock
    assert "830010.BJ" not in frame["symbol"].to_list()  # listed 2021-11-15


def test_index_members_change_on_their_weight_date(session, loaded) -> None:
    frame = service.universe_membership(session, index="000300.SH", start=date(2020, 12, 30), end=date(2021, 1, 5))
    assert "688010.SH" not in _on(frame, date(2020, 12, 31)) and "688010.SH" in _on(frame, date(2021, 1, 4))


def test_filters_boards_st_and_sessions_since_listing(session, loaded) -> None:
    window = {"index": None, "start": date(2021, 5, 7), "end": date(2021, 5, 11)}
    plain = service.universe_membership(session, **window)
    no_st = service.universe_membership(session, **window, exclude_st=True)
    assert "300080.SZ" in _on(plain, date(2021, 5, 7)) and "300080.SZ" not in _on(no_st, date(2021, 5, 7))
    assert "300080.SZ" in _on(no_st, date(2021, 5, 11))  # its ST period ended on 2021-05-10
    star = service.universe_membership(session, **window, boards=["star"])
    assert set(star["symbol"]) == {"688010.SH"}
    listed = {"index": None, "start": date(2021, 11, 15), "end": date(2021, 11, 23), "min_listed_sessions": 5}
    seasoned = service.universe_membership(session, **listed)
    assert "830010.BJ" not in _on(seasoned, date(2021, 11, 19))  # its 5th session: 4 traded before
    assert "830010.BJ" in _on(seasoned, date(2021, 11, 22))


def test_float_value_and_turnover_filters_use_each_sessions_daily_basic(session, loaded) -> None:
    window = {"index": None, "start": date(2021, 5, 6), "end": date(2021, 5, 14)}
    plain = service.universe_membership(session, **window)
    basics = service.fundamentals(session, plain["symbol"].unique().to_list(), window["start"], window["end"])
    floor = float(basics["circ_mv"].median()) * 10_000  # CNY: circ_mv is in 10,000 CNY
    big = service.universe_membership(session, **window, min_float_value=floor)
    expected = basics.filter(pl.col("circ_mv") * 10_000 >= floor).select("date", "symbol").sort("date", "symbol")
    assert big.equals(expected) and 0 < big.height < plain.height
    turnover = float(basics["turnover_rate"].quantile(0.75))
    busy = service.universe_membership(session, **window, min_turnover=turnover)
    expected = basics.filter(pl.col("turnover_rate") >= turnover).select("date", "symbol").sort("date", "symbol")
    assert busy.equals(expected) and 0 < busy.height < plain.height
    both = service.universe_membership(session, **window, min_float_value=floor, min_turnover=turnover)
    assert both.height == big.join(busy, on=["date", "symbol"]).height
