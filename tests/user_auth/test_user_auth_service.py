"""Service-level rules not visible through one HTTP flow: jobs' principals, rollback-proof audit, mail
delivery over SMTP, verification resend, external linking, and secrets never logged or echoed."""

from __future__ import annotations

import json
import logging
import socketserver
import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from platform_core.errors import InvalidInput, Unauthorized
from tests.user_auth.factories import create_user
from tests.user_auth.support import bearer, mailed_token
from user_auth import repository as repo
from user_auth import service
from user_auth.config import env_of
from user_auth.domain import UserStatus
from user_auth.mail import DELIVERED_BODY, deliver_pending
from user_auth.schemas import UserAdminUpdate


def test_principal_for_user_serves_jobs_and_refuses_disabled_or_missing(session: Any, container: Any) -> None:
    principal = create_user(session, container, plan="pro")
    job_principal = service.principal_for_user(session, principal.user_id)
    assert (job_principal.user_id, job_principal.email, job_principal.plan, job_principal.via) == (
        principal.user_id,
        principal.email,
        "pro",
        "job",
    )
    admin = create_user(session, container, role="admin")
    service.update_user(
        session, env_of(container), admin, principal.user_id, UserAdminUpdate(status=UserStatus.DISABLED)
    )
    with pytest.raises(Unauthorized):
        service.principal_for_user(session, principal.user_id)
    with pytest.raises(Unauthorized):
        service.principal_for_user(session, repo.new_id())


def test_failed_login_is_audited_although_the_transaction_rolls_back(db: Any, container: Any) -> None:
    env = env_of(container)
    with db.transaction() as s:
        principal = create_user(s, container)
    with pytest.raises(Unauthorized), db.transaction() as s:
        service.login(s, env, email=principal.email, password="Wrong-Horse-99")
    with db.transaction() as s:
        rows = s.scalars(select(repo.AuditEntry).where(repo.AuditEntry.action == "login.failed")).all()
    assert [(r.target_id, r.outcome, r.details) for r in rows] == [
        (principal.user_id, "failure", {"email": principal.email, "reason": "wrong_password"})
    ]


def test_a_committed_failure_is_audited_once(db: Any, container: Any) -> None:
    env = env_of(container)
    with db.transaction() as s:
        principal = create_user(s, container)
        with pytest.raises(Unauthorized):
            service.login(s, env, email=principal.email, password="Wrong-Horse-99")
    with db.transaction() as s:
        count = len(s.scalars(select(repo.AuditEntry).where(repo.AuditEntry.action == "login.failed")).all())
    assert count == 1


def test_resending_verification_invalidates_the_previous_link(session: Any, container: Any) -> None:
    env = env_of(container)
    user = service.register(session, env, email="resend@example.com", password="Correct-Horse-9")
    first = mailed_token(session, user.email, "verify_email")
    principal = service.principal_for_user(session, user.id)
    assert service.request_verification(session, env, principal).status == "accepted"
    second = mailed_token(session, user.email, "verify_email")
    assert first != second
    with pytest.raises(InvalidInput):
        service.verify_email(session, env, token=first)
    service.verify_email(session, env, token=second)
    assert service.request_verification(session, env, principal).model_dump() == {
        "status": "verified",
        "message": "your email address is already verified",
    }


def test_logout_refuses_someone_elses_refresh_token(session: Any, container: Any) -> None:
    env = env_of(container)
    alice, bob = create_user(session, container), create_user(session, container)
    pair = service.issue_tokens(session, env, alice)
    with pytest.raises(Unauthorized) as exc:
        service.logout(session, env, bob, refresh_token=pair.refresh_token)
    assert exc.value.message == "invalid refresh token"


def test_an_external_identity_never_takes_over_a_local_account(session: Any, container: Any) -> None:
    env = env_of(container)
    local = create_user(session, container)
    secret = "external-secret-for-tests-0123456789"
    env.settings = env.settings.model_copy(update={"supabase_jwt_secret": SecretStr(secret)})
    claims = {"sub": "sb-x", "email": local.email, "aud": "authenticated", "exp": int(time.time()) + 60}
    token = jwt.encode(claims, secret, algorithm="HS256")
    with pytest.raises(Unauthorized) as exc:
        service.authenticate(session, env, token)
    assert exc.value.message == "this external identity cannot be linked to an existing account"


