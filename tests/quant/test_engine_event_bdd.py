"""Steps for the event-driven strategy features: hand-computed fills, what the strategy saw (its log
lines), the twin equality with a vectorised template, and the bad input it is refused for."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json

import polars as pl
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from quant import BacktestResult, EngineConfig, run_backtest
from quant.strategy import StrategyError, StrategySpec, load_strategy
from quant.synthetic import SAMPLE_SYMBOLS, business_days, gbm_bars
from tests.quant.engine_test_helpers import bars_from_table, table_rows

scenarios("quant/features/event_strategies.feature")


@given(parsers.parse('the stock "{symbol}" with bars:'), target_fixture="bars")
def given_bars(bars: list[pl.DataFrame], symbol: str, datatable) -> list[pl.DataFrame]:
    return [*bars, bars_from_table(symbol, datatable)]


@given(parsers.parse('flat daily bars of "{symbol}" at {price:f} from {start} to {end}'), target_fixture="bars")
def given_flat_bars(bars: list[pl.DataFrame], symbol: str, price: float, start: str, end: str) -> list[pl.DataFrame]:
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    days = [d for d in business_days(first, 60).astype(dt.date).tolist() if d <= last]
    table = [["ts", "open", "high", "low", "close"]] + [[d.isoformat(), *[str(price)] * 4] for d in days]
    return [*bars, bars_from_table(symbol, table)]


@given("the event-driven strategy:", target_fixture="spec")
def given_strategy(docstring: str) -> StrategySpec:
    return load_strategy(docstring)


@given(parsers.parse('the strategy source "{source}"'), target_fixture="source")
def given_source(source: str) -> str:
    return source.encode().decode("unicode_escape")


def _run(bars: list[pl.DataFrame], spec: StrategySpec, cash: float) -> tuple[BacktestResult, list[str]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = run_backtest(spec, pl.concat(bars), {}, EngineConfig(preset="a-share", initial_cash=cash))
    return result, out.getvalue().splitlines()


@when(parsers.parse("the event-driven strategy runs with {cash:g} CNY"), target_fixture="run")
def when_run(bars, spec, cash: float) -> tuple[BacktestResult, list[str]]:
    return _run(bars, spec, cash)


@when(parsers.parse("the event-driven strategy runs with {cash:g} CNY expecting an error"), target_fixture="error")
def when_run_fails(bars, spec, cash: float) -> str:
    with pytest.raises(StrategyError) as exc:
        _run(bars, spec, cash)
    return str(exc.value)


def _stamp(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value.hour != 15 else value.strftime("%Y-%m-%d")


@then("the strategy logged:")
def then_logged(run, datatable) -> None:
    assert run[1] == [r["line"] for r in table_rows(datatable)]


@then("the fills are:")
def then_fills(run, datatable) -> None:
    expected = table_rows(datatable)
    got = run[0].fills.to_dicts()
    assert len(got) == len(expected), run[0].fills
    for want, fill in zip(expected, got, strict=True):
        assert (_stamp(fill["ts"]), fill["side"]) == (want["ts"], want["side"])
        for key, column in (("qty", "qty"), ("price", "price"), ("commission", "commission")):
            assert fill[column] == pytest.approx(float(want[key]), abs=1e-9), key
        assert fill["stamp_duty"] == pytest.approx(float(want["stamp_duty"]), abs=1e-9)
        assert fill["transfer_fee"] == pytest.approx(float(want["transfer_fee"]), abs=1e-9)


@then("the rejected orders are:")
def then_rejected(run, datatable) -> None:
    rows = run[0].orders.filter(pl.col("status") == "rejected").to_dicts()
    got = [(_stamp(r["ts"]), r["side"], r["reason"]) for r in rows]
    assert got == [(r["ts"], r["side"], r["reason"]) for r in table_rows(datatable)]


@then(parsers.parse("the final cash is {cash:f}"))
def then_cash(run, cash: float) -> None:
    assert run[0].equity["cash"][-1] == pytest.approx(cash, abs=1e-6)


@given(parsers.parse("the sample universe of {n:d} symbols over {sessions:d} sessions"), target_fixture="universe")
def given_universe(n: int, sessions: int) -> pl.DataFrame:
    return gbm_bars(SAMPLE_SYMBOLS[:n], sessions=sessions, seed=7)


@when(
    parsers.parse('"{vectorised}" and "{event}" run with fast {fast:d} and slow {slow:d} on the "{preset}" preset'),
    target_fixture="twins",
)
def when_twins(universe, vectorised: str, event: str, fast: int, slow: int, preset: str):
    config = EngineConfig(preset=preset)
    params = {"fast": fast, "slow": slow}
    return run_backtest(vectorised, universe, params, config), run_backtest(event, universe, params, config)


@when(
    parsers.parse(
        '"{vectorised}" and "{event}" run with fast {fast:d} and slow {slow:d} on the "{preset}" preset '
        "with the exit rules {rules}"
    ),
    target_fixture="twins",
)
def when_twins_exits(universe, vectorised: str, event: str, fast: int, slow: int, preset: str, rules: str):
    config = EngineConfig(preset=preset, **json.loads(rules))
    params = {"fast": fast, "slow": slow}
    return run_backtest(vectorised, universe, params, config), run_backtest(event, universe, params, config)


@then(parsers.parse("some of their sells carry the reason {reason}"))
def then_exit_reason(twins, reason: str) -> None:
    for result in twins:
        exits = result.orders.filter(pl.col("reason") == reason)
        assert exits.height > 0 and set(exits["side"]) == {"sell"}, result.orders["reason"].value_counts()


@then("their orders, fills, round trips, positions, equity and metrics are identical")
def then_identical(twins) -> None:
    a, b = twins
    assert a.orders.height > 10
    for name in ("orders", "fills", "trades", "positions", "equity"):
        assert getattr(a, name).equals(getattr(b, name)), name
    assert a.metrics == b.metrics or {k: str(v) for k, v in a.metrics.items()} == {
        k: str(v) for k, v in b.metrics.items()
    }


@then(parsers.parse('loading it fails with "{message}"'))
def then_load_fails(source: str, message: str) -> None:
    with pytest.raises(StrategyError) as exc:
        load_strategy(source)
    assert message in str(exc.value)


@then(parsers.parse('the error is "{message}"'))
def then_error_is(error: str, message: str) -> None:
    assert error == message


@then(parsers.parse('the error contains "{message}"'))
def then_error_contains(error: str, message: str) -> None:
    assert message in error
