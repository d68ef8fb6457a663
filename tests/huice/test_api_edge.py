"""The schema edge on the real app: every route refuses NUL characters, integers outside 64 bits and
non-ISO dates before it runs (before authentication too), and the API's own bounds, dates and symbol
lists answer INVALID_INPUT naming the field instead of 500 or a silent fix-up."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, get_args

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from platform_core.edge import INT32_MAX, INT64_MAX, edge_guard, shape_of
from tests.user_auth.factories import DEFAULT_PASSWORD
from user_auth import service as auth_service
from user_auth.domain import AuditAction

BIG = 2**63


def _routes(app: Any) -> list[Any]:
    return [rc for rc in iter_route_contexts(app.routes) if getattr(rc, "dependant", None) is not None]


def _sample(annotation: Any) -> str:
    if annotation is uuid.UUID:
        return str(uuid.uuid4())
    if annotation is int:
        return "1"
    options = get_args(annotation)
    return str(options[0]) if options else "x"


def _url(route: Any, **given: str) -> str:
    values = {p.alias: given.get(p.alias) or _sample(p.field_info.annotation) for p in route.dependant.path_params}
    return route.path_format.format(**values)


def _refused(response: Any, field: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_INPUT" and error["details"]["field"] == field, error
    return error


def test_every_route_has_the_edge_guard_first(api: TestClient) -> None:
    routes = _routes(api.app)
    assert len(routes) > 60
    missing = [f"{sorted(r.methods)} {r.path}" for r in routes if r.dependant.dependencies[0].call is not edge_guard]
    assert missing == []


def test_every_route_refuses_a_nul_query_value_before_anything_else(api: TestClient) -> None:
    """No credentials are sent: the edge answers before authentication, the unit of work and the route."""
    answers = {}
    for route in _routes(api.app):
        for method in route.methods - {"HEAD"}:
            response = api.request(method, _url(route), params={"edge_probe": "a\x00b"})
            answers[f"{method} {route.path}"] = (response.status_code, response.json()["error"]["details"].get("field"))
    assert {k: v for k, v in answers.items() if v != (422, "query.edge_probe")} == {}


def test_every_route_with_a_body_refuses_nul_and_wide_integers_in_it(api: TestClient) -> None:
    with_body = [r for r in _routes(api.app) if r.dependant.body_params or r.body_field is not None]
    assert len(with_body) > 15
    for route in with_body:
        for method in route.methods:
            _refused(api.request(method, _url(route), json={"edge_probe": ["ok", "\x00"]}), "edge_probe.1")
            _refused(api.request(method, _url(route), json={"edge_probe": {"n": BIG}}), "edge_probe.n")


def test_every_integer_parameter_refuses_values_outside_64_bits(api: TestClient) -> None:
    checked = 0
    for route in _routes(api.app):
        for where, name in shape_of(route.dependant).integers:
            url = _url(route, **{name: str(BIG)}) if where == "path" else _url(route)
            params = {name: str(BIG)} if where == "query" else {}
            for method in route.methods - {"HEAD"}:
                _refused(api.request(method, url, params=params), f"{where}.{name}")
                checked += 1
    assert checked >= 20


def test_a_login_with_a_nul_is_refused_before_the_throttle_and_the_audit(
    api: TestClient, session: Any, container: Any, make_user: Any
) -> None:
    """Refused at the edge like any malformed login body: no service runs, so no failed-login row."""
    from user_auth.config import env_of

    admin = make_user(role="admin")

    def failed_logins() -> int:
        return auth_service.query_audit(session, admin, action=AuditAction.LOGIN_FAILED).total

    before = failed_logins()
    r = api.post("/api/auth/login", json={"email": "a\x00@example.com", "password": DEFAULT_PASSWORD})
    _refused(r, "email")
    assert failed_logins() == before
    r = api.post("/api/auth/login", json={"email": "nobody@example.com", "password": "x"})
    assert r.status_code == 401 and failed_logins() == before + 1
    assert env_of(container) is not None


def test_nul_in_stored_text_is_refused(api: TestClient, make_user: Any, auth_headers_for: Any) -> None:
    headers = auth_headers_for(make_user())
    r = api.post("/api/strategies/from-template", headers=headers, json={"template": "ma_cross", "name": "x\x00y"})
    _refused(r, "name")
    _refused(api.get("/api/strategies", headers=headers, params={"q": "\x00"}), "query.q")
    _refused(api.post("/api/auth/keys", headers=headers, json={"name": "\x00"}), "name")


def test_the_page_offset_is_bounded_by_postgresqls_bigint(
    api: TestClient, make_user: Any, auth_headers_for: Any
) -> None:
    headers = auth_headers_for(make_user())
    page = api.get("/api/strategies", headers=headers, params={"offset": INT64_MAX})
    assert page.status_code == 200 and page.json()["items"] == []
    _refused(api.get("/api/strategies", headers=headers, params={"offset": INT64_MAX + 1}), "query.offset")
    _refused(api.get("/api/admin/users", params={"offset": BIG * 4}), "query.offset")


def test_version_numbers_are_bounded_by_their_32_bit_column(
    api: TestClient, make_user: Any, auth_headers_for: Any
) -> None:
    headers = auth_headers_for(make_user())
    sid = api.post("/api/strategies/from-template", headers=headers, json={"template": "ma_cross"}).json()["id"]
    _refused(api.get(f"/api/strategies/{sid}/versions/{INT32_MAX + 1}", headers=headers), "path.number")
    assert api.get(f"/api/strategies/{sid}/versions/{INT32_MAX}", headers=headers).status_code == 404
    _refused(api.get(f"/api/strategies/{sid}/diff?from=1&to={INT32_MAX + 1}", headers=headers), "query.to")
    _refused(api.get(f"/api/strategies/{sid}/export?version={INT32_MAX + 1}", headers=headers), "query.version")
    _refused(api.post(f"/api/strategies/{sid}/validate", headers=headers, json={"version": INT32_MAX + 1}), "version")


def test_a_datetime_is_refused_where_the_api_declares_a_date(
    api: TestClient, make_user: Any, auth_headers_for: Any
) -> None:
    headers = auth_headers_for(make_user())
    params = {"start": "2024-01-02T00:00:00", "end": "2024-01-31"}
    _refused(api.get("/api/market/calendar", headers=headers, params=params), "query.start")
    window = {"start": "2024-01-02", "end": 1706659200}
    body = {"strategyRef": {"template": "ma_cross"}, "context": {"universe": ["600010.SH"], "window": window}}
    _refused(api.post("/api/backtests", headers=headers, json=body), "context.window.end")
    ok = api.get("/api/market/calendar", headers=headers, params={"start": "2024-01-02", "end": "2024-01-31"})
    assert ok.status_code == 200


@pytest.fixture
def sample_slice(session: Any, container: Any) -> None:
    from market_data import service
    from market_data.config import env_of

    service.load_sample(
        session, env_of(container), symbols=["600010.SH", "000010.SZ"], start=date(2023, 1, 1), end=date(2023, 3, 31)
    )


def test_duplicate_symbols_are_reported_not_dropped(
    api: TestClient, make_user: Any, auth_headers_for: Any, sample_slice: None
) -> None:
    headers = auth_headers_for(make_user())
    params = {"symbols": "600010.SH,000010.SZ,600010.sh", "start": "2023-01-03", "end": "2023-01-31"}
    error = _refused(api.get("/api/market/bars", headers=headers, params=params), "symbols")
    assert error["details"]["duplicates"] == ["600010.SH"]
    assert error["message"] == "duplicate symbols: 600010.SH"
    context = {"universe": ["000010.SZ", "000010.SZ"], "window": {"start": "2023-02-01", "end": "2023-03-31"}}
    body = {"strategyRef": {"template": "ma_cross"}, "context": context}
    error = _refused(api.post("/api/backtests", headers=headers, json=body), "context.universe")
    assert error["details"]["duplicates"] == ["000010.SZ"]


def _dependency_calls(dependant: Any) -> set[Any]:
    calls = set()
    for sub in dependant.dependencies:
        calls |= {sub.call} | _dependency_calls(sub)
    return calls


def test_every_operation_documents_the_statuses_it_can_return(api: TestClient) -> None:
    """422 (the edge, validation), 413 (body limit) and 500 everywhere; 401 where a caller is required, 403
    where an admin is, 404 where the path names an object."""
    from user_auth.deps import current_principal, require_admin

    document = api.get("/openapi.json").json()
    missing = {}
    for route in _routes(api.app):
        calls = _dependency_calls(route.dependant)
        needed = {"413", "422", "500"}
        needed |= {"401"} if current_principal in calls else set()
        needed |= {"403"} if require_admin in calls else set()
        needed |= {"404"} if route.dependant.path_params else set()
        for method in route.methods:
            documented = set(document["paths"][route.path_format][method.lower()]["responses"])
            if needed - documented:
                missing[f"{method} {route.path_format}"] = sorted(needed - documented)
    assert missing == {}


def test_a_wrong_method_answers_405_with_every_method_of_the_path(api: TestClient) -> None:
    r = api.request("OPTIONS", "/api/strategies")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, POST"
    r = api.put(f"/api/strategies/{uuid.uuid4()}")
    assert r.status_code == 405 and r.headers["Allow"] == "DELETE, GET, PATCH"
    # A literal path beside an id path is not taken for an id.
    r = api.get("/api/jobs/diag")
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    r = api.get("/api/strategies/import")
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
