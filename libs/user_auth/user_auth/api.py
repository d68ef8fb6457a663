"""HTTP face of user_auth: `/api/auth/*` (accounts, sessions, recovery, keys), `/api/users/me`, `/api/admin/*`.

Routes that need a caller declare the `AccessToken` and `ApiKey` security schemes (through `CurrentPrincipal`);
throttled routes document 429 and 503 (the throttle fails closed when its Redis is unreachable).

Every route: auth dependency + session dependency + one service call. Tokens for verification and
password reset are only ever delivered by mail; no response contains one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from platform_core.http import SessionDep, error_responses
from platform_core.pagination import Page, PageDep
from user_auth import service
from user_auth.config import AuthEnv, env_of
from user_auth.deps import AdminPrincipal, CurrentPrincipal, CurrentSessionId, client_info
from user_auth.domain import UserStatus
from user_auth.principal import Plan, Role
from user_auth.schemas import (
    Accepted,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    AuditEntryRead,
    ChangePassword,
    Credentials,
    DisclaimerAcceptance,
    LogoutRequest,
    PlanCatalogue,
    PlanInterestCreate,
    PlanInterestRead,
    RefreshRequest,
    ResetPassword,
    ResetRequest,
    TokenPair,
    UsageRead,
    UserAdminUpdate,
    UserRead,
    VerifyEmailRequest,
)


async def _env(request: Request) -> AuthEnv:  # pure: no thread hop
    return env_of(request.app.state.container)


EnvDep = Annotated[AuthEnv, Depends(_env)]
ClientDep = Annotated[service.ClientInfo, Depends(client_info)]

auth = APIRouter(prefix="/auth", tags=["auth"])
users = APIRouter(prefix="/users", tags=["users"])
admin = APIRouter(prefix="/admin", tags=["admin"], responses=error_responses(401, 403))


@auth.post("/register", status_code=201, response_model=UserRead, responses=error_responses(409, 429, 503))
def register(body: Credentials, session: SessionDep, env: EnvDep, client: ClientDep) -> UserRead:
    """Create an account and mail a verification link. 409 CONFLICT if the email is taken; weak passwords
    are INVALID_INPUT with `details.field` = "password"."""
    return service.register(session, env, email=body.email, password=body.password, client=client)


@auth.post("/login", response_model=TokenPair, responses=error_responses(401, 429, 503))
def login(body: Credentials, session: SessionDep, env: EnvDep, client: ClientDep) -> TokenPair:
    """Exchange email + password for an access token (JWT) and a single-use refresh token. Throttled per
    (account, address) and per address (429); while the throttle's store is unreachable, 503 with `Retry-After`."""
    return service.login(session, env, email=body.email, password=body.password, client=client)


@auth.post("/refresh", response_model=TokenPair, responses=error_responses(401))
def refresh(body: RefreshRequest, session: SessionDep, env: EnvDep, client: ClientDep) -> TokenPair:
    """Rotate a refresh token. Presenting one that was already used revokes its whole session."""
    return service.refresh(session, env, refresh_token=body.refresh_token, client=client)


