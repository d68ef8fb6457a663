"""Email verification and password reset: random single-use tokens, stored hashed, delivered by mail only."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.orm import Session

from platform_core.errors import InvalidInput
from platform_core.ids import new_id, utcnow
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
from user_auth.mail import queue_mail
from user_auth.principal import Principal
from user_auth.schemas import Accepted
from user_auth.service._common import LOCAL, ClientInfo, active_user, audit
from user_auth.service.login_policy import unlock_account
from user_auth.tokens import hash_password

RESET_ACCEPTED = "if an account exists for this address, a reset link has been sent to it"
VERIFY_SENT = "a verification link has been sent to your email address"
ALREADY_VERIFIED = "your email address is already verified"
_NOBODY = uuid.UUID(int=0)  # no user has this id: the expiry statement of an unknown address matches nothing


def _issue(session: Session, user: repo.User, purpose: TokenPurpose, ttl_seconds: int) -> str:
    repo.expire_one_time_tokens(session, user.id, str(purpose))
    token = new_secret()
    now = utcnow()
    repo.add(
        session,
        repo.OneTimeToken(
            user_id=user.id,
            purpose=str(purpose),
            token_hash=hash_secret(token),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        ),
    )
    return token


def send_verification(session: Session, env: AuthEnv, user: repo.User) -> None:
    token = _issue(session, user, TokenPurpose.VERIFY_EMAIL, env.settings.verify_ttl_seconds)
    hours = env.settings.verify_ttl_seconds // 3600
    queue_mail(
        session,
        env,
        to=user.email,
        subject="Verify your huice email address",
        kind=str(TokenPurpose.VERIFY_EMAIL),
        body=(
            "Welcome to huice.\n\n"
            f"Confirm your address: {env.settings.public_url}/verify-email?token={token}\n"
            f"or run: huice auth verify {token}\n\n"
            f"Verification token: {token}\n"
            f"The link expires in {hours} hours and works once.\n"
        ),
    )


def request_verification(
    session: Session, env: AuthEnv, principal: Principal, *, client: ClientInfo = LOCAL
) -> Accepted:
    """Mail a fresh verification link to the caller (the previous one stops working)."""
    env.throttle.check(
        "verify-request",
        [
            (env.settings.verify_account_limit, str(principal.user_id)),
            (env.settings.verify_address_limit, client.address),
        ],
    )
    user = active_user(session, principal.user_id)
    if user.email_verified_at is not None:
        return Accepted(status="verified", message=ALREADY_VERIFIED)
    send_verification(session, env, user)
    return Accepted(message=VERIFY_SENT)


def verify_email(session: Session, env: AuthEnv, *, token: str, client: ClientInfo = LOCAL) -> None:
    """Mark the address of the token's user verified. INVALID_INPUT for an unknown, used or expired token."""
    env.throttle.check("verify", [(env.settings.verify_address_limit, client.address)])
    row = _consume(session, TokenPurpose.VERIFY_EMAIL, token, field="token")
    env.throttle.check("verify", [(env.settings.verify_account_limit, str(row.user_id))])
    user = repo.get_user(session, row.user_id)
    if user is None or user.status != UserStatus.ACTIVE:
        raise InvalidInput("invalid or expired token", field="token")
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    audit(session, AuditAction.EMAIL_VERIFIED, actor_id=user.id, target_id=user.id, client=client)


def request_password_reset(session: Session, env: AuthEnv, *, email: str, client: ClientInfo = LOCAL) -> Accepted:
    """Mail a reset link if the account exists; the answer is the same either way, and so is the work done
    (a token is made and hashed, the same statements run and one audit row is written, so the commit costs
    the same) — only the token row and the mail are skipped for an unknown address."""
    normalized = normalize_email(email)
    env.throttle.check(
        "reset-request",
        [(env.settings.reset_account_limit, normalized), (env.settings.reset_address_limit, client.address)],
    )
    user = repo.get_user_by_email(session, normalized)
    target = user if user is not None and user.status == UserStatus.ACTIVE and user.password_hash else None
    token = _issue_reset(session, env, target)
    mail = {"kind": str(TokenPurpose.RESET_PASSWORD), **_reset_mail(env, token)}
    if target is not None:
        queue_mail(session, env, to=target.email, **mail)
    else:
        repo.insert_nothing(session, repo.OutboxMail(to_address=normalized, **mail))
    audit(
        session,
        AuditAction.PASSWORD_RESET_REQUESTED,
        actor_id=None,
        target_id=target.id if target else None,
        client=client,
        details={"account": target is not None},
    )
    return Accepted(message=RESET_ACCEPTED)


def _issue_reset(session: Session, env: AuthEnv, user: repo.User | None) -> str:
    """A reset token for `user`; for None the same work (expiry statement, secret, hash, insert statement)
    with nothing stored."""
    if user is not None:
        return _issue(session, user, TokenPurpose.RESET_PASSWORD, env.settings.reset_ttl_seconds)
    purpose = str(TokenPurpose.RESET_PASSWORD)
    repo.expire_one_time_tokens(session, _NOBODY, purpose)
    token = new_secret()
    now = utcnow()
    row = repo.OneTimeToken(
        id=new_id(),
        user_id=_NOBODY,
        purpose=purpose,
        token_hash=hash_secret(token),
        created_at=now,
        expires_at=now + timedelta(seconds=env.settings.reset_ttl_seconds),
    )
    repo.insert_nothing(session, row)
    return token


def _reset_mail(env: AuthEnv, token: str) -> dict[str, str]:
    minutes = env.settings.reset_ttl_seconds // 60
    return {
        "subject": "Reset your huice password",
        "body": (
            "Someone (hopefully you) asked to reset your huice password.\n\n"
            f"Choose a new one: {env.settings.public_url}/reset-password?token={token}\n"
            f"or run: huice auth reset-password {token}\n\n"
            f"Reset token: {token}\n"
            f"The link expires in {minutes} minutes and works once. If it was not you, ignore this mail.\n"
        ),
    }


def reset_password(
    session: Session, env: AuthEnv, *, token: str, new_password: str, client: ClientInfo = LOCAL
) -> None:
    """Set a new password with a reset token; every session of the account is revoked. Proof of the mailbox
    also lifts the account-wide login limit and trusts this address (`login_policy.unlock_account`)."""
    env.throttle.check("verify", [(env.settings.verify_address_limit, client.address)])
    row = _consume(session, TokenPurpose.RESET_PASSWORD, token, field="token")
    user = repo.get_user(session, row.user_id)
    if user is None or user.status != UserStatus.ACTIVE:
        raise InvalidInput("invalid or expired token", field="token")
    check_password_policy(new_password, user.email, field="new_password")
    user.password_hash = hash_password(env.settings, new_password)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    revoked = repo.revoke_sessions(session, user.id, reason="password_reset")
    unlock_account(env, user.email, client)
    audit(
        session,
        AuditAction.PASSWORD_RESET,
        actor_id=user.id,
        target_id=user.id,
        client=client,
        details={"sessions_revoked": revoked},
    )


def _consume(session: Session, purpose: TokenPurpose, token: str, *, field: str) -> repo.OneTimeToken:
    row = repo.get_one_time_token(session, str(purpose), hash_secret(token))
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise InvalidInput("invalid or expired token", field=field)
    row.used_at = utcnow()
    return row