class _SmtpHandler(socketserver.StreamRequestHandler):
    def _reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        self._reply("220 test ESMTP")
        while line := self.rfile.readline().decode():
            verb = line.strip().split(" ")[0].upper()
            if verb == "EHLO":
                self._reply("250 test")
            elif verb == "DATA":
                self._reply("354 go ahead")
                lines = []
                while (data := self.rfile.readline().decode()) not in (".\r\n", ""):
                    lines.append(data)
                self.server.messages.append("".join(lines))  # type: ignore[attr-defined]
                self._reply("250 queued")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("250 ok")


@pytest.fixture
def smtp_server() -> Iterator[Any]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.messages = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_mail_is_sent_by_smtp_after_commit_and_its_body_blanked(db: Any, container: Any, smtp_server: Any) -> None:
    env = env_of(container)
    env.settings = env.settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": smtp_server.server_address[1], "smtp_starttls": False}
    )
    with db.transaction() as s:
        service.register(s, env, email="smtp@example.com", password="Correct-Horse-9")
    assert len(smtp_server.messages) == 1
    assert "To: smtp@example.com" in smtp_server.messages[0]
    assert "Verification token: " in smtp_server.messages[0]
    with db.transaction() as s:
        mail = s.scalars(select(repo.OutboxMail).where(repo.OutboxMail.to_address == "smtp@example.com")).one()
        assert (mail.body, mail.attempts, mail.last_error) == (DELIVERED_BODY, 1, None)
        assert mail.sent_at is not None


def test_undeliverable_mail_stays_in_the_outbox_for_a_retry(db: Any, container: Any, smtp_server: Any) -> None:
    env = env_of(container)
    port = smtp_server.server_address[1]
    env.settings = env.settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": 1, "smtp_starttls": False})
    with db.transaction() as s:
        service.register(s, env, email="later@example.com", password="Correct-Horse-9")
    with db.transaction() as s:
        mail = s.scalars(select(repo.OutboxMail).where(repo.OutboxMail.to_address == "later@example.com")).one()
        assert (mail.sent_at, mail.attempts, mail.last_error) == (None, 1, "ConnectionRefusedError")
    env.settings = env.settings.model_copy(update={"smtp_port": port})
    assert deliver_pending(env) == 1
    assert len(smtp_server.messages) == 1


def test_no_secret_is_logged_or_echoed_after_creation(
    api: Any, session: Any, container: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password, new_password = "Correct-Horse-9", "Changed-Horse-31"
    secrets: list[str] = [password, new_password]
    responses = [api.post("/api/auth/register", json={"email": "s@example.com", "password": password})]
    secrets.append(mailed_token(session, "s@example.com", "verify_email"))
    login = api.post("/api/auth/login", json={"email": "s@example.com", "password": password}).json()
    secrets += [login["access_token"], login["refresh_token"]]
    headers = bearer(login["access_token"])
    key = api.post("/api/auth/keys", json={"name": "k"}, headers=headers).json()["key"]
    secrets.append(key)
    responses.append(api.get("/api/auth/keys", headers=bearer(key)))
    responses.append(api.get("/api/auth/me", headers=headers))
    responses.append(api.post("/api/auth/password-reset/request", json={"email": "s@example.com"}))
    secrets.append(mailed_token(session, "s@example.com", "reset_password"))
    responses.append(
        api.post(
            "/api/auth/change-password",
            headers=headers,
            json={"current_password": password, "new_password": new_password},
        )
    )
    responses.append(api.post("/api/auth/login", json={"email": "s@example.com", "password": "Wrong-Horse-0"}))
    assert [r.status_code for r in responses] == [201, 200, 200, 202, 204, 401]
    session.expire_all()
    audit = json.dumps([r.details for r in session.scalars(select(repo.AuditEntry)).all()])
    user = repo.get_user_by_email(session, "s@example.com")
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in audit
        assert all(secret not in r.text for r in responses)
    assert password not in (user.password_hash or "")
    assert "password_hash" not in responses[2].text
