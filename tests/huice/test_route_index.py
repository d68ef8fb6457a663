"""The app's included routers skip the paths none of their routes can match (`huice.routing`): every path still
meets the same answer from every route of the app as in FastAPI's plain walk over the routes — full, partial
(405) or none, slash variants (the redirect's second walk) included — and a read of a run asks no route of
another context. Counted, never timed."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.routing import APIRoute, _EffectiveRouteContext, _IncludedRouter
from fastapi.testclient import TestClient
from starlette.routing import Match

from huice.routing import PrefixedIncludedRouter

_SAMPLES = {"uuid": str(uuid.uuid4()), "int": "7", "float": "1.5", "path": "a/b.txt", "str": "x"}
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def _sample(path: str) -> str:
    """A concrete path for a route template (`{run_id:uuid}` → a uuid, `{token}` → `x`)."""
    out, rest = "", path
    while "{" in rest:
        head, _, tail = rest.partition("{")
        param, _, rest = tail.partition("}")
        out += head + _SAMPLES[param.partition(":")[2] or "str"]
    return out + rest


def _templates(api: TestClient) -> set[str]:
    paths: set[str] = set()
    for route in api.app.router.routes:
        if isinstance(route, _IncludedRouter):
            for context in route.effective_route_contexts():
                path = context.path if isinstance(context.original_route, APIRoute) else None
                path = path or getattr(context.starlette_route, "path", None)
                if path:
                    paths.add(path)
        elif getattr(route, "path", None) is not None:
            paths.add(route.path)
    return paths


def _paths(api: TestClient) -> set[str]:
    paths = {"/", "", "/api", "/api/", "/apix", "/apibacktests", "/api//backtests", "/API/backtests", "/api/nowhere"}
    paths |= {"/static-offline-docs", "/static-offline-docs/", "/static-offline-docs/swagger-ui.css", "/docs/"}
    for template in _templates(api):
        path = _sample(template)
        paths |= {path, path + "/", path.rstrip("/"), path + "x", path[:-1], path.upper(), path + "/extra"}
        paths.add(_sample(template.replace(":uuid}", "}")))  # not a uuid where one is expected
    return paths


def _scope(path: str, method: str, kind: str = "http", root_path: str = "") -> dict[str, Any]:
    return {"type": kind, "path": root_path + path, "root_path": root_path, "method": method, "headers": []}


def test_the_app_includes_its_routers_indexed(api: TestClient) -> None:
    included = [route for route in api.app.router.routes if isinstance(route, _IncludedRouter)]
    assert included and all(type(route) is PrefixedIncludedRouter for route in included)


def test_every_path_meets_the_same_answer_from_every_route_as_in_the_plain_walk(api: TestClient) -> None:
    routes = api.app.router.routes
    paths = sorted(_paths(api))
    assert len(paths) > 500
    compared = 0
    for path in paths:
        scopes = [_scope(path, method) for method in _METHODS]
        scopes += [_scope(path, "GET", kind="websocket"), _scope(path, "GET", root_path="/behind")]
        for scope in scopes:
            for route in routes:
                plain = _IncludedRouter.matches if isinstance(route, _IncludedRouter) else type(route).matches
                indexed_scope, plain_scope = dict(scope), dict(scope)
                assert route.matches(indexed_scope)[0] == plain(route, plain_scope)[0], (path, scope, route)
                compared += 1
    assert compared > 10_000


def test_a_run_read_asks_no_route_of_another_context(api: TestClient) -> None:
    asked: list[str] = []
    original = _EffectiveRouteContext.matches

    def counted(self: _EffectiveRouteContext, scope: Any) -> Any:
        asked.append(getattr(self.original_route, "endpoint", None).__module__)
        return original(self, scope)

    path = f"/api/backtests/{uuid.uuid4()}/runs/{uuid.uuid4()}"
    scope = _scope(path, "GET")
    try:
        _EffectiveRouteContext.matches = counted  # type: ignore[method-assign]
        full = [route for route in api.app.router.routes if route.matches(dict(scope))[0] == Match.FULL]
    finally:
        _EffectiveRouteContext.matches = original  # type: ignore[method-assign]
    assert len(full) == 1
    assert asked and set(asked) == {"backtest.api"}, sorted(set(asked))


def test_the_heads_follow_routes_added_after_the_app_was_built() -> None:
    from fastapi import APIRouter, FastAPI

    from huice.routing import index_included_routers

    outer, inner = APIRouter(), APIRouter()
    outer.add_api_route("/things", lambda: None, methods=["GET"])
    app = FastAPI()
    app.include_router(outer, prefix="/api")
    index_included_routers(app)
    (included,) = [route for route in app.router.routes if isinstance(route, _IncludedRouter)]

    def answer(path: str, method: str = "GET") -> Match:
        return included.matches(_scope(path, method))[0]

    assert answer("/api/things") == Match.FULL and answer("/api/others") == Match.NONE
    outer.add_api_route("/others", lambda: None, methods=["POST"])
    assert answer("/api/others") == Match.PARTIAL and answer("/api/others", "POST") == Match.FULL
    inner.add_api_route("/deep/{id}", lambda id: None, methods=["GET"])
    outer.include_router(inner, prefix="/nested")
    assert answer("/api/nested/deep/1") == Match.FULL
    inner.add_api_route("/deeper", lambda: None, methods=["GET"])  # a change of the included router only
    assert answer("/api/nested/deeper") == Match.FULL
    assert answer("/api/nested/elsewhere") == Match.NONE
