"""The throttle fails closed: with its Redis unreachable every throttled attempt is 503 SERVICE_UNAVAILABLE with
`Retry-After` (never a 500, never let through uncounted), and it recovers when Redis is back."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from platform_core.embedded import EmbeddedRedis, free_port
from platform_core.errors import ServiceUnavailable
from tests.user_auth.factories import DEFAULT_PASSWORD, auth_headers, create_user
from tests.user_auth.support import login_api
from user_auth.config import env_of
from user_auth.throttle import UNAVAILABLE, Throttle

ENVELOPE = {"error": {"code": "SERVICE_UNAVAILABLE", "message": UNAVAILABLE, "details": {"retry_after": 5}}}


@pytest.fixture
def dead_throttle() -> Iterator[Throttle]:
    """A throttle on a loopback port nothing listens on: every connection is refused."""
    throttle = Throttle(f"redis://127.0.0.1:{free_port()}/0", timeout_s=1.0)
    yield throttle
    throttle.close()


def _use(container: Any, throttle: Throttle) -> None:
    container.extras["user_auth"] = dataclasses.replace(env_of(container), throttle=throttle)


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.check("login", [("5/minute", "a@example.com")]),
        lambda t: t.refuse_if_exhausted("login", "5/minute", "a@example.com"),
        lambda t: t.count("login", "5/minute", "a@example.com"),
        lambda t: t.clear("login", "5/minute", "a@example.com"),
        lambda t: t.remember("known", "a@example.com|127.0.0.1", 60),
        lambda t: t.remembers("known", "a@example.com|127.0.0.1"),
    ],
    ids=["check", "refuse_if_exhausted", "count", "clear", "remember", "remembers"],
)
def test_every_throttle_operation_is_service_unavailable_without_redis(
    dead_throttle: Throttle, call: Callable[[Throttle], Any]
) -> None:
    with pytest.raises(ServiceUnavailable) as caught:
        call(dead_throttle)
    assert caught.value.envelope() == ENVELOPE
    assert (caught.value.http_status, caught.value.exit_code) == (503, 8)
    assert caught.value.headers == {"Retry-After": "5"}


def test_every_throttled_route_answers_503_without_redis(
    api: Any, session: Any, container: Any, dead_throttle: Throttle
) -> None:
    principal = create_user(session, container, email="t@example.com")
    headers = auth_headers(container, principal)
    _use(container, dead_throttle)
    credentials = {"email": "t@example.com", "password": DEFAULT_PASSWORD}
    calls = [
        ("/api/auth/login", credentials, None),
        ("/api/auth/register", {"email": "new@example.com", "password": DEFAULT_PASSWORD}, None),
        ("/api/auth/password-reset/request", {"email": "t@example.com"}, None),
        ("/api/auth/password-reset", {"token": "x" * 43, "new_password": "Fresh-Horse-42"}, None),
        ("/api/auth/verify-email", {"token": "x" * 43}, None),
        ("/api/auth/verify-email/request", None, headers),
    ]
    for path, body, extra in calls:
        response = api.post(path, json=body, headers=extra)
        assert (response.status_code, response.json()) == (503, ENVELOPE), path
        assert response.headers["Retry-After"] == "5", path
    assert api.get("/api/auth/me", headers=headers).status_code == 200  # authenticating needs no throttle


@pytest.mark.e2e
def test_login_is_503_while_redis_is_down_and_works_again_after_a_restart(
    api: Any, session: Any, container: Any, tmp_path: Path
) -> None:
    create_user(session, container, email="r@example.com")
    port = free_port()
    server = EmbeddedRedis(tmp_path / "a", appendonly=False, port=port)
    throttle = Throttle(server.start(), timeout_s=1.0)
    restarted = None
    try:
        _use(container, throttle)
        assert login_api(api, "r@example.com", DEFAULT_PASSWORD).status_code == 200
        server.stop()  # the throttle's Redis goes away (connection refused)...
        for _ in range(3):
            down = login_api(api, "r@example.com", DEFAULT_PASSWORD)
            assert (down.status_code, down.json(), down.headers["Retry-After"]) == (503, ENVELOPE, "5")
        restarted = EmbeddedRedis(tmp_path / "b", appendonly=False, port=port)
        restarted.start()  # ...and comes back, empty, on the same port: the throttle reconnects
        assert login_api(api, "r@example.com", DEFAULT_PASSWORD).status_code == 200
    finally:
        throttle.close()
        for srv in (restarted, server):
            if srv is not None:
                srv.stop()
