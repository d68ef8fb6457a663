"""What every authenticated request costs: an access token is resolved with one SQL statement (its session
and user together) and still refused the moment its session is revoked or its user disabled; the rate
limiter counts every limit of a spec in one Redis script over limits' own fixed-window keys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from limits import parse
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import event

from platform_core.errors import AppError
from tests.user_auth.factories import access_token, create_user
from user_auth import repository as repo
from user_auth import service
from user_auth.config import env_of
from user_auth.ratelimit import KEY_PREFIX, RateLimiter, _key


def _statements(session: Any) -> list[str]:
    seen: list[str] = []
    event.listen(session.connection(), "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_an_access_token_is_resolved_with_one_statement(session: Any, container: Any) -> None:
    principal = create_user(session, container, email="cost@example.com")
    token = access_token(container, principal)
    session.expunge_all()  # nothing cached in the identity map: the statements a request makes
    seen = _statements(session)
    resolved, session_id = service.authenticate(session, env_of(container), token)
    assert (resolved.user_id, resolved.email, len(seen)) == (principal.user_id, "cost@example.com", 1)
    assert "user_auth.sessions" in seen[0] and "user_auth.users" in seen[0]
    assert session_id is not None


def test_an_access_token_is_parsed_by_pyjwt_once(session: Any, container: Any, monkeypatch: Any) -> None:
    """Its audience routes it to its verifier without a decode of its own: PyJWT reads the token once, to
    verify it (its segment checks cost as much as the signature)."""
    principal = create_user(session, container, email="once@example.com")
    token = access_token(container, principal)
    loads: list[object] = []
    original = jwt.api_jws.PyJWS._load
    monkeypatch.setattr(jwt.api_jws.PyJWS, "_load", lambda self, raw: loads.append(raw) or original(self, raw))
    resolved, _ = service.authenticate(session, env_of(container), token)
    assert resolved.user_id == principal.user_id and len(loads) == 1


@pytest.mark.parametrize("credential", ["not.a.jwt", "a.b", "a.b.c.d", "x.WzFd.y", "x.%%%.y", "x.gA.y"])
def test_a_credential_without_a_readable_audience_is_refused(session: Any, container: Any, credential: str) -> None:
    with pytest.raises(AppError) as caught:
        service.authenticate(session, env_of(container), credential)
    assert caught.value.code == "UNAUTHORIZED"


def test_the_one_statement_still_refuses_a_revoked_session_and_a_disabled_user(session: Any, container: Any) -> None:
    env = env_of(container)
    principal = create_user(session, container, email="gone@example.com")
    revoked, disabled = access_token(container, principal), access_token(container, principal)
    _, revoked_session = service.authenticate(session, env, revoked)
    repo.revoke_session(session, revoked_session, reason="logout")
    session.flush()
    with pytest.raises(AppError) as caught:
        service.authenticate(session, env, revoked)
    assert caught.value.message == "session ended; log in again"
    service.authenticate(session, env, disabled)  # still valid until the user is disabled
    repo.get_user(session, principal.user_id).status = "disabled"
    session.flush()
    with pytest.raises(AppError) as caught:
        service.authenticate(session, env, disabled)
    assert caught.value.code == "UNAUTHORIZED"


@pytest.fixture
def limiter(container: Any) -> Iterator[RateLimiter]:
    limiter = RateLimiter(container.settings.redis_url)
    yield limiter
    limiter.close()


def test_the_limiter_counts_on_limits_fixed_windows(container: Any, limiter: RateLimiter) -> None:
    """The same keys and counts as limits' FixedWindowRateLimiter: hits from either are one count."""
    storage = RedisStorage(container.settings.redis_url, key_prefix=KEY_PREFIX)
    reference = FixedWindowRateLimiter(storage)
    item = parse("5/minute")
    assert reference.hit(item, "read", _key("user:a")) and reference.hit(item, "read", _key("user:a"))
    decision = limiter.hit("read", "user:a", "5/minute")
    assert decision is not None and decision.allowed
    assert (decision.window.limit, decision.window.remaining, decision.window.period_s) == (5, 2, 60)
    stats = reference.get_window_stats(item, "read", _key("user:a"))
    assert stats.remaining == 2 and abs(stats.reset_time - decision.window.reset) <= 1.5
    assert limiter.hit("read", "user:a", "5/minute").window.remaining == 1
    assert limiter.hit("read", "user:a", "5/minute").window.remaining == 0
    refused = limiter.hit("read", "user:a", "5/minute")
    assert refused is not None and not refused.allowed and refused.window.remaining == 0
    assert 1 <= refused.retry_after <= 60
    assert limiter.hit("read", "user:b", "5/minute").window.remaining == 4  # identities are separate
    storage.get_connection().close()


def test_the_window_closest_to_exhaustion_is_reported_and_a_refusal_stops_the_count(
    container: Any, limiter: RateLimiter
) -> None:
    spec = "2/second;10/minute"
    first = limiter.hit("write", "user:c", spec)
    assert first is not None and (first.window.spec, first.window.remaining) == (str(parse("2/second")), 1)
    limiter.hit("write", "user:c", spec)
    refused = limiter.hit("write", "user:c", spec)
    assert refused is not None and not refused.allowed and refused.window.spec == str(parse("2/second"))
    storage = RedisStorage(container.settings.redis_url, key_prefix=KEY_PREFIX)
    minute = FixedWindowRateLimiter(storage).get_window_stats(parse("10/minute"), "write", _key("user:c"))
    assert minute.remaining == 8  # the refused third request was not counted against the minute
    storage.get_connection().close()
