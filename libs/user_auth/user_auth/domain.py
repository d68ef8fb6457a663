"""Pure rules of user_auth: email normalisation, the password policy, opaque secrets and API key format."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, date, datetime
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


# ------------------------------------------------------------------ plans, quotas, rate limits, disclaimer

DISCLAIMER_VERSION = "2026-12"
DISCLAIMER_ZH = "研究用途，不构成投资建议。回测结果不代表未来收益。"
DISCLAIMER_EN = "Research use only, not investment advice. Backtest results do not predict future returns."
DISCLAIMER = f"{DISCLAIMER_ZH} / {DISCLAIMER_EN}"
DISCLAIMER_ROUTE = "POST /api/me/disclaimer"


class Quota(StrEnum):
    """What a plan allows per calendar month (UTC), counted when the work is accepted; `concurrent_jobs`
    is a ceiling, not a monthly count (job_orchestration enforces its own per-owner concurrency)."""

    RUNS = "runs"
    SWEEP_EVALUATIONS = "sweep_evaluations"
    ARTIFACT_BYTES = "artifact_bytes"
    SHARE_LINKS = "share_links"
    CONCURRENT_JOBS = "concurrent_jobs"


COUNTED_QUOTAS = (Quota.RUNS, Quota.SWEEP_EVALUATIONS, Quota.ARTIFACT_BYTES, Quota.SHARE_LINKS)


class RouteClass(StrEnum):
    """How a route is rate-limited: reads, writes, run/sweep submissions, downloads (per principal), or
    anonymous (per client address)."""

    READ = "read"
    WRITE = "write"
    SUBMIT = "submit"
    DOWNLOAD = "download"
    ANONYMOUS = "anonymous"


RATE_CLASS_KEY = "x-rate-limit-class"
_DOWNLOAD_PATH = re.compile(r"/artifacts(/|$)|/export$|/report$|/download$")
_SUBMIT_PATH = re.compile(r"/runs$|:rerun$|/sweeps?$|/sweeps/[^/]+/(runs|evaluations)$|:submit$")


def route_class(method: str, path: str, declared: str | None = None) -> RouteClass:
    """The class of an authenticated route: the one it declares (`openapi_extra={"x-rate-limit-class": ...}`),
    else GET/HEAD on an artifact/export/report/download path = download, other GET/HEAD = read, POST on a
    runs/rerun/sweeps path = submit, any other method = write."""
    if declared:
        return RouteClass(declared)
    if method in ("GET", "HEAD", "OPTIONS"):
        return RouteClass.DOWNLOAD if _DOWNLOAD_PATH.search(path) else RouteClass.READ
    if method == "POST" and _SUBMIT_PATH.search(path):
        return RouteClass.SUBMIT
    return RouteClass.WRITE


def month_period(now: datetime) -> tuple[date, datetime]:
    """The usage period containing `now` (UTC): its first day and the instant it resets (next month)."""
    start = date(now.year, now.month, 1)
    nxt = date(now.year + (now.month == 12), now.month % 12 + 1, 1)
    return start, datetime(nxt.year, nxt.month, nxt.day, tzinfo=UTC)


def parse_hard_quotas(spec: str) -> set[tuple[str, str]]:
    """`"free:runs,free:share_links"` or `"free:*"` → {(plan, quota)} ("*" = every quota of the plan)."""
    pairs: set[tuple[str, str]] = set()
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        plan, _, quota = item.partition(":")
        quotas = [q.value for q in COUNTED_QUOTAS] if quota.strip() in ("", "*") else [quota.strip()]
        for name in quotas:
            if name not in {q.value for q in COUNTED_QUOTAS}:
                raise ValueError(f"unknown quota {name!r} in HUICE_AUTH_HARD_QUOTAS")
            pairs.add((plan.strip().lower(), name))
    return pairs
