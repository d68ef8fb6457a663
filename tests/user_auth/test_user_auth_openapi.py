"""`/openapi.json` documents authentication: the two Bearer schemes, and exactly the operations that need a
caller list them as alternatives — and those operations really refuse an anonymous caller."""

from __future__ import annotations

import re
from typing import Any

SCHEMES = {
    "AccessToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "ApiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "hk_<id>_<secret>"},
}
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/metrics"),  # its own optional token (HUICE_METRICS_TOKEN), not a caller's credential
    ("GET", "/ready"),
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/refresh"),
    ("POST", "/api/auth/verify-email"),
    ("POST", "/api/auth/password-reset/request"),
    ("POST", "/api/auth/password-reset"),
    ("GET", "/api/plans"),
    ("GET", "/api/shared/{token}"),  # a share link: the token is the credential (backtest's sharing)
    ("GET", "/s/{token}"),
}


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): op for path, ops in doc["paths"].items() for method, op in ops.items()}


def test_the_security_schemes_are_declared(api: Any) -> None:
    schemes = api.get("/openapi.json").json()["components"]["securitySchemes"]
    assert {name: {k: v for k, v in s.items() if k != "description"} for name, s in schemes.items()} == SCHEMES
    assert "POST /api/auth/login" in schemes["AccessToken"]["description"]
    assert "hk_" in schemes["ApiKey"]["description"]


def test_exactly_the_operations_that_need_a_caller_declare_the_schemes(api: Any) -> None:
    operations = _operations(api.get("/openapi.json").json())
    public = {key for key, op in operations.items() if "security" not in op}
    assert public == PUBLIC
    for key, op in operations.items():
        if key not in PUBLIC:
            assert op["security"] == [{"AccessToken": []}, {"ApiKey": []}], key
            assert "401" in op["responses"], key
    for method, path in set(operations) - PUBLIC:  # and each of them really refuses an anonymous caller
        url = re.sub(r"\{[^}]+\}", "00000000-0000-7000-8000-000000000000", path)
        response = api.request(method, url)
        assert (response.status_code, response.headers.get("WWW-Authenticate")) == (401, "Bearer"), (method, path)


def test_throttled_operations_document_429_and_503(api: Any) -> None:
    operations = _operations(api.get("/openapi.json").json())
    throttled = PUBLIC - {
        ("GET", "/health"), ("GET", "/ready"), ("GET", "/metrics"), ("POST", "/api/auth/refresh"), ("GET", "/api/plans")
    }  # fmt: skip
    for key in [*throttled, ("POST", "/api/auth/verify-email/request")]:
        assert {"429", "503"} <= set(operations[key]["responses"]), key
        assert operations[key]["responses"]["503"]["description"] == "SERVICE_UNAVAILABLE", key
