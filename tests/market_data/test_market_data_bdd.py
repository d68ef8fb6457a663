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


# --- point in time: members, universe, fundamentals ----------------------------------------------------


@when(parsers.parse('a signed-in user asks for the members of "{index}" on "{on}"'), target_fixture="response")
def _members(api, user_headers, index, on):
    return api.get(f"/api/market/indices/{index}/members", params={"on": on}, headers=user_headers)


@then(parsers.parse('the members come from the weights of "{day}" and leave out "{first}" and "{second}"'))
def _members_without(response, day, first, second):
    body = response.json()
    assert response.status_code == 200 and body["weight_date"] == day
    symbols = [m["symbol"] for m in body["members"]]
    assert first not in symbols and second not in symbols
    assert symbols == ["000020.SZ", "000030.SZ", "300010.SZ", "600010.SH", "600020.SH", "600040.SH",
                       "600050.SH"]  # fmt: skip
    assert {m["weight"] for m in body["members"]} == {14.2857}  # 100 / 7, rounded


@then(parsers.parse('the members come from the weights of "{day}" and include "{symbol}"'))
def _members_with(response, day, symbol):
    body = response.json()
    assert body["weight_date"] == day and symbol in [m["symbol"] for m in body["members"]]
    assert len(body["members"]) == 8


@when(parsers.parse('a signed-in user asks for the universe on "{on}"'), target_fixture="response")
def _universe(api, user_headers, on):
    return api.get("/api/market/universe", params={"on": on}, headers=user_headers)


@then(parsers.parse('it includes "{symbol}" and not "{later}" listed later'))
def _universe_includes(response, symbol, later):
    symbols = response.json()["symbols"]
    assert symbol in symbols and later not in symbols and "000300.SH" not in symbols


@then(parsers.parse('it leaves out "{symbol}"'))
def _universe_leaves_out(response, symbol):
    symbols = response.json()["symbols"]
    assert symbol not in symbols and "600010.SH" in symbols


@when(
    parsers.parse('a signed-in user asks for the fundamentals of "{symbol}" from "{start}" to "{end}"'),
    target_fixture="response",
)
def _fundamentals(api, user_headers, symbol, start, end):
    return api.get(
        "/api/market/fundamentals", params={"symbols": symbol, "start": start, "end": end}, headers=user_headers
    )


@then("there is one row per traded session with PE, PB, PS, dividend yield, market values and turnover")
def _one_row_per_session(response, api, user_headers):
    body = response.json()
    bars = _bars(api, "600010.SH", body["start"], body["end"], user_headers).json()["rows"]
    traded = [b["date"] for b in bars if not b["suspended"]]
    assert [r["date"] for r in body["rows"]] == traded and len(traded) == 7
    columns = ["pe", "pb", "ps", "dv_ratio", "total_mv", "circ_mv", "turnover_rate"]
    assert body["columns"] == ["symbol", "date", *columns]
    assert all(r[c] is not None and r[c] > 0 for r in body["rows"] for c in columns)


@then("the float value is 80 percent of the total value on every row")
def _float_share(response):
    assert all(abs(r["circ_mv"] - 0.8 * r["total_mv"]) < 0.01 for r in response.json()["rows"])


@when(
    parsers.parse('the datasets "{datasets}" are synced from Tushare from "{start}" to "{end}"'),
    target_fixture="synced",
)
def _datasets_synced(session, market, standin_settings, datasets, start, end):
    from market_data import service

    standin_settings.requests.clear()
    with service.make_client(market) as client:
        return service.sync(
            session, market, client=client, symbols=None, start=date.fromisoformat(start),
            end=date.fromisoformat(end), datasets=tuple(datasets.split(",")),
        )  # fmt: skip


@then(
    parsers.parse(
        'the stand-in answered {basic:d} "daily_basic" calls by trade date and {weights:d} "index_weight" calls'
    )
)
def _dataset_calls(standin_settings, synced, basic, weights):
    calls = standin_settings.bar_requests()
    by_api = {api: [c for c in calls if c["api_name"] == api] for api in ("daily_basic", "index_weight")}
    assert len(by_api["daily_basic"]) == basic and len(by_api["index_weight"]) == weights
    assert all(c["params"].get("trade_date") for c in by_api["daily_basic"])
    assert {c["params"]["index_code"] for c in by_api["index_weight"]} == {
        "000300.SH", "000905.SH", "000906.SH", "000852.SH", "000016.SH"
    }  # fmt: skip
    assert len(calls) == basic + weights  # no bars asked for
    assert synced.weight_rows > 0 and (synced.basic_rows > 0) == (basic > 0)


@then(parsers.parse('the fundamentals of "{symbol}" on "{day}" are the stand-in\'s'))
def _fundamentals_synced(session, symbol, day):
    from market_data import service
    from market_data.tushare_standin import select_rows

    on = date.fromisoformat(day)
    stored = service.fundamentals(session, [symbol], on, on)
    upstream = select_rows("daily_basic", {"ts_code": symbol, "trade_date": on.strftime("%Y%m%d")})
    assert stored.height == 1 and upstream.height == 1
    for column in ("pe", "pb", "ps", "dv_ratio", "total_mv", "circ_mv", "turnover_rate"):
        assert stored[column][0] == pytest.approx(upstream[column][0])
