"""Helpers of the user_auth tests (imported by the conftest and the BDD modules)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from user_auth import repository as repo

_TOKEN_LINE = re.compile(r"(?:Verification|Reset) token: (\S+)")


@dataclass
class Login:
    email: str
    access: str
    refresh: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def mailed_token(session: Any, email: str, kind: str | None = None) -> str:
    session.expire_all()
    stmt = select(repo.OutboxMail).where(repo.OutboxMail.to_address == email)
    if kind:
        stmt = stmt.where(repo.OutboxMail.kind == kind)
    mail = session.scalars(stmt.order_by(repo.OutboxMail.created_at.desc())).first()
    assert mail is not None, f"no mail for {email}"
    match = _TOKEN_LINE.search(mail.body)
    assert match is not None
    return match.group(1)


def user_row(session: Any, email: str) -> repo.User:
    session.expire_all()
    user = repo.get_user_by_email(session, email)
    assert user is not None
    return user


def login_api(api: Any, email: str, password: str) -> Any:
    return api.post("/api/auth/login", json={"email": email, "password": password})
