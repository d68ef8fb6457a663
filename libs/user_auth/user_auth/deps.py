"""FastAPI dependencies other contexts use: `CurrentPrincipal`, `AdminPrincipal` and `Caller`.

    @router.get("/things")
    def list_things(principal: CurrentPrincipal, session: SessionDep) -> Page[ThingRead]: ...

    @router.get("/things/{thing_id}")  # a most polled read: one worker-thread hop for all of it
    async def get_thing(thing_id: uuid.UUID, caller: Caller) -> ThingRead:
        return await caller(service.get_thing, thing_id)  # service.get_thing(session, principal, thing_id)

A request is authenticated by `Authorization: Bearer <credential>` where the credential is an access
token from `/api/auth/login`, an API key (`hk_...`), or — when configured — a Supabase/JWKS token.
Anything else is 401 UNAUTHORIZED with `WWW-Authenticate: Bearer`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from platform_core.errors import AppError, ErrorCode, Forbidden
from platform_core.http import (
    SessionDep,
    add_response_headers,
    add_success_headers_from,
    recorded_response_headers,
    run_committed,
)
from user_auth import service
from user_auth.config import env_of
from user_auth.domain import RATE_CLASS_KEY, RouteClass, route_class
from user_auth.principal import Principal
from user_auth.tokens import unauthorized

T = TypeVar("T")
_SESSION_ID = "user_auth_session_id"
_AUTHENTICATED = "user_auth_authenticated"

# The two ways to authenticate, as OpenAPI security schemes (both are `Authorization: Bearer ...`); every
# operation that depends on `CurrentPrincipal` lists them as alternatives.
ACCESS_TOKEN = HTTPBearer(
    scheme_name="AccessToken",
    bearerFormat="JWT",
    description=(
        "An access token from `POST /api/auth/login` (or `/api/auth/refresh`), valid 15 minutes; when "
        "external identity is configured, a Supabase/JWKS token with audience `authenticated` too."
    ),
    auto_error=False,
)
API_KEY = HTTPBearer(
    scheme_name="ApiKey",
    bearerFormat="hk_<id>_<secret>",
    description="An API key `hk_<id>_<secret>` from `POST /api/auth/keys`, sent as `Authorization: Bearer hk_...`.",
    auto_error=False,
)
_Credentials = HTTPAuthorizationCredentials | None


def client_info(request: Request) -> service.ClientInfo:
    """The caller's address: the TCP peer's, or the forwarded one when the peer is a proxy named in
    HUICE_TRUSTED_PROXIES (the app resolves that once, for every context — see `huice.api`)."""
    return service.ClientInfo(address=request.client.host if request.client else None)


def bearer_credential(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise unauthorized("missing bearer credential")
    return credential.strip()


async def current_principal(
    request: Request,
    session: SessionDep,
    access_token: Annotated[_Credentials, Security(ACCESS_TOKEN)],
    api_key: Annotated[_Credentials, Security(API_KEY)],
) -> Principal:
    """The authenticated caller (access token, API key or external token); 401 otherwise. (`access_token`
    and `api_key` document the schemes; the header is read once, by `bearer_credential`.) On `/api` the
    rate-limit guard has authenticated already: its result is taken on the event loop, without a thread."""
    principal, session_id = getattr(request.state, _AUTHENTICATED, None) or await run_in_threadpool(
        _authenticate, request, session
    )
    setattr(request.state, _SESSION_ID, session_id)
    return principal


def _authenticate(request: Request, session: Any) -> tuple[Principal, uuid.UUID | None]:
    """Authenticate once per request (the rate-limit guard and `CurrentPrincipal` share the result)."""
    cached = getattr(request.state, _AUTHENTICATED, None)
    if cached is not None:
        return cached
    env = env_of(request.app.state.container)
    result = service.authenticate(session, env, bearer_credential(request), client=client_info(request))
    setattr(request.state, _AUTHENTICATED, result)
    return result


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


class CallerHop:
    """The caller's work in one worker-thread hop: `await hop(fn, *args)` authenticates the caller and
    counts the request (the rate-limit guard's work, deferred to this hop: 401 or 429 as the guard would
    answer), runs `fn(session, principal, *args, **kwargs)` and commits the unit of work — one hop where
    `CurrentPrincipal` and `run_committed` take two (the guard's, the route's). For the most polled reads,
    whose whole work is that one call. A route's own parameter errors (422) are still answered after the
    caller is authenticated and counted (`run_deferred_guard`)."""

    def __init__(self, request: Request, session: Any) -> None:
        self._request = request
        self._session = session

    async def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await run_committed(self._session, self._guarded, fn, args, kwargs)

    def _guarded(self, fn: Callable[..., T], args: tuple, kwargs: dict[str, Any]) -> T:
        _run_deferred(self._request, self._session)
        principal, session_id = _authenticate(self._request, self._session)  # the guard's result, if it ran
        setattr(self._request.state, _SESSION_ID, session_id)
        return fn(self._session, principal, *args, **kwargs)


async def caller_hop(
    request: Request,
    session: SessionDep,
    access_token: Annotated[_Credentials, Security(ACCESS_TOKEN)],
    api_key: Annotated[_Credentials, Security(API_KEY)],
) -> CallerHop:
    """A route's `CallerHop` (see there); documents the security schemes as `CurrentPrincipal` does."""
    return CallerHop(request, session)


Caller = Annotated[CallerHop, Depends(caller_hop)]


