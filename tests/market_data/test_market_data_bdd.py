"""Steps of the market-data feature (API over the sample, the Tushare stand-in, admin operations)."""

from __future__ import annotations

from datetime import date

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from market_data import sample
from tests.market_data.conftest import standin_settings

scenarios("market_data/features/market_data.feature")


@given("the offline sample is loaded", target_fixture="sample_load")
def _sample_loaded(loaded):
    return loaded


@pytest.fixture
def user_headers(make_user, auth_headers_for):
    return auth_headers_for(make_user())


@pytest.fixture
def admin_headers(make_user, auth_headers_for):
    return auth_headers_for(make_user(role="admin"))


def _bars(api, symbols: str, start: str, end: str, headers):
    return api.get("/api/market/bars", params={"symbols": symbols, "start": start, "end": end}, headers=headers)


@when(
    parsers.parse('a signed-in user asks for daily bars of "{symbols}" from "{start}" to "{end}"'),
    target_fixture="response",
)
def _user_bars(api, user_headers, symbols, start, end):
    return _bars(api, symbols, start, end, user_headers)


@when(
    parsers.parse('an anonymous caller asks for daily bars of "{symbols}" from "{start}" to "{end}"'),
    target_fixture="response",
)
def _anonymous_bars(api, symbols, start, end):
    return _bars(api, symbols, start, end, {})


@when(parsers.parse('a signed-in user asks to sync "{symbols}" from "{start}" to "{end}"'), target_fixture="response")
def _user_sync(api, user_headers, symbols, start, end):
    body = {"symbols": symbols.split(","), "start": start, "end": end}
    return api.post("/api/market/sync", json=body, headers=user_headers)


@given("Tushare answers from the stand-in server", target_fixture="standin_settings")
def _standin(market, tushare):
    with standin_settings(market, tushare) as server:
        yield server


@when("an administrator runs the integrity check", target_fixture="response")
def _admin_check(api, admin_headers):
    return api.post("/api/market/check", json={}, headers=admin_headers)


@then(parsers.parse("the status is {status:d}"))
def _status(response, status):
    assert response.status_code == status, response.text


@then(parsers.parse('the error code is "{code}"'))
def _error_code(response, code):
    assert response.json()["error"]["code"] == code


@then(parsers.parse('the error names "{first}" and "{second}"'))
def _names(response, first, second):
    error = response.json()["error"]
    assert first in error["message"] and second in error["message"]
    assert error["details"] == {"field": "symbols", "malformed": [second], "unknown": [first]}


@then(parsers.parse('the bars come from a "{source}" snapshot'))
def _source(response, source):
    assert response.json()["source"] == source


@then("every requested symbol has bars")
def _every_symbol(response):
    requested = set(response.request.url.params["symbols"].split(","))
    assert {r["symbol"] for r in response.json()["rows"]} == requested


@then("the report is clean")
def _clean(response):
    report = response.json()
    assert report["ok"] is True and report["issues"] == [] and report["symbols"] == 9


# --- the default snapshot ------------------------------------------------------------------------------


def _service_sync(session, market, server, symbols: str, start: str, end: str):
    from market_data import service

    with standin_settings(market, server), service.make_client(market) as client:
        return service.sync(
            session, market, client=client, symbols=symbols.split(","), freq="1d",
            start=date.fromisoformat(start), end=date.fromisoformat(end),
        )  # fmt: skip


@when(parsers.parse('"{symbols}" are synced from Tushare from "{start}" to "{end}"'), target_fixture="synced")
@given(parsers.parse('"{symbols}" is synced from Tushare from "{start}" to "{end}"'), target_fixture="synced")
def _synced(session, market, standin_settings, symbols, start, end):
    result = _service_sync(session, market, standin_settings, symbols, start, end)
    assert result.created is True
    return result


@then(parsers.parse('a "{source}" snapshot was recorded that is not the default'))
def _not_default(synced, source):
    assert synced.snapshot.source == source and synced.snapshot.is_default is False


@then("the snapshot list marks the sample snapshot as the default")
def _list_marks(api, user_headers, sample_load, synced):
    items = api.get("/api/market/snapshots", headers=user_headers).json()["items"]
    marks = {item["id"]: item["is_default"] for item in items}
    assert marks == {sample_load.snapshot.id: True, synced.snapshot.id: False}


@then(parsers.parse('unpinned bars of "{symbol}" come from the sample snapshot'))
def _unpinned_sample(api, user_headers, sample_load, symbol):
    answer = _bars(api, symbol, "2025-01-01", "2025-03-31", user_headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["snapshot_id"] == sample_load.snapshot.id and answer.json()["rows"]


@then(parsers.parse('unpinned bars of "{symbol}" come from a "{source}" snapshot'))
def _unpinned_source(api, user_headers, synced, symbol, source):
    answer = _bars(api, symbol, "2025-01-01", "2025-03-31", user_headers).json()
    assert answer["source"] == source and answer["snapshot_id"] == synced.snapshot.id and answer["rows"]


@when("the sample slice is loaded again with one more symbol", target_fixture="reloaded")
def _reload(session, market):
    from market_data import service
    from tests.market_data.conftest import SLICE

    extra = next(s for s in sample.universe_symbols() if s not in SLICE)
    return service.load_sample(session, market, symbols=[*SLICE, extra])


@then("the new sample snapshot is the default, published by the rule")
def _reloaded_default(api, user_headers, reloaded, sample_load):
    assert reloaded.snapshot.id != sample_load.snapshot.id and reloaded.snapshot.is_default is True
    body = api.get("/api/market/snapshots/default", headers=user_headers).json()
    assert body["snapshot"]["id"] == reloaded.snapshot.id and body["reason"] == "published"


def _put_default(api, headers, snapshot_id):
    return api.put("/api/market/snapshots/default", json={"snapshot_id": snapshot_id}, headers=headers)


@when("a signed-in user asks to make the synced snapshot the default", target_fixture="response")
def _user_default(api, user_headers, synced):
    return _put_default(api, user_headers, synced.snapshot.id)


@when("an administrator makes the synced snapshot the default", target_fixture="response")
@given("an administrator has made the synced snapshot the default", target_fixture="response")
def _admin_default(api, admin_headers, synced):
    return _put_default(api, admin_headers, synced.snapshot.id)


@then("the default snapshot is the synced one, named explicitly with the rule")
def _explicit(response, synced):
    from market_data.service.snapshots import DEFAULT_RULE

    body = response.json()
    assert body["snapshot"]["id"] == synced.snapshot.id and body["snapshot"]["is_default"] is True
    assert body["reason"] == "explicit" and body["set_by"] and body["rule"] == DEFAULT_RULE


@when(
    parsers.parse('a backtest of "{symbol}" against "{benchmark}" is checked from "{start}" to "{end}"'),
    target_fixture="pin",
)
def _check_backtest(session, symbol, benchmark, start, end):
    from backtest import gateways
    from backtest.schemas import BacktestContext

    context = BacktestContext.model_validate(
        {"universe": [symbol], "window": {"start": start, "end": end}, "benchmark": benchmark}
    )
    return gateways.check_market(session, context)


@then(parsers.parse('it is accepted with the warning that "{benchmark}" has no daily bars in the synced snapshot'))
def _warned(pin, synced, benchmark):
    assert pin.snapshot_id == synced.snapshot.id and pin.benchmark == benchmark
    assert pin.warnings == [
        f"benchmark {benchmark} has no daily bars between 2025-01-02 and 2025-03-31 in snapshot "
        f"{synced.snapshot.id}: the runs will have no benchmark curve (sync it, or pin a snapshot that holds it)"
    ]
