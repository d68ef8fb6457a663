"""Factories other contexts' tests use to get an authenticated user.

from tests.user_auth.factories import auth_headers, create_user

principal = create_user(session, container, role="admin", plan="pro")
api.get("/api/...", headers=auth_headers(container, principal))
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from user_auth import service
from user_auth.config import env_of
from user_auth.principal import Plan, Principal, Role

DEFAULT_PASSWORD = "Correct-Horse-9"


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def create_user(
    session: Session,
    container: Any,
    *,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
    role: str = "user",
    plan: str = "free",
    verified: bool = True,
) -> Principal:
    """A user created through the service (hashed password, audit row); a unique email when None."""
    return service.create_user(
        session,
        env_of(container),
        email=email or unique_email(),
        password=password,
        role=Role(role),
        plan=Plan(plan),
        verified=verified,
    )


def access_token(container: Any, principal: Principal) -> str:
    """A real access token for `principal`, issued by the service in its own unit of work."""
    with container.db.transaction() as session:
        return service.issue_tokens(session, env_of(container), principal).access_token


def auth_headers(container: Any, principal: Principal) -> dict[str, str]:
    """`{"Authorization": "Bearer <access token>"}` for `principal`."""
    return {"Authorization": f"Bearer {access_token(container, principal)}"}
