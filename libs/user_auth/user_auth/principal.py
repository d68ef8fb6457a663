"""Who is calling: the `Principal` every other context receives (API, CLI, jobs), with its role and plan."""

from __future__ import annotations

import uuid
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


class Plan(StrEnum):
    FREE = "free"
    PRO = "pro"


class Principal(BaseModel):
    """An authenticated caller. `via` says how: "jwt", "api_key", "external" (Supabase/JWKS) or "cli"."""

    model_config = ConfigDict(frozen=True)

    user_id: uuid.UUID
    email: str
    role: Role
    plan: Plan
    via: str

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN
