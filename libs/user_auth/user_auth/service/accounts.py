"""Accounts and sessions: register, log in, refresh (rotation + reuse detection), log out, change password."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.orm import Session

from platform_core.errors import Conflict, InvalidInput
from platform_core.ids import utcnow
from user_auth import repository as repo
from user_auth.config import AuthEnv
from user_auth.domain import (
    AuditAction,
    TokenPurpose,
    UserStatus,
    check_password_policy,
    hash_secret,
    new_secret,
    normalize_email,
)
from user_auth.principal import Plan, Principal, Role
from user_auth.schemas import TokenPair, UserRead
from user_auth.service._common import (
    LOCAL,
    ClientInfo,
    active_user,
    audit,
    audit_failure,
    persist_after_rollback,
    principal_of,
    user_read,
)
from user_auth.service.login_policy import count_failure, remember_address, throttle_login
from user_auth.service.recovery import send_verification
from user_auth.tokens import (
    decode_access_token,
    hash_password,
    issue_access_token,
    unauthorized,
    verify_password,
)

_BAD_LOGIN = "invalid email or password"


def register(session: Session, env: AuthEnv, *, email: str, password: str, client: ClientInfo = LOCAL) -> UserRead:
    """Create an account (role user, plan free) and mail a verification link. CONFLICT if the email is taken."""
    env.throttle.check("register", [(env.settings.register_address_limit, client.address)])
    user = create_account(session, env, email=email, password=password)
    audit(session, AuditAction.REGISTER, actor_id=user.id, target_id=user.id, client=client)
    send_verification(session, env, user)
    return user_read(user)


def create_account(
    session: Session,
    env: AuthEnv,
    *,
    email: str,
    password: str,
    role: Role = Role.USER,
    plan: Plan = Plan.FREE,
    verified: bool = False,
) -> repo.User:
    normalized = normalize_email(email)
    check_password_policy(password, normalized)
    if repo.get_user_by_email(session, normalized) is not None:
        raise Conflict("an account with this email already exists", details={"field": "email"})
    return repo.add(
        session,
        repo.User(
            email=normalized,
            password_hash=hash_password(env.settings, password),
            role=str(role),
            plan=str(plan),
            status=str(UserStatus.ACTIVE),
            email_verified_at=utcnow() if verified else None,
        ),
    )


def create_user(
    session: Session,
    env: AuthEnv,
    *,
    email: str,
    password: str,
    role: Role = Role.USER,
    plan: Plan = Plan.FREE,
    verified: bool = True,
) -> Principal:
    """Provision an account directly (operators, fixtures): no throttle, no mail."""
    user = create_account(session, env, email=email, password=password, role=role, plan=plan, verified=verified)
    audit(
        session,
        AuditAction.REGISTER,
        actor_id=None,
        target_id=user.id,
        client=LOCAL,
        details={"role": str(role), "plan": str(plan)},
    )
    return principal_of(user, "jwt")


def login(
    session: Session,
    env: AuthEnv,
    *,
    email: str,
    password: str,
    client: ClientInfo = LOCAL,
    via: str = "jwt",
) -> TokenPair:
    """Check the password and open a session; the same UNAUTHORIZED for unknown email, wrong password
    or disabled account. Throttled without letting a stranger lock the owner out (`throttle_login`)."""
    identity = email.strip().lower()
    known = throttle_login(env, identity, client)
    user = repo.get_user_by_email(session, identity)
    ok = verify_password(env.settings, password, user.password_hash if user else None)
    if user is None or not ok or user.status != UserStatus.ACTIVE:
        reason = "unknown_email" if user is None else ("wrong_password" if not ok else "disabled")
        audit_failure(
            session,
            env,
            AuditAction.LOGIN_FAILED,
            actor_id=None,
            target_id=user.id if user else None,
            client=client,
            details={"email": identity[:320], "reason": reason},
        )
        count_failure(env, identity)
        raise unauthorized(_BAD_LOGIN)
    remember_address(env, known)
    tokens = _open_session(session, env, user, via=via, client=client)
    audit(
        session, AuditAction.LOGIN_SUCCEEDED, actor_id=user.id, target_id=user.id, client=client, details={"via": via}
    )
    return tokens


def issue_tokens(
    session: Session, env: AuthEnv, principal: Principal, *, via: str = "jwt", client: ClientInfo = LOCAL
) -> TokenPair:
    """Open a new session for an active user without a password (fixtures, trusted flows)."""
    return _open_session(session, env, active_user(session, principal.user_id), via=via, client=client)


def _open_session(session: Session, env: AuthEnv, user: repo.User, *, via: str, client: ClientInfo) -> TokenPair:
    family = repo.add(session, repo.AuthSession(user_id=user.id, via=via, client_address=client.address))
    return _mint(session, env, user, family.id)


def _mint(session: Session, env: AuthEnv, user: repo.User, session_id: uuid.UUID) -> TokenPair:
    refresh = new_secret()
    now = utcnow()
    repo.add(
        session,
        repo.RefreshToken(
            session_id=session_id,
            token_hash=hash_secret(refresh),
            created_at=now,
            expires_at=now + timedelta(seconds=env.settings.refresh_ttl_seconds),
        ),
    )
    access, expires_at = issue_access_token(env.settings, user_id=user.id, session_id=session_id)
    return TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_in=env.settings.access_ttl_seconds,
        expires_at=expires_at,
        user=user_read(user),
    )


def refresh(session: Session, env: AuthEnv, *, refresh_token: str, client: ClientInfo = LOCAL) -> TokenPair:
    """Exchange a refresh token for a new pair. A token already used revokes its whole session family."""
    row = repo.get_refresh_token(session, hash_secret(refresh_token), lock=True)
    family = repo.get_session_row(session, row.session_id) if row else None
    if row is None or family is None or family.revoked_at is not None:
        raise unauthorized("invalid refresh token")
    if row.used_at is not None:
        _revoke_family_for_reuse(session, env, family, client)
        raise unauthorized("refresh token reuse detected; the session was revoked")
    if row.expires_at <= utcnow():
        raise unauthorized("refresh token expired")
    user = active_user(session, family.user_id)
    row.used_at = utcnow()
    return _mint(session, env, user, family.id)


def _revoke_family_for_reuse(session: Session, env: AuthEnv, family: repo.AuthSession, client: ClientInfo) -> None:
    family_id, user_id = family.id, family.user_id

    def revoke(s: Session) -> None:
        repo.revoke_session(s, family_id, reason="refresh_reuse")

    revoke(session)
    persist_after_rollback(session, env, revoke)
    audit_failure(
        session,
        env,
        AuditAction.TOKEN_REUSE,
        actor_id=None,
        target_id=user_id,
        client=client,
        details={"session_id": str(family_id)},
    )


def logout(
    session: Session,
    env: AuthEnv,
    principal: Principal,
    *,
    session_id: uuid.UUID | None = None,
    refresh_token: str | None = None,
    client: ClientInfo = LOCAL,
) -> None:
    """End the session of the presented access token and/or refresh token (the caller's own only)."""
    targets: set[uuid.UUID] = set()
    if session_id is not None:
        targets.add(session_id)
    if refresh_token:
        row = repo.get_refresh_token(session, hash_secret(refresh_token))
        family = repo.get_session_row(session, row.session_id) if row else None
        if family is None or family.user_id != principal.user_id:
            raise unauthorized("invalid refresh token")
        targets.add(family.id)
    for target in sorted(targets):
        family = repo.get_session_row(session, target)
        if family is not None and family.user_id == principal.user_id:
            repo.revoke_session(session, target, reason="logout")
    audit(
        session,
        AuditAction.LOGOUT,
        actor_id=principal.user_id,
        target_id=principal.user_id,
        client=client,
        details={"sessions": sorted(str(t) for t in targets)},
    )


def change_password(
    session: Session,
    env: AuthEnv,
    principal: Principal,
    *,
    current_password: str,
    new_password: str,
    keep_session_id: uuid.UUID | None = None,
    client: ClientInfo = LOCAL,
) -> int:
    """Check the current password, set the new one and revoke every other session; returns how many."""
    user = active_user(session, principal.user_id)
    if user.password_hash is None:
        raise InvalidInput("this account signs in with an external identity", field="current_password")
    if not verify_password(env.settings, current_password, user.password_hash):
        raise InvalidInput("current password is wrong", field="current_password")
    check_password_policy(new_password, user.email, field="new_password")
    if verify_password(env.settings, new_password, user.password_hash):
        raise InvalidInput("the new password must differ from the current one", field="new_password")
    user.password_hash = hash_password(env.settings, new_password)
    revoked = repo.revoke_sessions(session, user.id, reason="password_changed", except_id=keep_session_id)
    repo.expire_one_time_tokens(session, user.id, str(TokenPurpose.RESET_PASSWORD))
    audit(
        session,
        AuditAction.PASSWORD_CHANGED,
        actor_id=user.id,
        target_id=user.id,
        client=client,
        details={"sessions_revoked": revoked},
    )
    return revoked


def me(session: Session, principal: Principal) -> UserRead:
    """The caller's own account."""
    return user_read(active_user(session, principal.user_id))


def principal_for_user(session: Session, user_id: uuid.UUID, *, via: str = "job") -> Principal:
    """The principal of a user id (jobs acting for a user); UNAUTHORIZED if missing or disabled."""
    return principal_of(active_user(session, user_id), via)


def principal_from_access_token(
    session: Session, env: AuthEnv, token: str, *, via: str = "jwt"
) -> tuple[Principal, uuid.UUID]:
    """Verify an access token and its session; returns the principal and the session id."""
    claims = decode_access_token(env.settings, token)
    found = repo.session_principal(session, claims.session_id)  # one round trip for both
    if found is None or found.revoked_at is not None or found.session_user_id != claims.user_id:
        raise unauthorized("session ended; log in again")
    if found.status != UserStatus.ACTIVE:
        raise unauthorized()
    return principal_of(found, via), claims.session_id
