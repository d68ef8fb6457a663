"""BDD: user_auth/features/admin.feature — roles, plans, admin endpoints and the audit log."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_bdd import parsers, scenarios, then, when
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from tests.user_auth.support import Login, bearer, login_api, user_row
from user_auth import repository as repo

scenarios("user_auth/features/admin.feature")


@when(parsers.parse('session "{name}" calls {method} "{path}"'), target_fixture="response")
def calls(api: Any, logins: dict[str, Login], name: str, method: str, path: str) -> Any:
    body = {"plan": "pro"} if method == "PATCH" else None
    return api.request(method, path, json=body, headers=logins[name].headers)


@when(parsers.parse('session "{name}" searches users for "{query}"'), target_fixture="response")
def searches(api: Any, logins: dict[str, Login], name: str, query: str) -> Any:
    return api.get("/api/admin/users", params={"q": query}, headers=logins[name].headers)


@then(parsers.parse('the user list is exactly "{emails}"'))
def user_list(response: Any, emails: str) -> None:
    assert response.status_code == 200, response.text
    body = response.json()
    assert [u["email"] for u in body["items"]] == emails.split(", ")
    assert body["total"] == len(emails.split(", "))


@when(parsers.parse('session "{name}" sets "{email}" to role "{role}" and plan "{plan}"'), target_fixture="response")
def sets_role_plan(
    api: Any, session: Any, logins: dict[str, Login], name: str, email: str, role: str, plan: str
) -> Any:
    user = user_row(session, email)
    return api.patch(f"/api/admin/users/{user.id}", json={"role": role, "plan": plan}, headers=logins[name].headers)


@when(parsers.parse('session "{name}" sets "{email}" to status "{status}"'), target_fixture="response")
def sets_status(api: Any, session: Any, logins: dict[str, Login], name: str, email: str, status: str) -> Any:
    user = user_row(session, email)
    return api.patch(f"/api/admin/users/{user.id}", json={"status": status}, headers=logins[name].headers)


@then(parsers.parse('the account "{email}" has role "{role}" and plan "{plan}"'))
def account_role_plan(session: Any, email: str, role: str, plan: str) -> None:
    user = user_row(session, email)
    assert (user.role, user.plan) == (role, plan)


@when(parsers.parse('session "{name}" queries the audit log for "{email}"'), target_fixture="response")
def audit_for(api: Any, session: Any, logins: dict[str, Login], name: str, email: str) -> Any:
    user = user_row(session, email)
    return api.get("/api/admin/audit", params={"target_id": str(user.id)}, headers=logins[name].headers)


@then(parsers.parse('the audit entries are, newest first, "{actions}"'))
def audit_entries(response: Any, actions: str) -> None:
    assert response.status_code == 200, response.text
    assert [e["action"] for e in response.json()["items"]] == actions.split(", ")


@then(parsers.parse('every audit entry has client address "{address}" and a request id'))
def audit_client(response: Any, address: str) -> None:
    for entry in response.json()["items"]:
        assert entry["client_address"] == address
        assert entry["request_id"] and len(entry["request_id"]) == 32
    failed = [e for e in response.json()["items"] if e["action"] == "login.failed"]
    assert failed[0]["outcome"] == "failure"
    assert failed[0]["details"] == {"email": "u@example.com", "reason": "wrong_password"}


@when(
    parsers.parse(
        'session "{name}" queries the audit log with action "{action}" and outcome "{outcome}" and limit {limit:d}'
    ),
    target_fixture="response",
)
def audit_filtered(api: Any, logins: dict[str, Login], name: str, action: str, outcome: str, limit: int) -> Any:
    params = {"action": action, "outcome": outcome, "limit": limit}
    return api.get("/api/admin/audit", params=params, headers=logins[name].headers)


@then(parsers.parse("the audit page has {count:d} item of {total:d} in total"))
def audit_page(response: Any, count: int, total: int) -> None:
    body = response.json()
    assert (len(body["items"]), body["total"], body["limit"], body["offset"]) == (count, total, count, 0)


@then("changing or deleting an audit row is refused by the database")
def audit_append_only(connection: Any) -> None:
    for statement in ("UPDATE user_auth.audit_log SET action = 'x'", "DELETE FROM user_auth.audit_log"):
        connection.execute(
            text(
                "INSERT INTO user_auth.audit_log (id, at, action, details) "
                "VALUES (gen_random_uuid(), now(), 'probe', '{}')"
            )
        )
        savepoint = connection.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(statement))
        savepoint.rollback()


@then(parsers.parse('the audit log records the created key revoked by "{admin}" because "{reason}"'))
def key_revocation_audited(session: Any, created_key: dict[str, Any], admin: str, reason: str) -> None:
    owner, actor = user_row(session, "u@example.com"), user_row(session, admin)
    revoked = repo.AuditEntry.action == "api_key.revoked"
    rows = session.scalars(select(repo.AuditEntry).where(repo.AuditEntry.target_id == owner.id, revoked)).all()
    assert [(r.actor_id, r.outcome, r.details) for r in rows] == [
        (actor.id, "success", {"key": created_key["prefix"], "reason": reason})
    ]


@then(parsers.parse('the created key is listed as revoked for "{email}"'))
def key_listed_revoked(api: Any, created_key: dict[str, Any], email: str) -> None:
    tokens = login_api(api, email, "Correct-Horse-9").json()
    listing = api.get("/api/auth/keys", headers=bearer(tokens["access_token"])).json()
    (key,) = listing["items"]
    assert (key["prefix"], key["active"]) == (created_key["prefix"], False)
    assert key["revoked_at"] is not None
