"""BDD: user_auth/features/rate_limits.feature and plans.feature — per-route rate limits by plan and route
class (limits set low on the test's container), the plan catalogue, plan interest, the disclaimer."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pytest_bdd import given, parsers, scenarios, then, when

from platform_core.embedded import free_port
from tests.user_auth.support import bearer
from user_auth import service
from user_auth.config import env_of
from user_auth.ratelimit import RateLimiter

scenarios("user_auth/features/rate_limits.feature", "user_auth/features/plans.feature")

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def _set(container: Any, **changes: Any) -> None:
    env = env_of(container)
    container.extras["user_auth"] = dataclasses.replace(env, settings=env.settings.model_copy(update=changes))


@pytest.fixture
def people() -> dict[str, Any]:
    return {}


# --- given -----------------------------------------------------------------------------------------------


@given(parsers.parse('the free plan allows "{reads}" reads and "{writes}" writes'))
def free_limits(container: Any, reads: str, writes: str) -> None:
    _set(container, rate_free_read=reads, rate_free_write=writes)


@given(parsers.parse('the pro plan allows "{reads}" reads'))
def pro_limits(container: Any, reads: str) -> None:
    _set(container, rate_pro_read=reads)


@given(parsers.parse('anonymous requests are limited to "{limit}"'))
def anonymous_limit(container: Any, limit: str) -> None:
    _set(container, rate_anonymous=limit)


@given("the rate limiter's Redis is unreachable")
def limiter_unreachable(container: Any, request: pytest.FixtureRequest) -> None:
    dead = RateLimiter(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2)
    request.addfinalizer(dead.close)
    container.extras["user_auth"] = dataclasses.replace(env_of(container), limiter=dead)


@given("a signed-in free user")
def free_user(make_user: Any, auth_headers_for: Any, people: dict[str, Any]) -> None:
    principal = make_user(plan="free")
    people["user"] = (principal, auth_headers_for(principal))


@given("a signed-in pro user")
def pro_user(make_user: Any, auth_headers_for: Any, people: dict[str, Any]) -> None:
    principal = make_user(plan="pro")
    people["pro user"] = (principal, auth_headers_for(principal))


@given("the user has an API key")
def user_key(session: Any, container: Any, people: dict[str, Any]) -> None:
    principal, _ = people["user"]
    people["key"] = service.create_api_key(session, env_of(container), principal, name="rate limits").key


# --- when ------------------------------------------------------------------------------------------------


def _reads(api: Any, headers: dict[str, str], times: int) -> Any:
    response = None
    for _ in range(times):
        response = api.get("/api/auth/me", headers=headers)
    return response


@when(parsers.parse("the {who} reads their account {times:d} times"), target_fixture="response")
@when(parsers.parse("the {who} reads their account"), target_fixture="response")
def reads_account(api: Any, people: dict[str, Any], who: str, times: int = 1) -> Any:
    return _reads(api, people[who][1], times)


@when("the user reads their account with the API key", target_fixture="response")
def reads_with_key(api: Any, people: dict[str, Any]) -> Any:
    return api.get("/api/auth/me", headers=bearer(people["key"]))


@when(parsers.parse("a caller with a bad token reads their account {times:d} times"), target_fixture="response")
@when("a caller with a bad token reads their account", target_fixture="response")
def bad_token(api: Any, times: int = 1) -> Any:
    return _reads(api, bearer("not-a-token"), times)


@when("the user creates an API key", target_fixture="response")
def creates_key(api: Any, people: dict[str, Any]) -> Any:
    return api.post("/api/auth/keys", json={"name": "k"}, headers=people["user"][1])


@when(parsers.parse("a visitor reads the plan catalogue {times:d} times"), target_fixture="response")
@when("a visitor reads the plan catalogue", target_fixture="response")
def reads_catalogue(api: Any, times: int = 1) -> Any:
    response = None
    for _ in range(times):
        response = api.get("/api/plans")
    return response


@when("a visitor from another address reads the plan catalogue", target_fixture="response")
def reads_catalogue_elsewhere(api: Any) -> Any:
    with TestClient(api.app, client=("198.51.100.23", 50000), raise_server_exceptions=False) as other:
        return other.get("/api/plans")


@when(parsers.parse('the user shows interest in the "{plan}" plan'), target_fixture="response")
def shows_interest(api: Any, people: dict[str, Any], plan: str) -> Any:
    return api.post("/api/plans/interest", json={"plan": plan}, headers=people["user"][1])


@when("the user reads their disclaimer status", target_fixture="response")
def disclaimer_status(api: Any, people: dict[str, Any]) -> Any:
    return api.get("/api/me/disclaimer", headers=people["user"][1])


@when("the user accepts the disclaimer", target_fixture="response")
def accepts(api: Any, people: dict[str, Any]) -> Any:
    response = api.post("/api/me/disclaimer", headers=people["user"][1])
    people["first acceptance"] = response.json()["accepted_at"]
    return response


@when("the user accepts the disclaimer again", target_fixture="response")
def accepts_again(api: Any, people: dict[str, Any]) -> Any:
    return api.post("/api/me/disclaimer", headers=people["user"][1])


# --- then ------------------------------------------------------------------------------------------------


@then(parsers.parse("the response status is {status:d}"))
def status_is(response: Any, status: int) -> None:
    assert response.status_code == status, response.text


@then(parsers.parse("the rate-limit headers show limit {limit:d} and remaining {remaining:d}"))
def rate_headers(response: Any, limit: int, remaining: int) -> None:
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == str(remaining)
    assert int(response.headers["X-RateLimit-Reset"]) >= int(time.time())


@then("the response carries the rate-limit headers")
def has_rate_headers(response: Any) -> None:
    assert all(name in response.headers for name in RATE_HEADERS), dict(response.headers)
    assert int(response.headers["X-RateLimit-Remaining"]) < int(response.headers["X-RateLimit-Limit"])


@then("the response carries no rate-limit headers")
def no_rate_headers(response: Any) -> None:
    assert not any(name in response.headers for name in RATE_HEADERS), dict(response.headers)


@then(parsers.parse('the error is 429 "RATE_LIMITED" naming the limit "{limit}" of "{route_class}" requests'))
def rate_limited(response: Any, limit: str, route_class: str) -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "RATE_LIMITED"
    assert error["details"]["limit"] == limit
    assert error["details"]["route_class"] == route_class
    assert error["details"]["retry_after"] == int(response.headers["Retry-After"])
    assert response.headers["X-RateLimit-Remaining"] == "0"


@then(parsers.parse("the response has a Retry-After of at most {seconds:d} seconds"))
def retry_after(response: Any, seconds: int) -> None:
    assert 1 <= int(response.headers["Retry-After"]) <= seconds


@then(parsers.parse('the catalogue lists the plans "{a}" and "{b}" with quotas "{q1}", "{q2}", "{q3}", "{q4}", "{q5}"'))
def catalogue_plans(response: Any, a: str, b: str, q1: str, q2: str, q3: str, q4: str, q5: str) -> None:
    body = response.json()
    assert [p["name"] for p in body["plans"]] == [a, b]
    for plan in body["plans"]:
        assert set(plan["quotas"]) == {q1, q2, q3, q4, q5}
        assert set(plan["rate_limits"]) == {"read", "write", "submit", "download"}
    free, pro = body["plans"]
    assert all(pro["quotas"][q] > free["quotas"][q] for q in free["quotas"])


@then(parsers.parse('the catalogue carries the disclaimer "{zh}" and "{en}"'))
def catalogue_disclaimer(response: Any, zh: str, en: str) -> None:
    disclaimer = response.json()["disclaimer"]
    assert zh in disclaimer["zh"] and en in disclaimer["en"]
    assert zh in disclaimer["text"] and en in disclaimer["text"]


@then(parsers.parse("the interest is recorded with {count:d} interested user"))
def interest_recorded(response: Any, count: int) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"plan": "pro", "recorded": True, "interested_users": count}


@then(parsers.parse("the interest is not recorded again and {count:d} user is interested"))
def interest_repeated(response: Any, count: int) -> None:
    assert response.json() == {"plan": "pro", "recorded": False, "interested_users": count}


@then("the disclaimer is not accepted")
def not_accepted(response: Any) -> None:
    body = response.json()
    assert (body["accepted"], body["accepted_at"]) == (False, None)
    assert "研究用途" in body["disclaimer"]["text"]


@then("the disclaimer is accepted with a timestamp")
def accepted(response: Any) -> None:
    body = response.json()
    assert body["accepted"] is True and body["accepted_at"]


@then("the acceptance keeps the first timestamp")
def keeps_first(response: Any, people: dict[str, Any]) -> None:
    assert response.json()["accepted_at"] == people["first acceptance"]


@then("the usage report shows the acceptance")
def usage_shows(api: Any, people: dict[str, Any]) -> None:
    body = api.get("/api/me/usage", headers=people["user"][1]).json()
    assert body["disclaimer_accepted_at"] == people["first acceptance"]
    assert [q["quota"] for q in body["quotas"]] == ["runs", "sweep_evaluations", "artifact_bytes", "share_links"]


@when("a visitor posts a body that is not JSON to the login route", target_fixture="response")
def malformed_login(api: Any) -> Any:
    return api.post("/api/auth/login", content=b"{not json", headers={"Content-Type": "application/json"})


@when("a visitor asks for an API path that does not exist", target_fixture="response")
def unknown_path(api: Any) -> Any:
    return api.get("/api/no-such-thing")
