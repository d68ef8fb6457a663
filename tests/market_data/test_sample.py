"""The synthetic sample: deterministic, sliceable, and rich in the situations the rulebook must handle."""

from __future__ import annotations

from collections import Counter
from datetime import date

import polars as pl

from market_data import sample
from market_data.domain import Freq, check_bars


def test_universe_spans_the_four_boards_and_a_benchmark() -> None:
    insts = sample.universe()
    assert Counter(i.board.value for i in insts) == {"main": 26, "chinext": 10, "star": 8, "bse": 6, "index": 1}
    assert all("样本" in sample.current_name(i) for i in insts)


def test_slices_are_identical_to_the_full_set() -> None:
    full = sample.generate().bars[Freq.DAILY]
    part = sample.generate(["300080.SZ"], date(2020, 1, 1), date(2020, 12, 31)).bars[Freq.DAILY]
    expected = full.filter(
        (pl.col("symbol") == "300080.SZ") & pl.col("date").is_between(date(2020, 1, 1), date(2020, 12, 31))
    )
    assert part.equals(expected)


def test_the_sample_holds_every_situation_and_passes_the_checks() -> None:
    data = sample.generate()
    daily = data.bars[Freq.DAILY]
    stocks = daily.filter(pl.col("symbol") != "000300.SH")
    assert stocks.filter(pl.col("suspended")).height > 50
    assert stocks.filter(pl.col("is_st"))["symbol"].unique().sort().to_list() == [
        "000100.SZ",
        "300080.SZ",
        "600100.SH",
        "600110.SH",
    ]
    assert stocks.filter(pl.col("close") == pl.col("up_limit")).height > 500
    assert stocks.filter(pl.col("close") == pl.col("down_limit")).height > 300
    assert stocks.group_by("symbol").agg(pl.col("adj_factor").n_unique())["adj_factor"].max() > 3
    star = stocks.filter(pl.col("symbol") == "688010.SH").head(6)
    assert star["up_limit"].null_count() == 5 and star["up_limit"][5] is not None
    ipo = stocks.filter(pl.col("symbol") == "603010.SH").row(0, named=True)
    assert ipo["up_limit"] == round(ipo["pre_close"] * 1.44, 2) and ipo["close"] == ipo["up_limit"]
    st_band = stocks.filter((pl.col("symbol") == "600100.SH") & pl.col("is_st") & ~pl.col("suspended")).row(
        0, named=True
    )
    assert st_band["up_limit"] == sample.round_price(st_band["pre_close"] * 1.05)
    assert stocks.filter(pl.col("symbol") == "600110.SH")["date"].max() == date(2021, 6, 30)
    assert check_bars(daily, data.sessions) == []
    assert check_bars(data.bars[Freq.MIN5], data.sessions, daily=False) == []
    assert data.bars[Freq.MIN5].height == 5 * 20 * 48 and data.bars[Freq.MIN15].height == 5 * 20 * 16
