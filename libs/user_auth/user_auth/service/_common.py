"""Helpers shared by the use cases: the caller's client info, audit rows, schema conversion."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from platform_core.errors import Forbidden
from platform_core.ids import new_id, utcnow
from platform_core.logging import request_id_var
from user_auth import repository as repo
from user_auth.config import AuthEnv
from user_auth.domain import AuditAction, UserStatus
from user_auth.principal import Plan, Principal, Role
from user_auth.schemas import UserRead
from user_auth.tokens import unauthorized

_ROLLBACK_HOOKS = "user_auth.after_rollback"
_LISTENING = "user_auth.rollback_listener"


@dataclass(frozen=True)
class ClientInfo:
    """Where a call comes from: the client address (API) or None (CLI, jobs)."""

    address: str | None = None


LOCAL = ClientInfo()


def user_read(user: repo.User) -> UserRead:
    return UserRead(
        id=user.id,
        email=user.email,
        role=Role(user.role),
        plan=Plan(user.plan),
        status=UserStatus(user.status),
        email_verified=user.email_verified_at is not None,
        external=user.external_subject is not None,
        created_at=user.created_at,
    )


def principal_of(user: repo.User | Any, via: str) -> Principal:
    """The principal of a user (an ORM row, or any row with its `id`, `email`, `role` and `plan`)."""
    return Principal(user_id=user.id, email=user.email, role=Role(user.role), plan=Plan(user.plan), via=via)


def active_user(session: Session, user_id: uuid.UUID) -> repo.User:
    """The user if they exist and are active; UNAUTHORIZED otherwise."""
    user = repo.get_user(session, user_id)
    if user is None or user.status != UserStatus.ACTIVE:
        raise unauthorized()
    return user


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("administrators only")


def _audit_row(
    action: AuditAction,
    *,
    actor_id: uuid.UUID | None,
    target_id: uuid.UUID | None,
    client: ClientInfo,
    outcome: str,
    details: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "at": utcnow(),
        "action": str(action),
        "outcome": outcome,
        "actor_id": actor_id,
        "target_id": target_id,
        "client_address": client.address,
        "request_id": request_id_var.get(),
        "details": details or {},
    }


def audit(
    session: Session,
    action: AuditAction,
    *,
    actor_id: uuid.UUID | None,
    target_id: uuid.UUID | None,
    client: ClientInfo,
    outcome: str = "success",
    details: dict[str, Any] | None = None,
) -> None:
    """Append an audit row to the caller's unit of work."""
    session.add(
        repo.AuditEntry(
            **_audit_row(
                action, actor_id=actor_id, target_id=target_id, client=client, outcome=outcome, details=details
            )
        )
    )


def audit_failure(
    session: Session,
    env: AuthEnv,
    action: AuditAction,
    *,
    actor_id: uuid.UUID | None,
    target_id: uuid.UUID | None,
    client: ClientInfo,
    details: dict[str, Any] | None = None,
) -> None:
    """An audit row that survives the caller's rollback (a failed login raises and rolls back)."""
    row = _audit_row(action, actor_id=actor_id, target_id=target_id, client=client, outcome="failure", details=details)
    session.add(repo.AuditEntry(**row))
    persist_after_rollback(session, env, lambda s: s.add(repo.AuditEntry(**row)))


def persist_after_rollback(session: Session, env: AuthEnv, write: Callable[[Session], None]) -> None:
    """Also apply `write` in a fresh transaction if the caller's unit of work rolls back.

    Security facts established while refusing a request (a failed login, a reused refresh token) must
    be recorded although the refusal itself rolls the request's transaction back.
    """
    if not session.info.get(_LISTENING):
        event.listen(session, "after_soft_rollback", _after_rollback)
        session.info[_LISTENING] = True
    session.info.setdefault(_ROLLBACK_HOOKS, []).append((env, write))


def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is not None:
        return
    hooks = session.info.pop(_ROLLBACK_HOOKS, [])
    for env, write in hooks:
        with env.db.transaction() as fresh:
            write(fresh)
