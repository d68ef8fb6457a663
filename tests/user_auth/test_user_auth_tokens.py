"""Access tokens (JWT HS256) and password hashing (argon2id)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from platform_core.errors import Unauthorized
from platform_core.ids import set_clock
from user_auth.config import UserAuthSettings
from user_auth.tokens import decode_access_token, hash_password, issue_access_token, verify_password

SETTINGS = UserAuthSettings(
    _env_file=None, secret_key="unit-test-secret-" + "x" * 48, argon2_time_cost=1, argon2_memory_cost=1024
)
USER = uuid.UUID("01900000-0000-7000-8000-000000000001")
SESSION = uuid.UUID("01900000-0000-7000-8000-000000000002")


def _claims() -> dict:
    token, _ = issue_access_token(SETTINGS, user_id=USER, session_id=SESSION)
    return jwt.decode(token, options={"verify_signature": False})


def test_access_token_round_trip() -> None:
    token, expires = issue_access_token(SETTINGS, user_id=USER, session_id=SESSION)
    claims = decode_access_token(SETTINGS, token)
    assert (claims.user_id, claims.session_id) == (USER, SESSION)
    assert claims.expires_at == expires.replace(microsecond=0)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_each_token_has_its_own_jti() -> None:
    assert _claims()["jti"] != _claims()["jti"]


def test_expired_token_is_unauthorized_with_bearer_challenge() -> None:
    set_clock(lambda: datetime.now(UTC) - timedelta(seconds=SETTINGS.access_ttl_seconds + 5))
    try:
        token, _ = issue_access_token(SETTINGS, user_id=USER, session_id=SESSION)
    finally:
        set_clock(None)
    with pytest.raises(Unauthorized) as exc:
        decode_access_token(SETTINGS, token)
    assert exc.value.message == "access token expired"
    assert exc.value.headers == {"WWW-Authenticate": "Bearer"}


@pytest.mark.parametrize("missing", ["sub", "sid", "jti", "exp", "aud", "iss"])
def test_tokens_missing_a_claim_are_refused(missing: str) -> None:
    claims = _claims()
    del claims[missing]
    token = jwt.encode(claims, SETTINGS.secret_key.get_secret_value(), algorithm="HS256")
    with pytest.raises(Unauthorized) as exc:
        decode_access_token(SETTINGS, token)
    assert exc.value.message == "invalid or expired credentials"


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_algorithms_are_refused_even_with_the_right_key(alg: str) -> None:
    token = jwt.encode(_claims(), SETTINGS.secret_key.get_secret_value(), algorithm=alg)
    with pytest.raises(Unauthorized):
        decode_access_token(SETTINGS, token)


def test_non_uuid_subject_is_refused() -> None:
    token = jwt.encode({**_claims(), "sub": "admin"}, SETTINGS.secret_key.get_secret_value(), algorithm="HS256")
    with pytest.raises(Unauthorized):
        decode_access_token(SETTINGS, token)


def test_passwords_are_argon2id_and_verify() -> None:
    stored = hash_password(SETTINGS, "Correct-Horse-9")
    assert stored.startswith("$argon2id$")
    assert "Correct-Horse-9" not in stored
    assert verify_password(SETTINGS, "Correct-Horse-9", stored)
    assert not verify_password(SETTINGS, "Correct-Horse-8", stored)
    assert hash_password(SETTINGS, "Correct-Horse-9") != stored


def test_verifying_without_a_stored_hash_is_false() -> None:
    assert verify_password(SETTINGS, "anything-at-all", None) is False
    assert verify_password(SETTINGS, "anything-at-all", "not-a-hash") is False
