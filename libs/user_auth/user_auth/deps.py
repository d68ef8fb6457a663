"""FastAPI dependencies other contexts use: `CurrentPrincipal` and `AdminPrincipal`.

    @router.get("/things")
    def list_things(principal: CurrentPrincipal, session: SessionDep) -> Page[ThingRead]: ...

A request is authenticated by `Authorization: Bearer <credential>` where the credential is an access
token from `/api/auth/login`, an API key (`hk_...`), or — when configured — a Supabase/JWKS token.
Anything else is 401 UNAUTHORIZED with `WWW-Authenticate: Bearer`.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from platform_core.errors import Forbidden
from platform_core.http import SessionDep
from user_auth import service
from user_auth.config import env_of
from user_auth.principal import Principal
from user_auth.tokens import unauthorized

_SESSION_ID = "user_auth_session_id"

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


def current_principal(
    request: Request,
    session: SessionDep,
    access_token: Annotated[_Credentials, Security(ACCESS_TOKEN)],
    api_key: Annotated[_Credentials, Security(API_KEY)],
) -> Principal:
    """The authenticated caller (access token, API key or external token); 401 otherwise. (`access_token`
    and `api_key` document the schemes; the header is read once, by `bearer_credential`.)"""
    env = env_of(request.app.state.container)
    principal, session_id = service.authenticate(session, env, bearer_credential(request), client=client_info(request))
    setattr(request.state, _SESSION_ID, session_id)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_admin(principal: CurrentPrincipal) -> Principal:
    """The caller if they are an administrator; 403 FORBIDDEN otherwise."""
    if not principal.is_admin:
        raise Forbidden("administrators only")
    return principal


AdminPrincipal = Annotated[Principal, Depends(require_admin)]


def current_session_id(request: Request, principal: CurrentPrincipal) -> uuid.UUID | None:
    """The session (refresh family) of the caller's access token; None for API keys and external tokens."""
    return getattr(request.state, _SESSION_ID, None)


CurrentSessionId = Annotated[uuid.UUID | None, Depends(current_session_id)]
