"""A reset request does the same work for a registered and an unknown address (no timing signal), while only
the registered one gets a token and a mail. The timing itself is measured by
`python -m tests.benchmarks.timing_password_reset`, not asserted here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select

from tests.user_auth.factories import create_user
from user_auth import repository as repo
from user_auth import service
from user_auth.config import env_of

_STATEMENT = re.compile(r"^\s*(SELECT|INSERT INTO|UPDATE|DELETE FROM)\s+(?:user_auth\.)?(\w+)", re.I)


@contextmanager
def statements(session: Any) -> Iterator[list[tuple[str, str]]]:
    """(verb, table) of every statement the session's connection runs inside the block."""
    seen: list[tuple[str, str]] = []
    connection = session.connection()

    def record(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        match = _STATEMENT.match(sql)
        seen.append((match.group(1).upper(), match.group(2)) if match else ("OTHER", sql.split()[0]))

    event.listen(connection, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(connection, "before_cursor_execute", record)


def _request(session: Any, container: Any, email: str) -> list[tuple[str, str]]:
    with statements(session) as seen:
        service.request_password_reset(session, env_of(container), email=email)
        session.flush()
    return seen


def test_a_reset_request_runs_the_same_statements_for_known_and_unknown_addresses(
    session: Any, container: Any, redis: Any
) -> None:
    create_user(session, container, email="known@example.com")
    session.flush()
    known = _request(session, container, "known@example.com")
    unknown = _request(session, container, "nobody@example.com")
    assert (
        known
        == unknown
        == [
            ("SELECT", "users"),
            ("UPDATE", "one_time_tokens"),
            ("INSERT INTO", "one_time_tokens"),
            ("INSERT INTO", "mail_outbox"),
            ("INSERT INTO", "audit_log"),
        ]
    )
    counts = {
        address: session.scalar(
            select(func.count()).select_from(repo.OutboxMail).where(repo.OutboxMail.to_address == address)
        )
        for address in ("known@example.com", "nobody@example.com")
    }
    assert counts == {"known@example.com": 1, "nobody@example.com": 0}
    assert session.scalar(select(func.count()).select_from(repo.OneTimeToken)) == 1
    audited = session.execute(
        select(repo.AuditEntry.target_id.is_(None), repo.AuditEntry.details)
        .where(repo.AuditEntry.action == "password.reset_requested")
        .order_by(repo.AuditEntry.at)
    ).all()
    assert [tuple(row) for row in audited] == [(False, {"account": True}), (True, {"account": False})]
