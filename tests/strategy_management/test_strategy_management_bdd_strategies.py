"""Steps of `strategies.feature`, through the HTTP API."""

from __future__ import annotations

import json
import uuid
from contextlib import ExitStack
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from strategy_management import service
from strategy_management.confined_runner import MiB
from tests.strategy_management.factories import SIMPLE

scenarios("strategy_management/features/strategies.feature")


@given("a signed-in user", target_fixture="caller")
def signed_in(user: Any, headers: dict[str, str]) -> dict[str, Any]:
    return {"principal": user, "headers": headers}


@given(parsers.parse('a signed-in user with a strategy "{name}"'), target_fixture="caller")
def with_strategy(api: Any, user: Any, headers: dict[str, str], name: str) -> dict[str, Any]:
    created = api.post("/api/strategies", json={"name": name, "source": SIMPLE}, headers=headers)
    assert created.status_code == 201, created.text
    return {"principal": user, "headers": headers, "id": created.json()["id"]}


@given("a backtest run references its latest version")
def referenced(api: Any, session: Any, caller: dict[str, Any]) -> None:
    latest = api.get(f"/api/strategies/{caller['id']}/versions/latest", headers=caller["headers"]).json()
    service.add_reference(session, caller["principal"], uuid.UUID(latest["id"]), "backtest:run-1")


@when(parsers.parse('they create a strategy from the template "{name}"'), target_fixture="response")
def from_template(api: Any, caller: dict[str, Any], name: str) -> Any:
    response = api.post("/api/strategies/from-template", json={"template": name}, headers=caller["headers"])
    if response.status_code == 201:
        caller["id"] = response.json()["id"]
    return response


@when(parsers.parse('they save a new version with the default of "{param}" changed to {value:d}'))
def save_changed_default(api: Any, caller: dict[str, Any], param: str, value: int) -> None:
    url = f"/api/strategies/{caller['id']}/versions"
    source = api.get(f"{url}/latest", headers=caller["headers"]).json()["source"]
    edited = source.replace(f'param("{param}", int, default=10', f'param("{param}", int, default={value}')
    assert edited != source
    assert api.post(url, json={"source": edited}, headers=caller["headers"]).status_code == 201


@given(parsers.parse("a signed-in user with {count:d} strategy runs in progress"), target_fixture="caller")
def with_runs(
    user: Any, headers: dict[str, str], strategy_env: Any, request: pytest.FixtureRequest, count: int
) -> dict[str, Any]:
    stack = ExitStack()
    request.addfinalizer(stack.close)
    for _ in range(count):  # slots held as a save or validation in progress holds them (in Redis)
        stack.enter_context(strategy_env.admission.admit(user.user_id, memory_bytes=MiB, wall_seconds=30))
    return {"principal": user, "headers": headers}


def _new_code(api: Any, headers: dict[str, str]) -> Any:
    tag = uuid.uuid4().hex
    return api.post("/api/strategies", json={"name": f"n-{tag[:8]}", "source": f"{SIMPLE}# {tag}\n"}, headers=headers)


@when("they create a strategy with new code", target_fixture="response")
def create_new_code(api: Any, caller: dict[str, Any]) -> Any:
    return _new_code(api, caller["headers"])


@then(parsers.parse('the answer says to retry after {seconds:d} seconds and names the limit "{limit}"'))
def retry_after(response: Any, seconds: int, limit: str) -> None:
    assert response.headers["Retry-After"] == str(seconds)
    assert response.json()["error"]["details"] == {"limit": limit, "max": 2, "retry_after": seconds}


@then("another user can create a strategy with new code meanwhile")
def other_creates(api: Any, other_user: Any, auth_headers_for: Any) -> None:
    created = _new_code(api, auth_headers_for(other_user))
    assert created.status_code == 201, created.text


@when("they save the same source again")
def save_same(api: Any, caller: dict[str, Any]) -> None:
    response = api.post(f"/api/strategies/{caller['id']}/versions", json={"source": SIMPLE}, headers=caller["headers"])
    assert response.status_code == 201 and response.json()["number"] == 1


@when("another user asks for that strategy", target_fixture="response")
def other_asks(api: Any, caller: dict[str, Any], other_user: Any, auth_headers_for: Any) -> Any:
    return api.get(f"/api/strategies/{caller['id']}", headers=auth_headers_for(other_user))


@when(parsers.parse('they create another strategy named "{name}"'), target_fixture="response")
def create_named(api: Any, caller: dict[str, Any], name: str) -> Any:
    return api.post("/api/strategies", json={"name": name, "source": SIMPLE}, headers=caller["headers"])


@when("they delete the strategy", target_fixture="response")
def delete(api: Any, caller: dict[str, Any]) -> Any:
    return api.delete(f"/api/strategies/{caller['id']}", headers=caller["headers"])


