"""Fundamentals next to the bars (`quant.fundamentals`): the `FIELDS` declaration, the point-in-time join
(a daily bar of t carries t's daily_basic, an intraday bar the previous session's, a suspended day the
last published row) and `in_universe`; `value_rotation`'s picks by hand."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from quant.fundamentals import (
    FUNDAMENTAL_FIELDS,
    FieldError,
    declared_fields,
    join_fundamentals,
    member_flags,
    with_membership,
)
from quant.strategy import StrategyError, compute_targets, load_strategy
from quant.templates import load_template

D1, D2, D3 = date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4)


def _bars(days: list[date], symbols: list[str], hour: int = 15) -> pl.DataFrame:
    rows = [(s, d, datetime(d.year, d.month, d.day, hour)) for s in symbols for d in days]
    return pl.DataFrame(rows, schema={"symbol": pl.Utf8, "date": pl.Date, "ts": pl.Datetime("us")}, orient="row")


BASICS = pl.DataFrame(
    {
        "symbol": ["A", "A", "B", "B"],
        "date": [D1, D3, D1, D2],
        "pb": [1.0, 3.0, 0.5, 0.6],
        "pe": [10.0, 30.0, 5.0, 6.0],
    }
)


def test_declared_fields_are_read_without_running_the_source() -> None:
    assert declared_fields('FIELDS = ["pb", "pe", "pb"]\nraise SystemExit\n') == ("pb", "pe")
    assert declared_fields("FIELDS: list = ['circ_mv']\n") == ("circ_mv",)
    assert declared_fields("PARAMS = []\n") == ()


def test_an_unknown_field_is_named() -> None:
    with pytest.raises(FieldError, match="unknown field 'eps' in FIELDS; known fields: pe, pb") as caught:
        declared_fields('FIELDS = ["pb", "eps"]\n')
    assert caught.value.name == "eps"
    with pytest.raises(FieldError, match="literal list"):
        declared_fields("FIELDS = list(range(3))\n")
    with pytest.raises(FieldError, match="must be a list"):
        declared_fields('FIELDS = "pb"\n')


def test_loading_a_strategy_checks_its_fields() -> None:
    source = 'from quant.sdk import targets\nFIELDS = ["roe"]\ndef generate(bars, params):\n    return bars\n'
    with pytest.raises(StrategyError, match="unknown field 'roe'"):
        load_strategy(source)
    assert load_template("value_rotation").fields == ("pb",)
    assert set(FUNDAMENTAL_FIELDS) == {"pe", "pb", "ps", "dv_ratio", "total_mv", "circ_mv", "turnover_rate"}


def test_a_daily_bar_carries_its_own_sessions_values_and_a_gap_the_last_published() -> None:
    joined = join_fundamentals(_bars([D1, D2, D3], ["A", "B"]), BASICS, ("pb",))
    assert joined.columns == ["symbol", "date", "ts", "pb"]
    assert joined["pb"].to_list() == [1.0, 1.0, 3.0, 0.5, 0.6, 0.6]


def test_an_intraday_bar_carries_the_previous_sessions_values() -> None:
    joined = join_fundamentals(_bars([D1, D2, D3], ["A", "B"], hour=10), BASICS, ("pb", "pe"), intraday=True)
    assert joined["pb"].to_list() == [None, 1.0, 1.0, None, 0.5, 0.6]
    assert joined["pe"].to_list() == [None, 10.0, 10.0, None, 5.0, 6.0]


def test_the_join_keeps_the_row_order_of_the_bars() -> None:
    bars = _bars([D3, D1], ["B", "A"])
    assert join_fundamentals(bars, BASICS, ("pb",))["pb"].to_list() == [0.6, 0.5, 3.0, 1.0]


def test_in_universe_follows_the_membership() -> None:
    members = pl.DataFrame({"date": [D2, D3], "symbol": ["A", "B"]})
    flagged = with_membership(_bars([D1, D2, D3], ["A", "B"]), members)
    assert flagged["in_universe"].to_list() == [False, True, False, False, False, True]
    assert with_membership(_bars([D1], ["A"]), None)["in_universe"].to_list() == [True]


def test_member_flags_match_the_set_of_member_pairs_whatever_the_symbols_order() -> None:
    """The flags are the (date, symbol) pairs of the membership, by value: members listed in another symbol
    order than the frame (a code table per frame would disagree), symbols and days the membership never
    names, duplicate and null member rows; `date` may be derived (from `ts`)."""
    symbols = [f"{600000 + i:06d}.SH" for i in range(40)]
    days = [D1, D2, D3]
    bars = _bars(days, symbols).with_columns(pl.col("symbol").shift(1, fill_value="999999.SZ"))
    members = pl.DataFrame(
        {
            "date": [d for s in reversed(symbols) for d in days if (int(s[:6]) + d.day) % 3] + [D1, None, D2],
            "symbol": [s for s in reversed(symbols) for d in days if (int(s[:6]) + d.day) % 3]
            + [symbols[-1], "X", None],
        }
    )
    pairs = set(zip(members["date"].to_list(), members["symbol"].to_list(), strict=True))
    expected = [(d, s) in pairs for d, s in zip(bars["date"].to_list(), bars["symbol"].to_list(), strict=True)]
    assert member_flags(bars, members).to_list() == expected
    assert member_flags(bars.drop("date"), members, pl.col("ts").dt.date()).to_list() == expected
    assert with_membership(bars, members)["in_universe"].to_list() == expected


def test_value_rotation_holds_the_lowest_positive_pb_members_on_each_months_first_session() -> None:
    days = [date(2024, 1, 30), date(2024, 1, 31), date(2024, 2, 1), date(2024, 2, 2)]
    bars = _bars(days, ["A", "B", "C"]).with_columns(
        pb=pl.Series([2.0, 2.0, 0.9, 0.9, 1.0, 1.0, 3.0, 0.1, -0.5, -0.5, 0.2, 0.2]),
        in_universe=pl.Series([True, True, True, True, True, True, False, True, True, True, True, True]),
    )
    targets = compute_targets(load_template("value_rotation"), bars, {"n": 1})
    # 2024-01-30 (first bar): A 2.0 and B 1.0 rank, C's PB is negative; 2024-02-01: A 0.9, B out, C 0.2
    assert targets.sort("ts", "symbol")["weight"].to_list() == [0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert targets["ts"].dt.date().unique().sort().to_list() == [date(2024, 1, 30), date(2024, 2, 1)]


def test_the_engine_refuses_bars_without_the_declared_fields_and_keeps_them_through_normalising() -> None:
    from quant import EngineConfig, run_backtest
    from quant.synthetic import gbm_bars, with_fundamentals

    bars = gbm_bars(("600000.SH", "000001.SZ"), sessions=60, seed=3)
    with pytest.raises(StrategyError, match=r"the bars lack the fields the strategy declares \(FIELDS\): pb"):
        run_backtest("value_rotation", bars, {"n": 1}, EngineConfig())
    cheap = with_fundamentals(bars, ("pb",)).with_columns(
        pb=pl.when(pl.col("symbol") == "600000.SH").then(0.5).otherwise(2.0)
    )
    result = run_backtest("value_rotation", cheap, {"n": 1}, EngineConfig())
    assert set(result.positions.filter(pl.col("shares") > 0)["symbol"].to_list()) == {"600000.SH"}


def test_grids_and_independent_runs_keep_the_declared_fields() -> None:
    from quant import EngineConfig, run_backtest, run_grid, run_independent
    from quant.synthetic import gbm_bars, with_fundamentals

    bars = with_fundamentals(gbm_bars(("600000.SH", "000001.SZ", "300001.SZ"), sessions=80, seed=5), ("pb",))
    grid = run_grid("value_rotation", bars, [{"n": 1}, {"n": 3}], EngineConfig())
    single = run_backtest("value_rotation", bars, {"n": 1}, EngineConfig())
    assert grid.summary["final_equity"][0] == single.metrics["final_equity"]
    assert grid.summary["final_equity"][0] != grid.summary["final_equity"][1]
    alone = run_independent("value_rotation", bars, {"n": 1}, EngineConfig())
    assert alone.summary.height == 3


def test_every_strategy_frame_carries_in_universe_fields_or_not() -> None:
    from quant.fundamentals import strategy_frame

    bars = _bars([D1, D2], ["A", "B"])
    assert strategy_frame(bars, ())["in_universe"].to_list() == [True] * 4
    given = bars.reverse().with_columns(in_universe=pl.Series([True, False, None, True]))
    # matched on (symbol, ts): B D2 true, B D1 false, A D2 null (no member), A D1 true
    assert strategy_frame(bars, (), given)["in_universe"].to_list() == [True, False, False, True]
    wider = pl.concat([given, _bars([D1], ["Z"]).with_columns(in_universe=pl.lit(True))])  # rows bars lack
    assert strategy_frame(bars, (), wider)["in_universe"].to_list() == [True, False, False, True]
    every = bars.with_columns(in_universe=pl.lit(True))
    assert strategy_frame(bars, (), every)["in_universe"].to_list() == [True] * 4


def _momentum_bars() -> pl.DataFrame:
    days = [D1, D2, D3]
    bars = _bars(days, ["A", "B", "C"]).with_columns(
        close=pl.Series([10.0, 11.0, 11.0, 10.0, 10.5, 10.5, 10.0, 10.2, 10.2]),
        in_universe=pl.Series([True, False, True, True, True, True, True, True, True]),
    )
    return bars


def test_momentum_rotation_ranks_each_sessions_members_only() -> None:
    # D2 (the first rebalance, lookback 1): A +10 % is the best but no member on D2, so B +5 % and C +2 %;
    # D3 (rebalance 1): A is a member again and every return is 0 %: ties go to the row order, A and B
    targets = compute_targets(
        load_template("momentum_rotation"), _momentum_bars(), {"lookback": 1, "top_n": 2, "rebalance": 1}
    )
    picks = targets.sort("ts", "symbol").with_columns(pl.col("ts").dt.date())
    assert picks.rows() == [
        (D2, "A", 0.0), (D2, "B", 0.5), (D2, "C", 0.5), (D3, "A", 0.5), (D3, "B", 0.5), (D3, "C", 0.0),
    ]  # fmt: skip
