"""Administration: users (search, disable/enable, role, plan), the first admin, the audit log, the mailbox."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from platform_core.errors import InvalidInput, NotFound
from platform_core.ids import utcnow
from platform_core.pagination import Page, PageParams
from user_auth import repository as repo
from user_auth.config import AuthEnv
from user_auth.domain import API_KEY_PREFIX, AuditAction, UserStatus, normalize_email
from user_auth.mail import queue_mail
from user_auth.principal import Plan, Principal, Role
from user_auth.schemas import AuditEntryRead, MailRead, UserAdminUpdate, UserCounts, UserRead
from user_auth.service._common import LOCAL, ClientInfo, audit, principal_of, require_admin, user_read
from user_auth.service.accounts import create_account


def list_users(
    session: Session,
    principal: Principal,
    *,
    query: str | None = None,
    role: Role | None = None,
    plan: Plan | None = None,
    status: UserStatus | None = None,
    page: PageParams | None = None,
) -> Page[UserRead]:
    """Users matching an email fragment and filters, oldest first (admins)."""
    require_admin(principal)
    page = page or PageParams()
    rows, total = repo.search_users(
        session,
        query=query,
        role=role and str(role),
        plan=plan and str(plan),
        status=status and str(status),
        limit=page.limit,
        offset=page.offset,
    )
    return Page[UserRead](items=[user_read(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


def get_user(session: Session, principal: Principal, user_id: uuid.UUID) -> UserRead:
    """One user (admins)."""
    require_admin(principal)
    return user_read(_user(session, user_id))


def find_user(session: Session, principal: Principal, ref: str) -> UserRead:
    """One user by id or email (admins)."""
    require_admin(principal)
    try:
        return user_read(_user(session, uuid.UUID(ref)))
    except ValueError:
        user = repo.get_user_by_email(session, ref.strip().lower())
    if user is None:
        raise NotFound("no such user", details={"user": ref[:320]})
    return user_read(user)


def _user(session: Session, user_id: uuid.UUID) -> repo.User:
    user = repo.get_user(session, user_id)
    if user is None:
        raise NotFound("no such user", details={"user_id": str(user_id)})
    return user


def update_user(
    session: Session,
    env: AuthEnv,
    principal: Principal,
    user_id: uuid.UUID,
    change: UserAdminUpdate,
    *,
    client: ClientInfo = LOCAL,
) -> UserRead:
    """Change role, plan and/or status (admins). Disabling ends every session and revokes every API key;
    admins cannot lock themselves out."""
    require_admin(principal)
    user = _user(session, user_id)
    if user.id == principal.user_id and (change.role == Role.USER or change.status == UserStatus.DISABLED):
        raise InvalidInput("you cannot demote or disable your own account", field="role" if change.role else "status")
    for attr, action in (
        ("role", AuditAction.ROLE_CHANGED),
        ("plan", AuditAction.PLAN_CHANGED),
        ("status", AuditAction.STATUS_CHANGED),
    ):
        new = getattr(change, attr)
        old = getattr(user, attr)
        if new is None or str(new) == old:
            continue
        setattr(user, attr, str(new))
        audit(
            session,
            action,
            actor_id=principal.user_id,
            target_id=user.id,
            client=client,
            details={"from": old, "to": str(new)},
        )
    if change.status == UserStatus.DISABLED:
        _lock_out(session, principal, user, client)
    session.flush()
    return user_read(user)


def _lock_out(session: Session, principal: Principal, user: repo.User, client: ClientInfo) -> None:
    """A disabled user's sessions end and their API keys are revoked for good (enabling does not restore
    them: the user creates new ones); each key's revocation is audited."""
    repo.revoke_sessions(session, user.id, reason="disabled")
    for key_id in repo.revoke_api_keys(session, user.id):
        audit(
            session,
            AuditAction.KEY_REVOKED,
            actor_id=principal.user_id,
            target_id=user.id,
            client=client,
            details={"key": f"{API_KEY_PREFIX}{key_id}", "reason": "user_disabled"},
        )


def find_account(session: Session, email: str, *, via: str = "cli") -> Principal | None:
    """The principal of the active account with this email, or None (operator tooling such as
    `huice demo seed`; no API exposes this)."""
    user = repo.get_user_by_email(session, normalize_email(email))
    if user is None or user.status != UserStatus.ACTIVE:
        return None
    return principal_of(user, via)


def account_exists(session: Session, email: str) -> bool:
    """Whether an account uses this email (operator tooling only; no API exposes this)."""
    return repo.get_user_by_email(session, normalize_email(email)) is not None


def create_admin(session: Session, env: AuthEnv, *, email: str, password: str | None) -> UserRead:
    """Bootstrap an administrator: promote an existing account, or create a verified admin account."""
    normalized = normalize_email(email)
    user = repo.get_user_by_email(session, normalized)
    if user is None:
        if not password:
            raise InvalidInput("a password is needed to create a new account", field="password")
        user = create_account(session, env, email=normalized, password=password, role=Role.ADMIN, verified=True)
        audit(
            session,
            AuditAction.REGISTER,
            actor_id=None,
            target_id=user.id,
            client=LOCAL,
            details={"role": "admin", "by": "create-admin"},
        )
    elif user.role != Role.ADMIN:
        audit(
            session,
            AuditAction.ROLE_CHANGED,
            actor_id=None,
            target_id=user.id,
            client=LOCAL,
            details={"from": user.role, "to": "admin", "by": "create-admin"},
        )
        user.role = str(Role.ADMIN)
    return user_read(user)


def query_audit(
    session: Session,
    principal: Principal,
    *,
    action: str | None = None,
    actor_id: uuid.UUID | None = None,
    target_id: uuid.UUID | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: PageParams | None = None,
) -> Page[AuditEntryRead]:
    """Audit entries, newest first, filtered by action, actor, target, outcome and time (admins)."""
    require_admin(principal)
    page = page or PageParams()
    rows, total = repo.query_audit(
        session,
        action=action,
        actor_id=actor_id,
        target_id=target_id,
        outcome=outcome,
        since=since,
        until=until,
        limit=page.limit,
        offset=page.offset,
    )
    items = [AuditEntryRead.model_validate(r) for r in rows]
    return Page[AuditEntryRead](items=items, total=total, limit=page.limit, offset=page.offset)


def mailbox(session: Session, *, to: str | None = None, page: PageParams | None = None) -> Page[MailRead]:
    """The mail outbox (the dev mailbox without SMTP), newest first. Operators only: never exposed by the API."""
    page = page or PageParams()
    rows, total = repo.list_mail(
        session, to_address=normalize_email(to) if to else None, limit=page.limit, offset=page.offset
    )
    return Page[MailRead](
        items=[MailRead.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


def user_counts(session: Session, now: datetime | None = None) -> UserCounts:
    """Published (monitoring): every user, the verified ones, and those active in the last 1/7/30 days
    (signed in, refreshed a session or used an API key)."""
    now = now or utcnow()
    total, verified = repo.user_counts(session)
    active = {days: repo.active_user_count(session, now - timedelta(days=days)) for days in (1, 7, 30)}
    return UserCounts(total=total, verified=verified, active_1d=active[1], active_7d=active[7], active_30d=active[30])


def notify_admins(session: Session, env: AuthEnv, *, subject: str, body: str, kind: str) -> int:
    """Published (monitoring): queue a message to every active admin through the outbox (sent after the
    caller's commit when SMTP is configured, else left in the dev mailbox); returns how many were queued."""
    emails = repo.active_admin_emails(session)
    for email in emails:
        queue_mail(session, env, to=email, subject=subject, body=body, kind=kind)
    return len(emails)
