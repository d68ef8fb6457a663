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

from fastapi import Depends, Request

from platform_core.errors import Forbidden
from platform_core.http import SessionDep
from user_auth import service
from user_auth.config import env_of
from user_auth.principal import Principal
from user_auth.tokens import unauthorized

_SESSION_ID = "user_auth_session_id"


def client_info(request: Request) -> service.ClientInfo:
    """The caller's address as the server sees it (behind a proxy, configure uvicorn's forwarded-allow-ips)."""
    return service.ClientInfo(address=request.client.host if request.client else None)


def bearer_credential(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise unauthorized("missing bearer credential")
    return credential.strip()


def current_principal(request: Request, session: SessionDep) -> Principal:
    """The authenticated caller (access token, API key or external token); 401 otherwise."""
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
