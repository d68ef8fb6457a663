"""The Python client on the real app (in-process ASGI, the test's rolled-back database): sign-in, token
renewal, the error envelope as `HuiceError`, and a few typed calls."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from huice_client import Client, HuiceError, TokenPair

PASSWORD = "Correct-Horse-9"


@pytest.fixture
def client(api: TestClient) -> Client:
    return Client("http://testserver", http=api)


def test_register_login_and_me(client: Client) -> None:
    user = client.register("notebook@example.com", PASSWORD)
    pair = client.login("notebook@example.com", PASSWORD)
    assert isinstance(pair, TokenPair) and client.token == pair.access_token
    me = client.me()
    assert (me["id"], me["email"]) == (user["id"], "notebook@example.com")


def test_an_error_is_the_envelope_as_huice_error(client: Client) -> None:
    client.register("errors@example.com", PASSWORD)
    with pytest.raises(HuiceError) as wrong:
        client.login("errors@example.com", "Wrong-Horse-99")
    assert (wrong.value.code, wrong.value.status, wrong.value.message) == (
        "UNAUTHORIZED",
        401,
        "invalid email or password",
    )
    client.login("errors@example.com", PASSWORD)
    with pytest.raises(HuiceError) as missing:
        client.strategy("00000000-0000-7000-8000-000000000000")
    assert (missing.value.code, missing.value.status) == ("NOT_FOUND", 404)
    assert missing.value.route is not None and missing.value.route.key == "GET /api/strategies/{strategy_id}"


def test_an_expired_access_token_is_renewed_once_and_the_new_pair_reported(client: Client) -> None:
    client.register("renew@example.com", PASSWORD)
    first = client.login("renew@example.com", PASSWORD)
    seen: list[Any] = []
    client.on_tokens = seen.append
    client.token = "not-a-valid-token"
    assert client.me()["email"] == "renew@example.com"
    [pair] = seen
    assert pair.refresh_token != first.refresh_token and client.token == pair.access_token


def test_a_refused_renewal_is_reported_and_the_401_raised(client: Client) -> None:
    seen: list[Any] = []
    stale = Client("http://testserver", token="bad", refresh_token="bad", on_tokens=seen.append, http=client._http)
    with pytest.raises(HuiceError) as refused:
        stale.me()
    assert refused.value.status == 401 and seen == [None]


def test_strategies_from_a_template_with_versions(client: Client) -> None:
    client.register("quant@example.com", PASSWORD)
    client.login("quant@example.com", PASSWORD)
    names = [t["name"] for t in client.templates()]
    assert "ma_cross" in names
    created = client.strategy_from_template({"template": "ma_cross", "name": "mine"})
    assert client.strategies()["items"][0]["id"] == created["id"]
    assert client.version(created["id"])["number"] == 1
    assert client.strategy_versions(created["id"])["total"] == 1
