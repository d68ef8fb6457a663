"""The SDK's cross-sectional selection helpers: `cross_rank` and `top_n`, computed by hand."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from quant.sdk import ParamError, cross_rank, top_n

T1, T2 = datetime(2024, 1, 2, 15), datetime(2024, 1, 3, 15)
FRAME = pl.DataFrame(
    {
        "ts": [T1, T1, T1, T1, T2, T2, T2, T2],
        "symbol": ["A", "B", "C", "D", "A", "B", "C", "D"],
        "pb": [1.5, 0.8, None, 2.0, 0.7, 0.9, 3.0, float("nan")],
    }
)


def test_cross_rank_orders_each_bar_time_and_skips_missing_values() -> None:
    ranked = FRAME.with_columns(cross_rank("pb").alias("rank"), cross_rank("pb", descending=True).alias("desc"))
    assert ranked["rank"].to_list() == [2, 1, None, 3, 1, 2, 3, None]
    assert ranked["desc"].to_list() == [2, 3, None, 1, 3, 2, 1, None]


def test_top_n_weights_the_n_cheapest_equally() -> None:
    weights = FRAME.with_columns(top_n("pb", 2).alias("weight"))["weight"].to_list()
    assert weights == [0.5, 0.5, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0]
    most = FRAME.with_columns(top_n("pb", 1, descending=True).alias("weight"))["weight"].to_list()
    assert most == [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]


def test_top_n_needs_at_least_one() -> None:
    with pytest.raises(ParamError, match="n: must be at least 1"):
        top_n("pb", 0)


MEMBERS = FRAME.with_columns(in_universe=pl.Series([True, False, True, True, True, True, False, True]))


def test_cross_rank_ranks_only_the_members_of_each_bar_time() -> None:
    ranked = MEMBERS.with_columns(cross_rank("pb").alias("rank"), cross_rank("pb", universe=None).alias("all"))
    # T1: B (0.8, the cheapest) is no member, so A 1.5 and D 2.0 rank 1 and 2; T2: C (3.0) is no member
    assert ranked["rank"].to_list() == [1, None, None, 2, 1, 2, None, None]
    assert ranked["all"].to_list() == [2, 1, None, 3, 1, 2, 3, None]


def test_top_n_holds_n_members_when_a_non_member_would_rank_first() -> None:
    weights = MEMBERS.with_columns(top_n("pb", 2).alias("weight"))["weight"].to_list()
    assert weights == [0.5, 0.0, 0.0, 0.5, 0.5, 0.5, 0.0, 0.0]
    most = MEMBERS.with_columns(top_n("pb", 1, descending=True).alias("weight"))["weight"].to_list()
    assert most == [0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0]  # T2: C (3.0) is no member, B 0.9 beats A 0.7


def test_the_universe_column_can_be_named_and_a_frame_without_in_universe_ranks_every_row() -> None:
    custom = FRAME.with_columns(listed=MEMBERS["in_universe"])
    assert custom.with_columns(top_n("pb", 2, universe="listed").alias("w"))["w"].to_list() == (
        MEMBERS.with_columns(top_n("pb", 2).alias("w"))["w"].to_list()
    )
    assert FRAME.with_columns(cross_rank("pb").alias("r"))["r"].to_list() == [2, 1, None, 3, 1, 2, 3, None]
    nulls = FRAME.with_columns(in_universe=pl.Series([True, None, True, True, True, True, None, True]))
    assert nulls.with_columns(cross_rank("pb").alias("r"))["r"].to_list() == [1, None, None, 2, 1, 2, None, None]
