"""BDD: user_auth/features/throttling.feature — 429 RATE_LIMITED with Retry-After and X-RateLimit headers."""

from __future__ import annotations

import time
from typing import Any

from pytest_bdd import parsers, scenarios, then, when

from tests.user_auth.support import login_api

scenarios("user_auth/features/throttling.feature")


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
    headers = response.headers
    assert headers["X-RateLimit-Limit"] == str(limit)
    assert headers["X-RateLimit-Remaining"] == str(remaining)
    reset = int(headers["X-RateLimit-Reset"])
    retry_after = int(headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert reset >= int(time.time())
    assert response.json()["error"]["details"] == {"retry_after": retry_after}
