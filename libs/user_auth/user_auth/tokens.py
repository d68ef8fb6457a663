"""Access tokens (JWT, HS256 with the platform secret) and password hashing (argon2id via pwdlib).

Access tokens carry `iss`, `aud`, `exp`, `iat`, `sub` (user id), `jti` and `sid` (the session family, so a
logout or password change ends them at once). Anything wrong with a token — signature, algorithm
(including `none`), audience, issuer, expiry, missing claims — is the same UNAUTHORIZED.
"""

from __future__ import annotations

import base64
import functools
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from platform_core.errors import Unauthorized
from platform_core.ids import utcnow
from user_auth.config import UserAuthSettings

BEARER = {"WWW-Authenticate": "Bearer"}
_REQUIRED = ["iss", "aud", "exp", "iat", "sub", "jti", "sid"]


def unauthorized(message: str = "invalid or expired credentials") -> Unauthorized:
    return Unauthorized(message, headers=dict(BEARER))


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    jti: str
    expires_at: datetime


def issue_access_token(
    settings: UserAuthSettings, *, user_id: uuid.UUID, session_id: uuid.UUID
) -> tuple[str, datetime]:
    now = utcnow()
    expires = now + timedelta(seconds=settings.access_ttl_seconds)
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()) - 5,
        "exp": int(expires.timestamp()),
        "sub": str(user_id),
        "jti": uuid.uuid4().hex,
        "sid": str(session_id),
    }
    token = jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm="HS256")
    return token, expires


def decode_access_token(settings: UserAuthSettings, token: str) -> AccessClaims:
    """Verify signature (HS256 only), issuer, audience and expiry; UNAUTHORIZED otherwise."""
    try:
        claims = jwt.decode(
            token,
            settings.secret_key.get_secret_value(),
            algorithms=["HS256"],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": _REQUIRED},
            leeway=0,
        )
        return AccessClaims(
            user_id=uuid.UUID(claims["sub"]),
            session_id=uuid.UUID(claims["sid"]),
            jti=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(claims["exp"], tz=utcnow().tzinfo),
        )
    except jwt.ExpiredSignatureError:
        raise unauthorized("access token expired") from None
    except (jwt.PyJWTError, ValueError, TypeError):
        raise unauthorized() from None


def unverified_audience(token: str) -> Any:
    """The `aud` claim without verification — only to route a token to its verifier, which then checks the
    whole token (this claim included). Read from the payload segment alone: PyJWT's unverified decode checks
    every segment character by character in Python, two thirds of what its verifying decode costs, and every
    authenticated request pays both."""
    try:
        _, payload, _ = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, RecursionError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise unauthorized() from None
    if not isinstance(claims, dict):
        raise unauthorized()
    return claims.get("aud")


@dataclass(frozen=True)
class ExternalIdentity:
    subject: str
    email: str


@functools.lru_cache(maxsize=4)
def _jwks(path: str, mtime: float) -> jwt.PyJWKSet:
    return jwt.PyJWKSet.from_dict(json.loads(Path(path).read_text()))


def decode_external_token(settings: UserAuthSettings, token: str) -> ExternalIdentity:
    """Verify a Supabase-style token: HS256 with the Supabase secret, or ES256/RS256 with a JWKS key."""
    try:
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if alg == "HS256" and settings.supabase_jwt_secret is not None:
            key: Any = settings.supabase_jwt_secret.get_secret_value()
        elif alg in {"ES256", "RS256"} and settings.jwks_file is not None:
            path = settings.jwks_file
            keys = _jwks(str(path), path.stat().st_mtime)
            kid = header.get("kid")
            matching = [k for k in keys.keys if kid is None or k.key_id == kid]
            if not matching:
                raise unauthorized()
            key = matching[0].key
        else:
            raise unauthorized()
        options: dict[str, Any] = {"require": ["exp", "sub", "aud"]}
        claims = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=settings.external_audience,
            issuer=settings.external_issuer,
            options=options,
        )
    except jwt.ExpiredSignatureError:
        raise unauthorized("access token expired") from None
    except (jwt.PyJWTError, OSError, ValueError, TypeError):
        raise unauthorized() from None
    email = claims.get("email")
    if not isinstance(email, str) or not email or not str(claims["sub"]):
        raise unauthorized("external token has no email")
    return ExternalIdentity(subject=str(claims["sub"]), email=email)


@functools.lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_cost: int) -> PasswordHash:
    return PasswordHash((Argon2Hasher(time_cost=time_cost, memory_cost=memory_cost),))


def hash_password(settings: UserAuthSettings, password: str) -> str:
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_cost).hash(password)


def verify_password(settings: UserAuthSettings, password: str, stored: str | None) -> bool:
    """Constant-work check: with no stored hash a dummy hash is verified so timing reveals nothing."""
    hasher = _hasher(settings.argon2_time_cost, settings.argon2_memory_cost)
    if stored is None:
        hasher.verify(password, _dummy_hash(settings.argon2_time_cost, settings.argon2_memory_cost))
        return False
    try:
        return hasher.verify(password, stored)
    except Exception:
        return False


@functools.lru_cache(maxsize=8)
def _dummy_hash(time_cost: int, memory_cost: int) -> str:
    return _hasher(time_cost, memory_cost).hash("not-a-real-password-0")
