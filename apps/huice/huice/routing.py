"""Route matching without walking every context's routes: each router the app includes is skipped at once
for a path none of its routes can match.

Starlette matches a request by asking every route of the app in order; FastAPI answers for an included
router by asking each of its routes in turn (and asks the chosen router a second time when it hands the
request on). A read of a run under `/api/backtests` thus tried the patterns of every route of every
context included before backtest's. Every route's pattern is anchored and begins with its path's literal
head (`/api/backtests/` of `/api/backtests/{backtest_id}`), so an included router whose routes' heads none
begin the request's path cannot match it — not fully, not partly (405), not with the slash redirected;
answering `Match.NONE` for it at once is exactly what asking its routes would answer. The routers that can
match are asked as before, in the same order, so a path still finds the same route."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI
from fastapi.routing import APIRouter, _IncludedRouter
from starlette._utils import get_route_path
from starlette.routing import Match, Mount, Route, WebSocketRoute
from starlette.types import Scope


def literal_head(path: str) -> str:
    """The part of a route's path before its first parameter: every path its pattern matches begins so."""
    return path.split("{", 1)[0]


@dataclass
class PrefixedIncludedRouter(_IncludedRouter):
    """An included router that answers `Match.NONE` without asking its routes when the request's path
    begins with none of their literal heads (see the module doc). The heads follow the router's routes:
    they are gathered again whenever one of the routers they came from (this one and those it includes)
    has changed its routes — FastAPI's own test for its view of them (`_get_routes_version`), summed over
    the routers found the last time instead of walking their routes on every request."""

    _heads: tuple[str, ...] = field(default=(), repr=False, compare=False)
    _routers: tuple[APIRouter, ...] = field(default=(), repr=False, compare=False)
    _heads_version: int | None = field(default=None, repr=False, compare=False)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if not get_route_path(scope).startswith(self.heads()):
            return Match.NONE, {}
        return super().matches(scope)

    def heads(self) -> tuple[str, ...]:
        # each router's own count only grows, and including a router counts as a change of the includer
        version = sum(router._routes_version for router in self._routers)
        if version != self._heads_version or not self._routers:
            self._routers = _routers_of(self.original_router)
            self._heads = _heads_of(self)
            self._heads_version = sum(router._routes_version for router in self._routers)
        return self._heads


def _routers_of(router: APIRouter) -> tuple[APIRouter, ...]:
    """The router and every router it includes, at any depth (each once)."""
    found: dict[int, APIRouter] = {}
    pending = [router]
    while pending:
        current = pending.pop()
        if id(current) not in found:
            found[id(current)] = current
            pending += [route.original_router for route in current.routes if isinstance(route, _IncludedRouter)]
    return tuple(found.values())


def _heads_of(router: _IncludedRouter) -> tuple[str, ...]:
    """The literal heads of every route the included router (and the routers it includes) serves, from
    their paths under the inclusions' prefixes as FastAPI joins them (without building their handlers);
    `""` — any path — for a route whose pattern is not a path's (a host) or that is matched its own way."""
    heads: set[str] = set()
    pending = [(router.original_router, router.include_context.prefix)]
    while pending:
        current, prefix = pending.pop()
        for route in current.routes:
            if isinstance(route, _IncludedRouter):
                pending.append((route.original_router, prefix + route.include_context.prefix))
            elif isinstance(route, Route | WebSocketRoute | Mount):
                heads.add(literal_head(prefix + route.path))  # a mount's pattern: its path then `/{path:path}`
            else:
                heads.add("")
    if "" in heads:
        return ("",)
    # a head that begins with another adds nothing to the test
    return tuple(sorted(h for h in heads if not any(h != o and h.startswith(o) for o in heads)))


def index_included_routers(app: FastAPI) -> None:
    """Swap each router the app includes for one that skips the paths it cannot match (same router, same
    inclusion: prefix, dependencies, tags and all; only its `matches` answers sooner)."""
    routes = app.router.routes
    for i, route in enumerate(routes):
        if type(route) is _IncludedRouter:
            routes[i] = PrefixedIncludedRouter(
                original_router=route.original_router, include_context=route.include_context
            )
