"""`Idempotency-Key` on every POST: the first successful response of a key is kept per owner for 24 h.

Same key + same request → that first response again (nothing is done twice); same key + another request
→ CONFLICT. The record is claimed with `INSERT ... ON CONFLICT DO NOTHING` on the (owner, key) primary
key inside the request's transaction: a concurrent duplicate waits on the index until the first request
commits, then replays its response — so concurrent duplicates create one run. A failed request rolls
its claim back, so the key can be used again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.orm import Session

from backtest import repository as repo
from backtest.config import BacktestEnv
from backtest.domain import request_hash
from platform_core.errors import Conflict, InvalidInput
from platform_core.ids import utcnow
from user_auth.principal import Principal

M = TypeVar("M", bound=BaseModel)
HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


def _checked_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"{HEADER} must be 1..{MAX_KEY_LENGTH} characters", field=HEADER)
    return key


def answered(session: Session, env: BacktestEnv, principal: Principal, key: str | None) -> bool:
    """Whether `key` already holds an unexpired record of the caller's (read only: a use case that runs
    strategy code before claiming the key skips that work when the claim will replay)."""
    if key is None:
        return False
    row = repo.get_key(session, principal.user_id, _checked_key(key))
    return row is not None and row.created_at >= utcnow() - timedelta(hours=env.settings.idempotency_ttl_h)


def idempotent(
    session: Session,
    env: BacktestEnv,
    principal: Principal,
    key: str | None,
    *,
    scope: str,
    request: Any,
    model: type[M] | None,
    run: Callable[[], M | None],
) -> M | None:
    """Run `run()` once per (owner, key, request); replays the stored response for a repeated key."""
    if key is None:
        return run()
    key = _checked_key(key)
    fingerprint = request_hash(scope, request)
    now = utcnow()
    repo.purge_keys(session, principal.user_id, now - timedelta(hours=env.settings.idempotency_ttl_h))
    if not repo.claim_key(session, principal.user_id, key, fingerprint, now):
        return _replay(session, principal, key, fingerprint, model)
    result = run()
    row = repo.get_key(session, principal.user_id, key)
    row.response = result.model_dump(mode="json") if result is not None else None
    session.flush()
    return result


def _replay(session: Session, principal: Principal, key: str, fingerprint: str, model: type[M] | None) -> M | None:
    row = repo.get_key(session, principal.user_id, key)
    if row is None or row.request_hash != fingerprint:
        raise Conflict(
            f"this {HEADER} was already used for a different request",
            details={"field": HEADER},
        )
    if model is None or row.response is None:
        return None
    return model.model_validate(row.response)
