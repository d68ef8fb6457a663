"""Pydantic in/out models of user_auth: what its API, CLI and other contexts see."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from user_auth.domain import UserStatus
from user_auth.principal import Plan, Role


class Credentials(BaseModel):
    """Email and password (register, login)."""

    email: str = Field(max_length=320, examples=["trader@example.com"])
    password: str = Field(max_length=1024)


class UserRead(BaseModel):
    """A user as shown to themselves and to admins (never a password or token)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    role: Role
    plan: Plan
    status: UserStatus
    email_verified: bool
    external: bool
    created_at: datetime


class TokenPair(BaseModel):
    """What a login or refresh returns. The refresh token is opaque and single use."""

    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105
    expires_in: int
    expires_at: datetime
    user: UserRead


class RefreshRequest(BaseModel):
    refresh_token: str = Field(max_length=512)


class LogoutRequest(BaseModel):
    refresh_token: str | None = Field(None, max_length=512, description="Ends that session (default: the caller's).")


class VerifyEmailRequest(BaseModel):
    token: str = Field(max_length=512)


class ResetRequest(BaseModel):
    email: str = Field(max_length=320)


class ResetPassword(BaseModel):
    token: str = Field(max_length=512)
    new_password: str = Field(max_length=1024)


class ChangePassword(BaseModel):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class Accepted(BaseModel):
    """The same answer whatever happened (never reveals whether an email is registered)."""

    status: str = "accepted"
    message: str


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(None, ge=1, le=3650, description="Omit for a key that never expires.")


class ApiKeyRead(BaseModel):
    """An API key as listed: its prefix (`hk_<id>`), never its secret."""

    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    active: bool


class ApiKeyCreated(ApiKeyRead):
    """The one response that contains the full key: store it now, it is not shown again."""

    key: str


class UserAdminUpdate(BaseModel):
    """Change any of role, plan, status (admins)."""

    role: Role | None = None
    plan: Plan | None = None
    status: UserStatus | None = None


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    at: datetime
    action: str
    outcome: str
    actor_id: uuid.UUID | None
    target_id: uuid.UUID | None
    client_address: str | None
    request_id: str | None
    details: dict[str, Any]


class MailRead(BaseModel):
    """A message of the outbox / dev mailbox."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    to_address: str
    subject: str
    body: str
    kind: str
    created_at: datetime
    sent_at: datetime | None


class UserCounts(BaseModel):
    """Operations figures of the accounts (monitoring): active = signed in, refreshed or used an API key."""

    total: int
    verified: int
    active_1d: int
    active_7d: int
    active_30d: int
