"""Pure rules of user_auth: email normalisation, the password policy, opaque secrets and API key format."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from enum import StrEnum

from email_validator import EmailNotValidError, validate_email

from platform_core.errors import InvalidInput

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 128
API_KEY_PREFIX = "hk_"
_KEY_ID_LENGTH = 10
_KEY_PATTERN = re.compile(r"^hk_([a-z0-9]{10})_([A-Za-z0-9_-]{20,100})$")

# The most common passwords of public breach lists that are long enough to pass the length rule.
COMMON_PASSWORDS = frozenset(
    {
        "1234567890",
        "12345678910",
        "123456789a",
        "password1",
        "password12",
        "password123",
        "password1234",
        "passw0rd123",
        "qwertyuiop",
        "qwerty1234",
        "qwerty12345",
        "qwerty123456",
        "1q2w3e4r5t",
        "1qaz2wsx3edc",
        "iloveyou123",
        "princess123",
        "sunshine123",
        "football123",
        "baseball123",
        "welcome123",
        "welcome1234",
        "abc1234567",
        "abcdefghij",
        "letmein123",
        "trustno1234",
        "administrator",
        "admin12345",
        "admin123456",
        "changeme123",
        "monkey12345",
        "dragon12345",
        "superman123",
        "1111111111",
        "0000000000",
        "9876543210",
        "aaaaaaaaaa",
        "zaq12wsxcde",
        "asdfghjkl1",
        "asdfghjkl123",
        "woaini1314",
        "woaini520",
        "a123456789",
        "aa123456789",
        "qq123456789",
        "huice123456",
        "password!1",
        "p@ssw0rd123",
        "correcthorsebatterystaple",
    }
)


class UserStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class TokenPurpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105


class AuditAction(StrEnum):
    REGISTER = "register"
    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_FAILED = "login.failed"
    LOGOUT = "logout"
    TOKEN_REUSE = "refresh.reuse_detected"  # noqa: S105
    EMAIL_VERIFIED = "email.verified"
    PASSWORD_CHANGED = "password.changed"  # noqa: S105
    PASSWORD_RESET_REQUESTED = "password.reset_requested"  # noqa: S105
    PASSWORD_RESET = "password.reset"  # noqa: S105
    KEY_CREATED = "api_key.created"
    KEY_REVOKED = "api_key.revoked"
    ROLE_CHANGED = "user.role_changed"
    PLAN_CHANGED = "user.plan_changed"
    STATUS_CHANGED = "user.status_changed"
    EXTERNAL_PROVISIONED = "user.external_provisioned"


def normalize_email(raw: str) -> str:
    """Validated, lower-cased address (no DNS lookup); INVALID_INPUT on `email` otherwise."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError:
        raise InvalidInput("not a valid email address", field="email") from None
    return result.normalized.lower()


def check_password_policy(password: str, email: str, *, field: str = "password") -> None:
    """Length 10–128, not the email (or its local part), not a well-known common password."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise InvalidInput(f"password must have at least {PASSWORD_MIN_LENGTH} characters", field=field)
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidInput(f"password must have at most {PASSWORD_MAX_LENGTH} characters", field=field)
    lowered = password.strip().lower()
    if lowered in {email.lower(), email.lower().split("@", 1)[0]}:
        raise InvalidInput("password must not be your email address", field=field)
    if lowered in COMMON_PASSWORDS or len(set(lowered)) < 4:
        raise InvalidInput("password is too common; choose another", field=field)


def new_secret() -> str:
    """An opaque, URL-safe secret (refresh, verification and reset tokens)."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """SHA-256 of a high-entropy secret: what the database stores instead of the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secrets_match(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def new_api_key() -> tuple[str, str]:
    """`(key_id, full_key)`: the full key `hk_<key_id>_<secret>` is shown once; the id is listed."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    key_id = "".join(secrets.choice(alphabet) for _ in range(_KEY_ID_LENGTH))
    return key_id, f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def parse_api_key(value: str) -> str | None:
    """The key id of a well-formed API key, else None."""
    match = _KEY_PATTERN.match(value)
    return match.group(1) if match else None


def looks_like_api_key(value: str) -> bool:
    return value.startswith(API_KEY_PREFIX)
