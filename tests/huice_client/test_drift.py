"""The Python client cannot drift from the API: every operation of the real `/openapi.json` has a client
method (or is in the one exclusion set below, with its reason), and every client method's route, query
parameter names and request-body schema exist in the document exactly as declared."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from huice_client import Client, routes

# Operator / admin / machine-facing operations a user's client does not call (one set, with the reason).
EXCLUDED: dict[str, str] = {
    "POST /api/market/sync": "operator: data ingestion (`huice data sync` stays local)",
    "POST /api/market/check": "operator: data integrity checks",
    "POST /api/jobs/reap": "operator: the reaper",
    "POST /api/jobs/diag": "operator: diagnostic jobs",
    "GET /api/monitor/stream": "admin dashboard stream (the summary is in the client)",
    "GET /metrics": "Prometheus scrape endpoint",
    "GET /s/{token}": "the public share page (HTML for browsers; `shared(token)` reads its data)",
}


@pytest.fixture
def document(api: TestClient) -> dict[str, Any]:
    return api.get("/openapi.json").json()


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": op
        for path, ops in document["paths"].items()
        for method, op in ops.items()
        if method in ("get", "post", "put", "patch", "delete")
    }


def _body_schema(op: dict[str, Any]) -> str | None:
    """The request body's schema name (`""` for an inline one), None without a body."""
    body = op.get("requestBody")
    if body is None:
        return None
    schema = body["content"]["application/json"]["schema"]
    refs = [schema, *schema.get("anyOf", [])]
    names = [s["$ref"].rsplit("/", 1)[-1] for s in refs if "$ref" in s]
    return names[0] if names else ""


def test_every_operation_has_a_client_method_or_a_stated_exclusion(document: dict[str, Any]) -> None:
    covered = {route.key for route in routes().values()}
    missing = sorted(set(_operations(document)) - covered - set(EXCLUDED))
    assert missing == []


def test_every_exclusion_is_a_real_operation_the_client_does_not_call(document: dict[str, Any]) -> None:
    covered = {route.key for route in routes().values()}
    assert sorted(set(EXCLUDED) - set(_operations(document))) == []
    assert sorted(set(EXCLUDED) & covered) == []


def test_every_client_route_exists_with_its_query_names_and_body_schema(document: dict[str, Any]) -> None:
    operations = _operations(document)
    drift = {}
    for name, route in routes().items():
        op = operations.get(route.key)
        if op is None:
            drift[name] = f"{route.key} is not in /openapi.json"
            continue
        query = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        if set(route.query) != query:
            drift[name] = f"query {sorted(route.query)} != {sorted(query)}"
        elif route.body != _body_schema(op):
            drift[name] = f"body {route.body!r} != {_body_schema(op)!r}"
    assert drift == {}


def test_every_route_is_a_public_client_method_or_the_helper_of_one() -> None:
    public = {name for name in dir(Client) if not name.startswith("_")}
    helpers = {"_login": "login", "_refresh": "refresh"}
    assert sorted(n for n in routes() if n not in public and helpers.get(n) not in public) == []


def test_the_client_refuses_a_query_parameter_its_route_does_not_declare() -> None:
    from huice_client import Call, HuiceError

    client = Client("http://127.0.0.1:9")
    route = routes()["templates"]
    with pytest.raises(HuiceError, match="no query parameter"):
        client._send(route, Call(params={"nope": 1}))
