"""Pure rules: email normalisation, password policy, secrets and API key format."""

from __future__ import annotations

import pytest

from platform_core.errors import InvalidInput
from user_auth.domain import (
    check_password_policy,
    hash_secret,
    new_api_key,
    normalize_email,
    parse_api_key,
    secrets_match,
)


def test_emails_are_normalised_to_lower_case() -> None:
    assert normalize_email("  Trader@Example.COM ") == "trader@example.com"


@pytest.mark.parametrize("raw", ["", "no-at-sign", "a@", "@b.com", "a b@c.com"])
def test_malformed_emails_are_invalid_input_on_email(raw: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        normalize_email(raw)
    assert exc.value.envelope() == {
        "error": {"code": "INVALID_INPUT", "message": "not a valid email address", "details": {"field": "email"}}
    }


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Short-1", "password must have at least 10 characters"),
        ("x" * 129, "password must have at most 128 characters"),
        ("trader@example.com", "password must not be your email address"),
        ("TRADER@example.com", "password must not be your email address"),
        ("trader", "password must have at least 10 characters"),
        ("Password123", "password is too common; choose another"),
        ("1234567890", "password is too common; choose another"),
        ("abababababab", "password is too common; choose another"),
    ],
)
def test_password_policy_refuses_weak_passwords(password: str, message: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        check_password_policy(password, "trader@example.com")
    assert exc.value.message == message
    assert exc.value.details == {"field": "password"}


def test_password_equal_to_the_local_part_of_the_email_is_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        check_password_policy("TraderJoe123", "traderjoe123@example.com")
    assert exc.value.message == "password must not be your email address"


def test_password_policy_accepts_a_good_password_and_names_the_field() -> None:
    check_password_policy("Correct-Horse-9", "trader@example.com")
    with pytest.raises(InvalidInput) as exc:
        check_password_policy("short", "t@example.com", field="new_password")
    assert exc.value.details == {"field": "new_password"}


def test_secrets_are_stored_as_sha256_and_compared_in_constant_time() -> None:
    digest = hash_secret("abc")
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert secrets_match("abc", digest)
    assert not secrets_match("abd", digest)


def test_api_keys_carry_their_listed_id() -> None:
    key_id, key = new_api_key()
    assert len(key_id) == 10
    assert key.startswith(f"hk_{key_id}_")
    assert parse_api_key(key) == key_id
    assert new_api_key()[1] != key


@pytest.mark.parametrize("value", ["hk_short_abc", "hk_ABCDEFGHIJ_" + "x" * 43, "sk_abcdefghij_" + "x" * 43, "hk_"])
def test_malformed_api_keys_have_no_id(value: str) -> None:
    assert parse_api_key(value) is None
