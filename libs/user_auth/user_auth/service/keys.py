"""API keys: created with the secret shown once, stored hashed, listed by prefix, revocable, expiring."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.orm import Session

from platform_core.errors import NotFound
from platform_core.ids import utcnow
from platform_core.pagination import Page, PageParams
from user_auth import repository as repo
from user_auth.config import AuthEnv
from user_auth.domain import (
    API_KEY_PREFIX,
    AuditAction,
    hash_secret,
    new_api_key,
    parse_api_key,
    secrets_match,
)
from user_auth.principal import Principal
from user_auth.schemas import ApiKeyCreated, ApiKeyRead
from user_auth.service._common import LOCAL, ClientInfo, active_user, audit, principal_of
from user_auth.tokens import unauthorized


def _read(row: repo.ApiKey) -> ApiKeyRead:
    now = utcnow()
    return ApiKeyRead(
        id=row.id,
        name=row.name,
        prefix=f"{API_KEY_PREFIX}{row.key_id}",
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        active=row.revoked_at is None and (row.expires_at is None or row.expires_at > now),
    )


def create_api_key(
    session: Session,
    env: AuthEnv,
    principal: Principal,
    *,
    name: str,
    expires_in_days: int | None = None,
    client: ClientInfo = LOCAL,
) -> ApiKeyCreated:
    """Create a key for the caller; the returned `key` is the only time the secret is shown."""
    active_user(session, principal.user_id)
    key_id, full_key = new_api_key()
    now = utcnow()
    row = repo.add(
        session,
        repo.ApiKey(
            user_id=principal.user_id,
            name=name.strip(),
            key_id=key_id,
            secret_hash=hash_secret(full_key),
            created_at=now,
            expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
        ),
    )
    audit(
        session,
        AuditAction.KEY_CREATED,
        actor_id=principal.user_id,
        target_id=principal.user_id,
        client=client,
        details={"key": f"{API_KEY_PREFIX}{key_id}", "name": row.name},
    )
    return ApiKeyCreated(**_read(row).model_dump(), key=full_key)


def list_api_keys(session: Session, principal: Principal, page: PageParams | None = None) -> Page[ApiKeyRead]:
    """The caller's keys, newest first (prefixes only)."""
    page = page or PageParams()
    rows, total = repo.list_api_keys(session, principal.user_id, limit=page.limit, offset=page.offset)
    return Page[ApiKeyRead](items=[_read(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


def revoke_api_key(
    session: Session, env: AuthEnv, principal: Principal, *, key: str, client: ClientInfo = LOCAL
) -> ApiKeyRead:
    """Revoke one of the caller's keys, named by id or by prefix `hk_<id>`; NOT_FOUND for anyone else's."""
    row = _find_own(session, principal, key)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit(
            session,
            AuditAction.KEY_REVOKED,
            actor_id=principal.user_id,
            target_id=principal.user_id,
            client=client,
            details={"key": f"{API_KEY_PREFIX}{row.key_id}"},
        )
    return _read(row)


def _find_own(session: Session, principal: Principal, key: str) -> repo.ApiKey:
    row: repo.ApiKey | None = None
    try:
        row = repo.get_api_key(session, principal.user_id, uuid.UUID(key))
    except ValueError:
        key_id = key.removeprefix(API_KEY_PREFIX)
        found = repo.get_api_key_by_key_id(session, key_id)
        row = found if found is not None and found.user_id == principal.user_id else None
    if row is None:
        raise NotFound("no such API key", details={"key": key[:40]})
    return row


def principal_from_api_key(session: Session, key: str) -> Principal:
    """Resolve `hk_...` to its owner; UNAUTHORIZED if malformed, wrong, revoked, expired or owner disabled."""
    key_id = parse_api_key(key)
    row = repo.get_api_key_by_key_id(session, key_id) if key_id else None
    if row is None or not secrets_match(key, row.secret_hash):
        raise unauthorized("invalid API key")
    now = utcnow()
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        raise unauthorized("API key revoked or expired")
    user = active_user(session, row.user_id)
    row.last_used_at = now
    return principal_of(user, "api_key")