@when(parsers.parse("they create a strategy whose source is {size:d} bytes"), target_fixture="response")
def create_big(api: Any, caller: dict[str, Any], size: int) -> Any:
    source = SIMPLE + "#" * (size - len(SIMPLE.encode()))
    return api.post("/api/strategies", json={"name": "big", "source": source}, headers=caller["headers"])


@when(parsers.parse('they create a strategy with source "{source}"'), target_fixture="response")
def create_with_source(api: Any, caller: dict[str, Any], source: str) -> Any:
    body = {"name": "pasted", "source": source.encode().decode("unicode_escape")}
    return api.post("/api/strategies", json=body, headers=caller["headers"])


@then(parsers.parse("the strategy has {count:d} versions"))
def has_versions(api: Any, caller: dict[str, Any], count: int) -> None:
    page = api.get(f"/api/strategies/{caller['id']}/versions", headers=caller["headers"]).json()
    assert page["total"] == count


@then(parsers.parse('the strategy has {count:d} versions and version 1 still has "{param}" default {value:d}'))
def versions_and_first(api: Any, caller: dict[str, Any], count: int, param: str, value: int) -> None:
    has_versions(api, caller, count)
    first = api.get(f"/api/strategies/{caller['id']}/versions/1", headers=caller["headers"]).json()
    assert {p["name"]: p["default"] for p in first["params_schema"]}[param] == value


@then(parsers.parse("validating the latest version dry-runs on sample bars with params {params}"))
def validates(api: Any, caller: dict[str, Any], params: str) -> None:
    report = api.post(f"/api/strategies/{caller['id']}/validate", headers=caller["headers"])
    assert report.status_code == 200, report.text
    assert report.json()["params"] == json.loads(params) and report.json()["sample_bars"] == 240


@then("the export file holds the latest source and its content hash")
def exported(api: Any, caller: dict[str, Any]) -> None:
    file = api.get(f"/api/strategies/{caller['id']}/export", headers=caller["headers"]).json()
    latest = api.get(f"/api/strategies/{caller['id']}/versions/latest", headers=caller["headers"]).json()
    assert (file["source"], file["content_hash"], file["version"]) == (latest["source"], latest["content_hash"], 2)


@then(parsers.parse('the answer is {status:d} {code} "{message}"'))
def answer(response: Any, status: int, code: str, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"] == message


@then(parsers.parse("the error details hold line {line:d} and column {column:d}"))
def details_position(response: Any, line: int, column: int) -> None:
    details = response.json()["error"]["details"]
    assert (details["line"], details["column"]) == (line, column)


@then(parsers.parse('the violations are "{first}" and "{second}"'))
def violations(response: Any, first: str, second: str) -> None:
    found = [f"{v['line']}:{v['message']}" for v in response.json()["error"]["details"]["violations"]]
    assert found == [first, second]


READS_NEXT_BAR = '''"""Holds a symbol only while a next bar exists: it reads the future."""
import polars as pl

PARAMS = []


def generate(bars, params):
    known = pl.col("close").shift(-1).over("symbol").is_not_null()
    return bars.select("ts", "symbol", pl.when(known).then(0.5).otherwise(0.0).alias("weight"))
'''


@when("they create a strategy that reads the next bar", target_fixture="response")
def create_peeking(api: Any, caller: dict[str, Any]) -> Any:
    response = api.post("/api/strategies", json={"name": "peek", "source": READS_NEXT_BAR}, headers=caller["headers"])
    assert response.status_code == 201, response.text
    caller["id"] = response.json()["id"]
    return response


def _validated(api: Any, caller: dict[str, Any]) -> dict[str, Any]:
    report = api.post(f"/api/strategies/{caller['id']}/validate", headers=caller["headers"])
    assert report.status_code == 200, report.text
    return report.json()


@then(
    parsers.parse('validating it reports LOOKAHEAD on the last session of the sample\'s first quarter for "{symbol}"')
)
def validates_lookahead(api: Any, caller: dict[str, Any], symbol: str) -> None:
    from strategy_management import domain

    days = domain.sample_bars()["date"].unique().sort().to_list()
    report = _validated(api, caller)
    audit = report["lookahead"]
    assert report["ok"] is True  # a warning: the dry run itself worked
    assert (audit["status"], audit["session"], audit["symbol"]) == ("LOOKAHEAD", str(days[len(days) // 4 - 1]), symbol)
    assert audit["message"].startswith("LOOKAHEAD: the targets change when later bars are added")


@then(parsers.parse("validating it reports the look-ahead audit passed on {count:d} prefixes"))
def validates_honest(api: Any, caller: dict[str, Any], count: int) -> None:
    audit = _validated(api, caller)["lookahead"]
    assert audit["status"] == "passed" and len(audit["prefix_ends"]) == count and audit["session"] is None
