"""BDD: user_auth/features/external.feature — Supabase HS256 and JWKS (ES256) tokens."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr
from pytest_bdd import given, parsers, scenarios, then, when
from sqlalchemy import func, select

from tests.user_auth.support import bearer
from user_auth import repository as repo
from user_auth.config import env_of

scenarios("user_auth/features/external.feature")

SUPABASE_SECRET = "super-secret-supabase-jwt-key-0123456789"


def supabase_claims(subject: str = "sb-123", email: str = "sb@example.com", **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": subject,
        "email": email,
        "aud": "authenticated",
        "role": "authenticated",
        "iat": now,
        "exp": now + 600,
        **extra,
    }


@given("external identity is configured with a Supabase secret")
def configure_supabase(container: Any) -> None:
    env = env_of(container)
    env.settings = env.settings.model_copy(update={"supabase_jwt_secret": SecretStr(SUPABASE_SECRET)})


@given("external identity is configured with a JWKS file", target_fixture="signing_key")
def configure_jwks(container: Any, tmp_path: Path) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "ES256", "use": "sig"}]}))
    env = env_of(container)
    env.settings = env.settings.model_copy(update={"jwks_file": path})
    return key


@when(
    parsers.parse('a Supabase token for subject "{subject}" and email "{email}" calls GET "{path}"'),
    target_fixture="response",
)
def supabase_call(api: Any, subject: str, email: str, path: str) -> Any:
    token = jwt.encode(supabase_claims(subject, email), SUPABASE_SECRET, algorithm="HS256")
    return api.get(path, headers=bearer(token))


@when(parsers.parse('a Supabase token with audience "{audience}" calls GET "{path}"'), target_fixture="response")
def supabase_wrong_audience(api: Any, audience: str, path: str) -> Any:
    token = jwt.encode(supabase_claims(aud=audience), SUPABASE_SECRET, algorithm="HS256")
    return api.get(path, headers=bearer(token))


@when(parsers.parse('a Supabase token signed with another secret calls GET "{path}"'), target_fixture="response")
def supabase_wrong_key(api: Any, path: str) -> Any:
    token = jwt.encode(supabase_claims(), "a-completely-different-secret-0000000", algorithm="HS256")
    return api.get(path, headers=bearer(token))


@when(
    parsers.parse('an ES256 token for subject "{subject}" and email "{email}" calls GET "{path}"'),
    target_fixture="response",
)
def es256_call(api: Any, signing_key: ec.EllipticCurvePrivateKey, subject: str, email: str, path: str) -> Any:
    token = jwt.encode(supabase_claims(subject, email), signing_key, algorithm="ES256", headers={"kid": "k1"})
    return api.get(path, headers=bearer(token))


@then(parsers.parse('exactly one account exists for "{email}"'))
def one_account(session: Any, response: Any, email: str) -> None:
    assert response.status_code == 200, response.text
    session.expire_all()
    count = session.scalar(select(func.count()).select_from(repo.User).where(repo.User.email == email))
    assert count == 1
