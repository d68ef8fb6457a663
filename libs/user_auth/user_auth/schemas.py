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


# ------------------------------------------------------------------ plans, usage, disclaimer


class Disclaimer(BaseModel):
    """The research-use statement (中文 / English) and its version."""

    version: str
    zh: str
    en: str
    text: str = Field(description="Both languages in one line, as shown with run results.")


class PlanRead(BaseModel):
    """One plan of the catalogue: monthly quotas, per-minute rate limits by route class, features."""

    name: Plan
    title: str
    price: str = Field(description="Placeholder: no payment is taken yet.")
    quotas: dict[str, int] = Field(
        description="runs, sweep_evaluations, artifact_bytes, share_links per month; concurrent_jobs at once."
    )
    hard_quotas: list[str] = Field(description="Quotas that refuse past the limit on this plan; the others only hint.")
    rate_limits: dict[str, str] = Field(description="Route class → limit (`limits` syntax).")
    features: list[str]


class PlanCatalogue(BaseModel):
    plans: list[PlanRead]
    anonymous_rate_limit: str
    period: str = Field("month", description="Quotas reset on the first day of each month (UTC).")
    disclaimer: Disclaimer


class QuotaUsage(BaseModel):
    """One quota in the current period."""

    quota: str
    used: int
    limit: int
    remaining: int
    hard: bool
    exhausted: bool = Field(description="`used` has reached `limit` (the account ran out this period).")
    exhausted_at: datetime | None
    resets_at: datetime


class UsageRead(BaseModel):
    """The caller's usage per quota for the current period."""

    user_id: uuid.UUID
    plan: Plan
    period_start: str
    resets_at: datetime
    quotas: list[QuotaUsage]
    disclaimer_accepted_at: datetime | None


class QuotaStatus(BaseModel):
    """What `record_usage` returns: the quota after counting, and whether it is past its limit (the hint)."""

    quota: str
    used: int
    limit: int
    hard: bool
    exceeded: bool = Field(description="Past the limit: a soft quota lets the work through and hints.")
    resets_at: datetime

    def headers(self) -> dict[str, str]:
        """The `X-Quota-*` hint headers of a response that accepted work."""
        return {
            "X-Quota-Name": self.quota,
            "X-Quota-Used": str(self.used),
            "X-Quota-Limit": str(self.limit),
            "X-Quota-Reset": str(int(self.resets_at.timestamp())),
            "X-Quota-Exceeded": "true" if self.exceeded else "false",
        }


class PlanInterestCreate(BaseModel):
    plan: Plan


class PlanInterestRead(BaseModel):
    plan: Plan
    recorded: bool = Field(description="False when this user had already shown interest in this plan.")
    interested_users: int = Field(description="Users who showed interest in this plan so far.")


class DisclaimerAcceptance(BaseModel):
    version: str
    accepted: bool
    accepted_at: datetime | None
    disclaimer: Disclaimer
