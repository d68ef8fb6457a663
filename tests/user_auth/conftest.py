"""Fixtures and shared BDD steps of the user_auth tests (shared fixtures come from `plugin.py`).

Steps drive the real HTTP API (`api` fixture) over the rolled-back database and the flushed Redis.
Named logins ("first", "admin", ...) live in the `logins` fixture: name → tokens of that session.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from pytest_bdd import given, parsers, then, when
from sqlalchemy import select

from platform_core.ids import set_clock
from tests.user_auth.factories import create_user
from tests.user_auth.plugin import auth_headers_for, fast_password_hashing, make_user
from tests.user_auth.support import _TOKEN_LINE, Login, bearer, login_api, mailed_token, user_row
from user_auth import repository as repo
from user_auth.config import env_of
from user_auth.tokens import issue_access_token

__all__ = ["auth_headers_for", "fast_password_hashing", "make_user"]


@pytest.fixture
def logins() -> dict[str, Login]:
    return {}


@pytest.fixture
def clock() -> Iterator[Any]:
    """Pin or shift `platform_core.ids.utcnow()`; restored after the test."""

    def shift(delta: timedelta) -> None:
        set_clock(lambda: datetime.now(UTC) + delta)

    yield shift
    set_clock(None)


# ------------------------------------------------------------------ accounts


@when(parsers.parse('a visitor registers as "{email}" with password "{password}"'), target_fixture="response")
def visitor_registers(api: Any, email: str, password: str) -> Any:
    return api.post("/api/auth/register", json={"email": email, "password": password})


@given(parsers.parse('a registered user "{email}" with password "{password}"'))
def registered_user(api: Any, email: str, password: str) -> None:
    response = api.post("/api/auth/register", json={"email": email, "password": password})
    assert response.status_code == 201, response.text


@given(parsers.parse('an admin "{email}" is logged in as "{name}"'))
def admin_logged_in(api: Any, session: Any, container: Any, logins: dict[str, Login], email: str, name: str) -> None:
    create_user(session, container, email=email, role="admin")
    logged_in(api, logins, email, name)


@given(parsers.parse('"{email}" is logged in as "{name}"'))
def logged_in(api: Any, logins: dict[str, Login], email: str, name: str) -> None:
    response = login_api(api, email, "Correct-Horse-9")
    assert response.status_code == 200, response.text
    body = response.json()
    logins[name] = Login(email=email, access=body["access_token"], refresh=[body["refresh_token"]])


@then(parsers.parse("the response status is {status:d}"))
def response_status(response: Any, status: int) -> None:
    assert response.status_code == status, response.text


@then(parsers.parse('the error is {status:d} "{code}" with details field "{field_name}"'))
def error_with_field(response: Any, status: int, code: str, field_name: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["details"]["field"] == field_name


@then(parsers.parse('the error is {status:d} "{code}" with message "{message}"'))
def error_with_message(response: Any, status: int, code: str, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"] == message


@then(parsers.parse('the error message is "{message}"'))
def error_message(response: Any, message: str) -> None:
    assert response.json()["error"]["message"] == message


@then(parsers.parse('the response header "{name}" is "{value}"'))
def response_header(response: Any, name: str, value: str) -> None:
    assert response.headers[name] == value


@then(parsers.parse('the response shows account "{email}" with role "{role}", plan "{plan}", {state}'))
def response_shows_account(response: Any, email: str, role: str, plan: str, state: str) -> None:
    body = response.json()
    assert (body["email"], body["role"], body["plan"], body["status"]) == (email, role, plan, "active")
    assert body["email_verified"] is (state == "verified")
    assert set(body) == {"id", "email", "role", "plan", "status", "email_verified", "external", "created_at"}


@then(parsers.parse('the dev mailbox holds {count:d} "{kind}" mail for "{email}"'))
def mailbox_holds(session: Any, count: int, kind: str, email: str) -> None:
    session.expire_all()
    rows = session.scalars(
        select(repo.OutboxMail).where(repo.OutboxMail.to_address == email, repo.OutboxMail.kind == kind)
    ).all()
    assert len(rows) == count
    for row in rows:
        assert row.sent_at is None
        assert _TOKEN_LINE.search(row.body) is not None


@then(parsers.parse('the response does not contain the mailed token for "{email}"'))
def response_has_no_token(response: Any, session: Any, email: str) -> None:
    token = mailed_token(session, email)
    assert token not in response.text
    assert all(token not in v for v in response.headers.values())


@when(parsers.parse('the visitor verifies with the token mailed to "{email}"'), target_fixture="response")
def verify_with_mailed_token(api: Any, session: Any, email: str) -> Any:
    return api.post("/api/auth/verify-email", json={"token": mailed_token(session, email, "verify_email")})


@then(parsers.parse('the account "{email}" is verified'))
def account_verified(session: Any, email: str) -> None:
    assert user_row(session, email).email_verified_at is not None


@when(parsers.parse('"{email}" logs in with password "{password}"'), target_fixture="response")
def logs_in(api: Any, email: str, password: str) -> Any:
    return login_api(api, email, password)


@then(parsers.parse('the response holds an access token for "{audience}" and a refresh token'))
def holds_tokens(response: Any, audience: str) -> None:
    body = response.json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["aud"] == audience
    assert claims["iss"] == "huice"
    assert set(claims) == {"iss", "aud", "iat", "nbf", "exp", "sub", "jti", "sid"}
    assert claims["sub"] == body["user"]["id"]
    assert claims["exp"] - claims["iat"] == 900
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert len(body["refresh_token"]) >= 40


@then(parsers.parse('with that access token GET "{path}" shows "{email}"'))
def that_token_shows(api: Any, response: Any, path: str, email: str) -> None:
    me = api.get(path, headers=bearer(response.json()["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["email"] == email


@when(parsers.parse('an anonymous visitor GETs "{path}"'), target_fixture="response")
def anonymous_get(api: Any, path: str) -> Any:
    return api.get(path)


@then(parsers.parse('"{email}" can log in with password "{password}"'))
def can_log_in(api: Any, email: str, password: str) -> None:
    response = login_api(api, email, password)
    assert response.status_code == 200, response.text


@then(parsers.parse('"{email}" cannot log in with password "{password}"'))
def cannot_log_in(api: Any, email: str, password: str) -> None:
    response = login_api(api, email, password)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "invalid email or password"


@given(parsers.parse('"{email}" fails to log in with password "{password}"'))
def fails_to_log_in(api: Any, email: str, password: str) -> None:
    assert login_api(api, email, password).status_code == 401


# ------------------------------------------------------------------ sessions


@when(parsers.parse('session "{name}" is refreshed'), target_fixture="response")
def refresh_session(api: Any, logins: dict[str, Login], name: str) -> Any:
    login = logins[name]
    response = api.post("/api/auth/refresh", json={"refresh_token": login.refresh[-1]})
    if response.status_code == 200:
        login.access = response.json()["access_token"]
        login.refresh.append(response.json()["refresh_token"])
    return response


@then("the new refresh token differs from the old one")
def refresh_differs(response: Any, logins: dict[str, Login]) -> None:
    (login,) = logins.values()
    assert len(login.refresh) == 2
    assert login.refresh[0] != login.refresh[1]


@when(parsers.parse('the old refresh token of session "{name}" is presented again'), target_fixture="response")
def present_old_refresh(api: Any, logins: dict[str, Login], name: str) -> Any:
    return api.post("/api/auth/refresh", json={"refresh_token": logins[name].refresh[-2]})


@then(parsers.parse('the newest refresh token of session "{name}" is refused'))
@then(parsers.parse('the refresh token of session "{name}" is refused'))
def newest_refresh_refused(api: Any, logins: dict[str, Login], name: str) -> None:
    response = api.post("/api/auth/refresh", json={"refresh_token": logins[name].refresh[-1]})
    assert response.status_code == 401
    assert response.json()["error"] == {"code": "UNAUTHORIZED", "message": "invalid refresh token", "details": {}}


@then(parsers.parse('the access token of session "{name}" is refused'))
def access_refused(api: Any, logins: dict[str, Login], name: str) -> None:
    response = api.get("/api/auth/me", headers=logins[name].headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    assert response.json()["error"]["message"] in {"session ended; log in again", "invalid or expired credentials"}


@then(parsers.parse('the audit log has a "{action}" {outcome} for "{email}"'))
def audit_has(session: Any, action: str, outcome: str, email: str) -> None:
    user = user_row(session, email)
    rows = session.scalars(
        select(repo.AuditEntry).where(repo.AuditEntry.target_id == user.id, repo.AuditEntry.action == action)
    ).all()
    assert [r.outcome for r in rows] == [outcome]


@when(parsers.parse('session "{name}" logs out'), target_fixture="response")
def logs_out(api: Any, logins: dict[str, Login], name: str) -> Any:
    return api.post("/api/auth/logout", headers=logins[name].headers)


@when(parsers.parse('session "{name}" changes the password from "{old}" to "{new}"'), target_fixture="response")
def changes_password(api: Any, logins: dict[str, Login], name: str, old: str, new: str) -> Any:
    return api.post(
        "/api/auth/change-password",
        json={"current_password": old, "new_password": new},
        headers=logins[name].headers,
    )


@then(parsers.parse('with session "{name}" GET "{path}" shows "{email}"'))
def session_shows(api: Any, logins: dict[str, Login], name: str, path: str, email: str) -> None:
    response = api.get(path, headers=logins[name].headers)
    assert response.status_code == 200, response.text
    assert response.json()["email"] == email


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged_token(kind: str, valid: str, container: Any, clock: Any) -> str:
    claims = jwt.decode(valid, options={"verify_signature": False})
    key = env_of(container).settings.secret_key.get_secret_value()
    if kind == "expired":
        clock(timedelta(hours=-1))
        token, _ = issue_access_token(
            env_of(container).settings, user_id=uuid.UUID(claims["sub"]), session_id=uuid.UUID(claims["sid"])
        )
        clock(timedelta(0))
        return token
    if kind == "tampered":
        header, _, signature = valid.split(".")
        return f"{header}.{_b64({**claims, 'sub': str(uuid.uuid4())})}.{signature}"
    if kind == "wrong-audience":
        return jwt.encode({**claims, "aud": "someone-else"}, key, algorithm="HS256")
    if kind == "wrong-issuer":
        return jwt.encode({**claims, "iss": "evil"}, key, algorithm="HS256")
    if kind == "alg-none":
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    if kind == "wrong-key":
        return jwt.encode(claims, "another-secret-of-thirty-two-chars!!", algorithm="HS256")
    return "not.a.jwt"


@when(parsers.parse('a request presents a {kind} access token for "{email}"'), target_fixture="response")
def presents_forged(api: Any, container: Any, clock: Any, logins: dict[str, Login], kind: str, email: str) -> Any:
    (login,) = [v for v in logins.values() if v.email == email]
    return api.get("/api/auth/me", headers=bearer(forged_token(kind, login.access, container, clock)))


# ------------------------------------------------------------------ recovery


@when(parsers.parse('a reset is requested for "{email}"'), target_fixture="response")
def reset_requested(api: Any, email: str) -> Any:
    return api.post("/api/auth/password-reset/request", json={"email": email})


@when(parsers.parse('a reset is requested for "{email}" {times:d} times'))
def reset_requested_times(api: Any, email: str, times: int) -> None:
    for _ in range(times):
        assert reset_requested(api, email).status_code == 202


@when(parsers.parse('a reset was requested for "{email}" {minutes:d} minutes ago'))
def reset_requested_earlier(api: Any, clock: Any, email: str, minutes: int) -> None:
    clock(timedelta(minutes=-minutes))
    assert reset_requested(api, email).status_code == 202
    clock(timedelta(0))


@when(parsers.parse('resets are requested for "{known}" and "{unknown}"'), target_fixture="reset_answers")
def resets_requested(api: Any, known: str, unknown: str) -> list[Any]:
    return [reset_requested(api, known), reset_requested(api, unknown)]


@then("both reset answers are identical")
def reset_answers_identical(reset_answers: list[Any]) -> None:
    first, second = reset_answers
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert first.json() == {
        "status": "accepted",
        "message": "if an account exists for this address, a reset link has been sent to it",
    }


@when(
    parsers.parse('the password is reset to "{password}" with the token mailed to "{email}"'),
    target_fixture="response",
)
def reset_with_token(api: Any, session: Any, password: str, email: str) -> Any:
    token = mailed_token(session, email, "reset_password")
    return api.post("/api/auth/password-reset", json={"token": token, "new_password": password})


# ------------------------------------------------------------------ API keys


@given(parsers.parse('session "{name}" created an API key named "{key_name}"'), target_fixture="created_key")
@when(parsers.parse('session "{name}" creates an API key named "{key_name}"'), target_fixture="created_key")
def creates_key(api: Any, logins: dict[str, Login], name: str, key_name: str) -> dict[str, Any]:
    response = api.post("/api/auth/keys", json={"name": key_name}, headers=logins[name].headers)
    assert response.status_code == 201, response.text
    return response.json()


@given(
    parsers.parse('session "{name}" created an API key named "{key_name}" expiring in {days:d} days'),
    target_fixture="created_key",
)
def creates_expiring_key(api: Any, logins: dict[str, Login], name: str, key_name: str, days: int) -> dict[str, Any]:
    response = api.post(
        "/api/auth/keys", json={"name": key_name, "expires_in_days": days}, headers=logins[name].headers
    )
    assert response.status_code == 201, response.text
    return response.json()


@then("the created key starts with its listed prefix")
def key_has_prefix(created_key: dict[str, Any]) -> None:
    assert re.fullmatch(r"hk_[a-z0-9]{10}", created_key["prefix"])
    assert created_key["key"].startswith(created_key["prefix"] + "_")
    assert created_key["active"] is True
    assert created_key["last_used_at"] is None


@then(parsers.parse('listing keys with session "{name}" shows the prefix and no secret'))
def keys_listed(api: Any, logins: dict[str, Login], created_key: dict[str, Any], name: str) -> None:
    response = api.get("/api/auth/keys", headers=logins[name].headers)
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 1
    assert [k["prefix"] for k in body["items"]] == [created_key["prefix"]]
    assert "key" not in body["items"][0]
    assert created_key["key"] not in response.text


@then(parsers.parse('with the created key GET "{path}" shows "{email}"'))
def key_shows(api: Any, created_key: dict[str, Any], path: str, email: str) -> None:
    response = api.get(path, headers=bearer(created_key["key"]))
    assert response.status_code == 200, response.text
    assert response.json()["email"] == email


@then("the key's last use is recorded")
def key_last_use(session: Any, created_key: dict[str, Any]) -> None:
    session.expire_all()
    row = session.get(repo.ApiKey, uuid.UUID(created_key["id"]))
    assert row.last_used_at is not None


@when(parsers.parse('session "{name}" revokes the created key'), target_fixture="response")
def revokes_key(api: Any, logins: dict[str, Login], created_key: dict[str, Any], name: str) -> Any:
    return api.delete(f"/api/auth/keys/{created_key['prefix']}", headers=logins[name].headers)


@then("the created key is refused")
def key_refused(api: Any, created_key: dict[str, Any]) -> None:
    response = api.get("/api/auth/me", headers=bearer(created_key["key"]))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    assert response.headers["WWW-Authenticate"] == "Bearer"


@when(parsers.parse("{days:d} days have passed"))
def days_pass(clock: Any, days: int) -> None:
    clock(timedelta(days=days))


@then("a key with the same prefix and a different secret is refused")
def forged_key_refused(api: Any, created_key: dict[str, Any]) -> None:
    forged = created_key["prefix"] + "_" + "A" * 43
    response = api.get("/api/auth/me", headers=bearer(forged))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "invalid API key"