@auth.post("/logout", status_code=204, responses=error_responses(401))
def logout(
    principal: CurrentPrincipal,
    session_id: CurrentSessionId,
    session: SessionDep,
    env: EnvDep,
    client: ClientDep,
    body: LogoutRequest | None = None,
) -> Response:
    """End the current session (and the one of `refresh_token`, if given)."""
    service.logout(
        session,
        env,
        principal,
        session_id=session_id,
        refresh_token=body.refresh_token if body else None,
        client=client,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth.get("/me", response_model=UserRead, responses=error_responses(401))
def me(principal: CurrentPrincipal, session: SessionDep) -> UserRead:
    """The caller's account."""
    return service.me(session, principal)


@auth.post("/verify-email", response_model=Accepted, responses=error_responses(429, 503))
def verify_email(body: VerifyEmailRequest, session: SessionDep, env: EnvDep, client: ClientDep) -> Accepted:
    """Confirm an email address with the token from the verification mail (single use)."""
    service.verify_email(session, env, token=body.token, client=client)
    return Accepted(status="verified", message="email address verified")


@auth.post("/verify-email/request", response_model=Accepted, responses=error_responses(401, 429, 503))
def request_verification(principal: CurrentPrincipal, session: SessionDep, env: EnvDep, client: ClientDep) -> Accepted:
    """Mail a new verification link to the caller."""
    return service.request_verification(session, env, principal, client=client)


@auth.post("/password-reset/request", status_code=202, response_model=Accepted, responses=error_responses(429, 503))
def request_password_reset(body: ResetRequest, session: SessionDep, env: EnvDep, client: ClientDep) -> Accepted:
    """Mail a reset link. The answer is identical whether or not the address has an account."""
    return service.request_password_reset(session, env, email=body.email, client=client)


@auth.post("/password-reset", status_code=204, responses=error_responses(429, 503))
def reset_password(body: ResetPassword, session: SessionDep, env: EnvDep, client: ClientDep) -> Response:
    """Set a new password with the token from the reset mail; every session of the account ends."""
    service.reset_password(session, env, token=body.token, new_password=body.new_password, client=client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth.post("/change-password", status_code=204, responses=error_responses(401))
def change_password(
    body: ChangePassword,
    principal: CurrentPrincipal,
    session_id: CurrentSessionId,
    session: SessionDep,
    env: EnvDep,
    client: ClientDep,
) -> Response:
    """Change the password; every other session of the account ends."""
    service.change_password(
        session,
        env,
        principal,
        current_password=body.current_password,
        new_password=body.new_password,
        keep_session_id=session_id,
        client=client,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth.post("/keys", status_code=201, response_model=ApiKeyCreated, responses=error_responses(401))
def create_api_key(
    body: ApiKeyCreate, principal: CurrentPrincipal, session: SessionDep, env: EnvDep, client: ClientDep
) -> ApiKeyCreated:
    """Create an API key. The `key` field is shown this once; use it as `Authorization: Bearer hk_...`."""
    return service.create_api_key(
        session, env, principal, name=body.name, expires_in_days=body.expires_in_days, client=client
    )


@auth.get("/keys", response_model=Page[ApiKeyRead], responses=error_responses(401))
def list_api_keys(principal: CurrentPrincipal, session: SessionDep, page: PageDep) -> Page[ApiKeyRead]:
    """The caller's API keys (prefix, name, dates; never the secret)."""
    return service.list_api_keys(session, principal, page)


@auth.delete("/keys/{key}", response_model=ApiKeyRead, responses=error_responses(401, 404))
def revoke_api_key(
    key: str, principal: CurrentPrincipal, session: SessionDep, env: EnvDep, client: ClientDep
) -> ApiKeyRead:
    """Revoke one of the caller's keys, by id or prefix (`hk_...`)."""
    return service.revoke_api_key(session, env, principal, key=key, client=client)


@users.get("/me", response_model=UserRead, responses=error_responses(401))
def users_me(principal: CurrentPrincipal, session: SessionDep) -> UserRead:
    """The caller's account."""
    return service.me(session, principal)


@admin.get("/users", response_model=Page[UserRead])
def list_users(
    principal: AdminPrincipal,
    session: SessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=320, description="Email fragment.")] = None,
    role: Role | None = None,
    plan: Plan | None = None,
    status: UserStatus | None = None,
) -> Page[UserRead]:
    """Search users by email fragment, role, plan and status."""
    return service.list_users(session, principal, query=q, role=role, plan=plan, status=status, page=page)


@admin.get("/users/{user_id}", response_model=UserRead, responses=error_responses(404))
def get_user(user_id: uuid.UUID, principal: AdminPrincipal, session: SessionDep) -> UserRead:
    """One user."""
    return service.get_user(session, principal, user_id)


@admin.patch("/users/{user_id}", response_model=UserRead, responses=error_responses(404))
def update_user(
    user_id: uuid.UUID,
    body: UserAdminUpdate,
    principal: AdminPrincipal,
    session: SessionDep,
    env: EnvDep,
    client: ClientDep,
) -> UserRead:
    """Change a user's role, plan or status (`disabled` ends their sessions and revokes their API keys for good)."""
    return service.update_user(session, env, principal, user_id, body, client=client)


@admin.get("/audit", response_model=Page[AuditEntryRead])
def query_audit(
    principal: AdminPrincipal,
    session: SessionDep,
    page: PageDep,
    action: str | None = None,
    actor_id: uuid.UUID | None = None,
    target_id: uuid.UUID | None = None,
    outcome: Annotated[str | None, Query(pattern="^(success|failure)$")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[AuditEntryRead]:
    """The audit log, newest first."""
    return service.query_audit(
        session,
        principal,
        action=action,
        actor_id=actor_id,
        target_id=target_id,
        outcome=outcome,
        since=since,
        until=until,
        page=page,
    )


plans = APIRouter(prefix="/plans", tags=["plans"])
me_router = APIRouter(prefix="/me", tags=["users"], responses=error_responses(401))


@plans.get("", response_model=PlanCatalogue)
def plan_catalogue(env: EnvDep) -> PlanCatalogue:
    """The plan catalogue for the pricing page (public): Free and Pro with their monthly quotas, rate limits
    by route class, features, which quotas are hard, and the research-use disclaimer (研究用途，不构成投资建议)."""
    return service.plan_catalogue(env)


@plans.post("/interest", response_model=PlanInterestRead, responses=error_responses(401))
def plan_interest(body: PlanInterestCreate, principal: CurrentPrincipal, session: SessionDep) -> PlanInterestRead:
    """The caller clicked "subscribe" on a plan (no payment is taken): counted once per user and plan;
    `recorded` is false on a repeat."""
    return service.register_plan_interest(session, principal, body.plan)


@me_router.get("/usage", response_model=UsageRead)
def my_usage(principal: CurrentPrincipal, session: SessionDep, env: EnvDep) -> UsageRead:
    """Used / limit / resets-at of every monthly quota of the caller's account, and whether it ran out."""
    return service.usage(session, env, principal)


@me_router.get("/disclaimer", response_model=DisclaimerAcceptance)
def my_disclaimer(principal: CurrentPrincipal, session: SessionDep) -> DisclaimerAcceptance:
    """The research-use disclaimer and whether (and when) the caller accepted it."""
    return service.disclaimer_status(session, principal)


@me_router.post("/disclaimer", response_model=DisclaimerAcceptance)
def accept_disclaimer(principal: CurrentPrincipal, session: SessionDep) -> DisclaimerAcceptance:
    """Accept the research-use disclaimer (研究用途，不构成投资建议 / research use only, not investment
    advice); needed once per account before the first run. Repeating it keeps the first timestamp."""
    return service.accept_disclaimer(session, principal)


router = APIRouter()
router.include_router(auth)
router.include_router(users)
router.include_router(admin)
router.include_router(plans)
router.include_router(me_router)
