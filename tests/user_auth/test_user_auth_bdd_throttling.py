"""BDD: user_auth/features/throttling.feature — 429 RATE_LIMITED with Retry-After and X-RateLimit headers."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pytest_bdd import given, parsers, scenarios, then, when

from platform_core.embedded import free_port
from tests.user_auth.support import login_api, mailed_token
from user_auth.config import env_of
from user_auth.throttle import Throttle

scenarios("user_auth/features/throttling.feature")


@pytest.fixture
def from_address(api: Any) -> Iterator[Any]:
    """`from_address(ip)`: a client of the same app whose requests come from `ip` (the TCP peer)."""
    clients: dict[str, TestClient] = {}

    def client(address: str) -> TestClient:
        if address not in clients:
            clients[address] = TestClient(api.app, client=(address, 50000), raise_server_exceptions=False)
        return clients[address]

    yield client
    for c in clients.values():
        c.close()


@given(parsers.parse('"{email}" fails to log in {times:d} times from address "{address}"'))
@when(parsers.parse('"{email}" fails to log in {times:d} times from address "{address}"'))
def fails_times_from(from_address: Any, email: str, times: int, address: str) -> None:
    for _ in range(times):
        assert login_api(from_address(address), email, "Wrong-Horse-99").status_code == 401


@given(parsers.parse('"{email}" signed in from address "{address}"'))
def signed_in_from(from_address: Any, email: str, address: str) -> None:
    assert login_api(from_address(address), email, "Correct-Horse-9").status_code == 200


@when(parsers.parse('"{email}" logs in with password "{password}" from address "{address}"'), target_fixture="response")
def logs_in_from(from_address: Any, email: str, password: str, address: str) -> Any:
    return login_api(from_address(address), email, password)


@given(parsers.parse('the account-wide login limit is "{limit}"'))
def account_limit(container: Any, limit: str) -> None:
    env = env_of(container)
    settings = env.settings.model_copy(update={"login_account_limit": limit})
    container.extras["user_auth"] = dataclasses.replace(env, settings=settings)


@when(
    parsers.parse('the password is reset to "{password}" with the token mailed to "{email}" from address "{address}"'),
    target_fixture="response",
)
def reset_from(from_address: Any, session: Any, password: str, email: str, address: str) -> Any:
    token = mailed_token(session, email, "reset_password")
    response = from_address(address).post("/api/auth/password-reset", json={"token": token, "new_password": password})
    assert response.status_code == 204, response.text
    return response


@given("the throttle's Redis is unreachable")
def throttle_unreachable(container: Any, request: pytest.FixtureRequest) -> None:
    """A throttle on a loopback port nothing listens on: every connection is refused."""
    env = env_of(container)
    dead = Throttle(f"redis://127.0.0.1:{free_port()}/0", timeout_s=1.0)
    request.addfinalizer(dead.close)
    container.extras["user_auth"] = dataclasses.replace(env, throttle=dead)


@when(parsers.parse('"{email}" fails to log in {times:d} times'))
def fails_times(api: Any, email: str, times: int) -> None:
    for _ in range(times):
        assert login_api(api, email, "Wrong-Horse-99").status_code == 401


@when(parsers.parse("{count:d} different unknown emails fail to log in from one address"))
def many_unknown(api: Any, count: int) -> None:
    for i in range(count):
        assert login_api(api, f"unknown{i}@example.com", "Wrong-Horse-99").status_code == 401


@when(parsers.parse("{count:d} visitors register from one address"))
def many_register(api: Any, count: int) -> None:
    for i in range(count):
        response = api.post("/api/auth/register", json={"email": f"v{i}@example.com", "password": "Correct-Horse-9"})
        assert response.status_code == 201, response.text


@then(parsers.parse("the rate-limit headers show limit {limit:d} and remaining {remaining:d}"))
def rate_headers(response: Any, limit: int, remaining: int) -> None:
    assert response.status_code == 429, response.text
    headers = response.headers
    assert headers["X-RateLimit-Limit"] == str(limit)
    assert headers["X-RateLimit-Remaining"] == str(remaining)
    reset = int(headers["X-RateLimit-Reset"])
    retry_after = int(headers["Retry-After"])
    assert 1 <= retry_after <= 3600
    assert reset >= int(time.time())
    assert response.json()["error"]["details"] == {"retry_after": retry_after}