async def require_admin(principal: CurrentPrincipal) -> Principal:
    """The caller if they are an administrator; 403 FORBIDDEN otherwise."""
    if not principal.is_admin:
        raise Forbidden("administrators only")
    return principal


AdminPrincipal = Annotated[Principal, Depends(require_admin)]


async def current_session_id(request: Request, principal: CurrentPrincipal) -> uuid.UUID | None:
    """The session (refresh family) of the caller's access token; None for API keys and external tokens."""
    return getattr(request.state, _SESSION_ID, None)


CurrentSessionId = Annotated[uuid.UUID | None, Depends(current_session_id)]


# ------------------------------------------------------------------ rate limits and quota hints


_WITH_CALLER = (current_principal, caller_hop)
_DEFERRED = "user_auth_guard_deferred"


def _needs_principal(dependant: Any) -> bool:
    return any(dep.call in _WITH_CALLER or _needs_principal(dep) for dep in dependant.dependencies)


def _defers_guard(dependant: Any) -> bool:
    """The route takes a `Caller`: its hop does the guard's work."""
    return any(dep.call is caller_hop for dep in dependant.dependencies)


def _principal_identity(request: Request, principal: Principal) -> str:
    """A user's sessions share one identity; each API key is its own (`hk_<key id>_<secret>`)."""
    if principal.via == "api_key":
        return "key:" + bearer_credential(request).split("_")[1]
    return f"user:{principal.user_id}"


async def rate_limit_guard(request: Request, session: SessionDep) -> None:
    """Rate-limit the request (the composition app installs this on every `/api` route, right after the
    schema edge): routes
    with a caller count against the caller's plan and route class, per principal; routes without one, and
    requests whose credential is refused, count per client address. Over a limit: 429 RATE_LIMITED with
    `Retry-After` and `details.limit`. Every answer carries `X-RateLimit-*` of the window closest to
    exhaustion; an answer that accepted counted work also carries the `X-Quota-*` hint headers. (The
    authentication and the count run in one worker thread; the hints are read on the loop when the
    response starts — a plain dependency, without FastAPI's exit of a generator.) A route taking a `Caller`
    has that work done in its own hop instead, before its call."""
    route = request.scope.get("route")
    if route is not None and _defers_guard(route.dependant):
        setattr(request.state, _DEFERRED, True)
    else:
        await run_in_threadpool(_guard, request, session)
    add_success_headers_from(request, lambda: _quota_hint_headers(session))


def _run_deferred(request: Request, session: Any) -> None:
    """The guard's work if it was deferred to this point and has not run yet (blocking: in a worker thread)."""
    if getattr(request.state, _DEFERRED, False):
        setattr(request.state, _DEFERRED, False)
        _guard(request, session)


def run_deferred_guard(request: Request) -> AppError | None:
    """For an answer made after the guard was deferred but before the route's hop ran it (a route's own
    parameter errors): authenticate and count now, in a unit of its own, as the guard would have before
    the route — the refusal (401, 429) when there is one, which answers instead. Blocking."""
    if not getattr(request.state, _DEFERRED, False):
        return None
    try:
        with request.app.state.container.db.transaction() as session:
            _run_deferred(request, session)
    except AppError as exc:
        return exc
    return None


def _quota_hint_headers(session: Any) -> dict[str, str]:
    """The `X-Quota-*` hint of the quota closest to its limit among those the request counted, if any."""
    hints = service.quota_hints(session)
    if not hints:
        return {}
    closest = max(hints, key=lambda h: h.used / h.limit if h.limit else float("inf"))
    return closest.headers()


def _guard(request: Request, session: Any) -> None:
    """The blocking part of `rate_limit_guard`: authenticate (when the route has a caller), count, refuse."""
    env = env_of(request.app.state.container)
    route = request.scope.get("route")
    refused: AppError | None = None
    principal: Principal | None = None
    if route is not None and _needs_principal(route.dependant):
        try:
            principal, _ = _authenticate(request, session)
        except AppError as exc:
            if exc.code != ErrorCode.UNAUTHORIZED:
                raise
            refused = exc
    try:
        if principal is not None:
            declared = (getattr(route, "openapi_extra", None) or {}).get(RATE_CLASS_KEY)
            cls = route_class(request.method, route.path, declared)
            identity = _principal_identity(request, principal)
            decision = service.rate_limit(env, cls, plan=principal.plan, identity=identity)
        else:
            address = client_info(request).address or "unknown"
            decision = service.rate_limit(env, RouteClass.ANONYMOUS, plan=None, identity=f"addr:{address}")
    except AppError as exc:
        add_response_headers(request, exc.headers)  # counted: the answer is this refusal
        raise
    if decision is not None:
        add_response_headers(request, decision.headers())
    if refused is not None:
        raise refused


RateLimitGuard = Depends(rate_limit_guard)


def rate_limit_unguarded(request: Request) -> AppError | None:
    """For an answer made before the guard ran (a malformed body, an unknown path or method): count the
    request against its client address and record the headers; the refusal when that limit is exhausted."""
    if "X-RateLimit-Limit" in recorded_response_headers(request):
        return None
    env = env_of(request.app.state.container)
    address = client_info(request).address or "unknown"
    try:
        decision = service.rate_limit(env, RouteClass.ANONYMOUS, plan=None, identity=f"addr:{address}")
    except AppError as exc:
        return exc
    if decision is not None:
        add_response_headers(request, decision.headers())
    return None
