"""Steps for the A-share rule features: hand-computed cash, shares and fees."""

from __future__ import annotations

import polars as pl
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from quant import BacktestResult, EngineConfig, simulate
from tests.quant.engine_test_helpers import bars_from_table, parse_ts, table_rows

scenarios(
    "quant/features/a_share_rules.feature", "quant/features/dated_rules.feature", "quant/features/exit_rules.feature"
)


@given(parsers.re(r'the (?P<st>ST )?stock "(?P<symbol>[^"]+)" with bars:'), target_fixture="bars")
def given_bars(bars: list[pl.DataFrame], st: str | None, symbol: str, datatable) -> list[pl.DataFrame]:
    return [*bars, bars_from_table(symbol, datatable, is_st=bool(st))]


@given("target shares:", target_fixture="targets")
def given_targets(bars: list[pl.DataFrame], datatable) -> pl.DataFrame:
    default = bars[0]["symbol"][0]
    rows = table_rows(datatable)
    return pl.DataFrame(
        {
            "ts": [parse_ts(r["ts"]) for r in rows],
            "symbol": [r.get("symbol", default) for r in rows],
            "shares": [float(r["shares"]) for r in rows],
        },
        schema_overrides={"ts": pl.Datetime("us")},
    )


def _run(bars: list[pl.DataFrame], targets: pl.DataFrame, cash: float, policy: str = "touch") -> BacktestResult:
    config = EngineConfig(preset="a-share", initial_cash=cash, limit_policy=policy)
    return simulate(pl.concat(bars), targets, config)


@when(parsers.parse("the a-share backtest runs with {cash:g} CNY"), target_fixture="result")
def when_run(bars, targets, cash: float) -> BacktestResult:
    return _run(bars, targets, cash)


@when(parsers.parse('the a-share backtest runs with {cash:g} CNY and limit policy "{policy}"'), target_fixture="result")
def when_run_policy(bars, targets, cash: float, policy: str) -> BacktestResult:
    return _run(bars, targets, cash, policy)


def _stamp(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value.hour != 15 else value.strftime("%Y-%m-%d")


@then("the fills are:")
def then_fills(result: BacktestResult, datatable) -> None:
    expected = table_rows(datatable)
    got = result.fills.to_dicts()
    assert len(got) == len(expected), result.fills
    for want, fill in zip(expected, got, strict=True):
        assert _stamp(fill["ts"]) == want["ts"]
        assert fill["side"] == want["side"]
        assert fill["symbol"] == want.get("symbol", fill["symbol"])
        for key, column in (("qty", "qty"), ("price", "price"), ("commission", "commission")):
            assert fill[column] == pytest.approx(float(want[key]), abs=1e-9), key
        assert fill["stamp_duty"] == pytest.approx(float(want["stamp_duty"]), abs=1e-9)
        assert fill["transfer_fee"] == pytest.approx(float(want["transfer_fee"]), abs=1e-9)


def _orders_with_status(result: BacktestResult, status: str) -> list[tuple[str, str, str]]:
    rows = result.orders.filter(pl.col("status") == status).to_dicts()
    return [(_stamp(r["ts"]), r["side"], r["reason"]) for r in rows]


@then("the rejected orders are:")
def then_rejected(result: BacktestResult, datatable) -> None:
    expected = [(r["ts"], r["side"], r["reason"]) for r in table_rows(datatable)]
    assert _orders_with_status(result, "rejected") == expected


@then("the partially filled orders are:")
def then_partial(result: BacktestResult, datatable) -> None:
    expected = [(r["ts"], r["side"], r["reason"]) for r in table_rows(datatable)]
    assert _orders_with_status(result, "partial") == expected


@then(parsers.parse("the final cash is {cash:f}"))
def then_cash(result: BacktestResult, cash: float) -> None:
    assert result.equity["cash"][-1] == pytest.approx(cash, abs=1e-6)


@then(parsers.parse("the sell on {day} pays stamp duty {stamp:f} and commission {commission:f}"))
def then_stamp(result: BacktestResult, day: str, stamp: float, commission: float) -> None:
    sell = result.fills.filter(pl.col("side") == "sell").to_dicts()
    assert [str(s["date"]) for s in sell] == [day]
    assert sell[0]["stamp_duty"] == pytest.approx(stamp, abs=1e-9)
    assert sell[0]["commission"] == pytest.approx(commission, abs=1e-9)


@then(parsers.parse("the buy on {day} is {outcome}"))
def then_buy_outcome(result: BacktestResult, day: str, outcome: str) -> None:
    orders = result.orders.filter((pl.col("side") == "buy") & (pl.col("date").cast(pl.Utf8) == day)).to_dicts()
    assert len(orders) == 1, result.orders
    status, _, reason = outcome.partition(" ")
    assert orders[0]["status"] == ("rejected" if status == "blocked" else "filled")
    assert orders[0]["reason"] == (reason or None)


@then("the round trips are:")
def then_trips(result: BacktestResult, datatable) -> None:
    expected = table_rows(datatable)
    got = result.trades.to_dicts()
    assert len(got) == len(expected), result.trades
    for want, trip in zip(expected, got, strict=True):
        assert str(trip["entry_date"]) == want["entry"] and str(trip["exit_date"]) == want["exit"]
        assert trip["dividends"] == pytest.approx(float(want["dividends"]), abs=1e-6)
        assert trip["pnl"] == pytest.approx(float(want["pnl"]), abs=1e-6)


@when(
    parsers.parse("the a-share backtest runs with {cash:g} CNY and exit rule {rule} {value:g}"),
    target_fixture="result",
)
def when_run_exit(bars, targets, cash: float, rule: str, value: float) -> BacktestResult:
    config = EngineConfig(preset="a-share", initial_cash=cash, **{rule: value})
    return simulate(pl.concat(bars), targets, config)


@then("the orders are:")
def then_orders(result: BacktestResult, datatable) -> None:
    expected = [(r["ts"], r["side"], r["status"], r["reason"] or None) for r in table_rows(datatable)]
    got = [(_stamp(r["ts"]), r["side"], r["status"], r["reason"]) for r in result.orders.to_dicts()]
    assert got == expected
