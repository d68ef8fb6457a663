"""Resolving a Bearer credential to a principal: our access tokens, API keys, external (Supabase/JWKS) tokens."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from platform_core.ids import utcnow
from user_auth import repository as repo
from user_auth.config import AuthEnv
from user_auth.domain import AuditAction, UserStatus, looks_like_api_key, normalize_email
from user_auth.principal import Plan, Principal, Role
from user_auth.service._common import LOCAL, ClientInfo, audit, principal_of
from user_auth.service.accounts import principal_from_access_token
from user_auth.service.keys import principal_from_api_key
from user_auth.tokens import decode_external_token, unauthorized, unverified_audience


def authenticate(
    session: Session, env: AuthEnv, credential: str, *, client: ClientInfo = LOCAL
) -> tuple[Principal, uuid.UUID | None]:
    """A Bearer credential → (principal, session id or None). UNAUTHORIZED for anything not valid."""
    if looks_like_api_key(credential):
        return principal_from_api_key(session, credential), None
    audience = unverified_audience(credential)
    audiences = audience if isinstance(audience, list) else [audience]
    if env.settings.jwt_audience in audiences:
        return principal_from_access_token(session, env, credential)
    if env.settings.external_enabled and env.settings.external_audience in audiences:
        return principal_from_external_token(session, env, credential, client=client), None
    raise unauthorized()


def principal_from_external_token(
    session: Session, env: AuthEnv, token: str, *, client: ClientInfo = LOCAL
) -> Principal:
    """Verify an external token and return its local user, provisioning one on first sight."""
    identity = decode_external_token(env.settings, token)
    user = repo.get_user_by_subject(session, identity.subject)
    if user is None:
        email = normalize_email(identity.email)
        if repo.get_user_by_email(session, email) is not None:
            raise unauthorized("this external identity cannot be linked to an existing account")
        user = repo.add(
            session,
            repo.User(
                email=email,
                password_hash=None,
                role=str(Role.USER),
                plan=str(Plan.FREE),
                status=str(UserStatus.ACTIVE),
                email_verified_at=utcnow(),
                external_subject=identity.subject,
            ),
        )
        audit(
            session,
            AuditAction.EXTERNAL_PROVISIONED,
            actor_id=user.id,
            target_id=user.id,
            client=client,
            details={"subject": identity.subject},
        )
    if user.status != UserStatus.ACTIVE:
        raise unauthorized()
    return principal_of(user, "external")
