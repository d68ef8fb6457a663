"""The unit of work: commit on success, roll back on error, after-commit hooks only after a commit."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from platform_core.db import Database, context_metadata, make_engine, normalize_url, on_commit, redact_url


def _scratch_table(db: Database) -> None:
    with db.transaction() as s:
        s.execute(text("CREATE TEMP TABLE IF NOT EXISTS scratch (v int) ON COMMIT PRESERVE ROWS"))


def test_transaction_commits_and_runs_hooks_after(db: Database) -> None:
    _scratch_table(db)
    calls: list[str] = []
    with db.transaction() as s:
        s.execute(text("INSERT INTO scratch VALUES (1)"))
        on_commit(s, lambda: calls.append("hook"))
        assert calls == []
    assert calls == ["hook"]
    with db.transaction() as s:
        assert s.execute(text("SELECT count(*) FROM scratch")).scalar_one() == 1


def test_transaction_rolls_back_and_drops_hooks_on_error(db: Database) -> None:
    _scratch_table(db)
    calls: list[str] = []
    with pytest.raises(RuntimeError, match="boom"), db.transaction() as s:
        s.execute(text("INSERT INTO scratch VALUES (2)"))
        on_commit(s, lambda: calls.append("hook"))
        raise RuntimeError("boom")
    assert calls == []
    with db.transaction() as s:
        assert s.execute(text("SELECT count(*) FROM scratch WHERE v = 2")).scalar_one() == 0


def test_failing_hook_does_not_undo_the_commit(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    _scratch_table(db)
    seen: list[int] = []

    def bad() -> None:
        raise ValueError("hook failed")

    with db.transaction() as s:
        s.execute(text("INSERT INTO scratch VALUES (3)"))
        on_commit(s, bad)
        on_commit(s, lambda: seen.append(1))
    assert seen == [1]
    assert "after-commit hook failed" in caplog.text
    with db.transaction() as s:
        assert s.execute(text("SELECT count(*) FROM scratch WHERE v = 3")).scalar_one() == 1


def test_a_unit_committed_by_its_work_ends_without_another_transaction(db: Database) -> None:
    _scratch_table(db)
    begun: list[object] = []
    calls: list[str] = []
    with db.transaction() as s:
        s.execute(text("INSERT INTO scratch VALUES (4)"))
        on_commit(s, lambda: calls.append("hook"))
        s.commit()
        event.listen(s, "after_transaction_create", lambda session, transaction: begun.append(transaction))
    assert begun == [] and calls == ["hook"]
    with db.transaction() as s:
        assert s.execute(text("SELECT count(*) FROM scratch WHERE v = 4")).scalar_one() == 1


def test_urls_use_psycopg3_and_hide_passwords() -> None:
    assert normalize_url("postgres://u:p@h:5432/d") == "postgresql+psycopg://u:p@h:5432/d"
    assert normalize_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert "p@" not in redact_url("postgresql://u:p@h/d")
    assert "***" in redact_url("postgresql://u:p@h/d")


def test_context_metadata_has_schema_and_naming_convention() -> None:
    md = context_metadata("some_context")
    assert md.schema == "some_context"
    assert md.naming_convention["pk"] == "pk_%(table_name)s"


def test_a_pooled_connection_is_pinged_only_after_it_sat_idle(test_servers, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection checked back in moments ago is handed out as it is (no `SELECT 1` round trip before the
    request's first statement); one idle longer than `ping_after_s` is pinged first, and a dead one is
    replaced, as with `pool_pre_ping`."""
    from platform_core import db as db_module

    now = [1000.0]
    monkeypatch.setattr(db_module, "monotonic", lambda: now[0])
    engine = make_engine(test_servers.database_url, pool_size=1, ping_after_s=5.0)
    admin = make_engine(test_servers.database_url, pool_size=1)
    pings: list[object] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)

    def backend_pid() -> int:
        with engine.connect() as conn:
            return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()

    try:
        pid = backend_pid()
        assert pings == []  # a new connection
        assert backend_pid() == pid
        now[0] += 4.0
        assert backend_pid() == pid
        assert pings == []  # checked in moments ago: no round trip
        now[0] += 6.0
        assert backend_pid() == pid
        assert len(pings) == 1  # idle a while: pinged, alive
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        now[0] += 6.0
        assert backend_pid() != pid  # the ping found it dead: a fresh connection instead of an error
        assert len(pings) == 2
    finally:
        engine.dispose()
        admin.dispose()


def test_a_statement_alone_is_its_own_transaction(committed_db: Database, db: Database) -> None:
    """Over the engine: in autocommit (no BEGIN before it nor COMMIT after); over an outer connection (a
    rolled-back test): a unit of work inside it. Its first row, None when there is none."""
    modes: list[object] = []

    def seen(conn, cursor, statement, *args) -> None:
        modes.append(conn.get_execution_options().get("isolation_level"))

    event.listen(committed_db.engine, "before_cursor_execute", seen)
    try:
        row = committed_db.alone(text("SELECT :v AS v"), {"v": 7})
    finally:
        event.remove(committed_db.engine, "before_cursor_execute", seen)
    assert tuple(row) == (7,) and modes == ["AUTOCOMMIT"]
    _scratch_table(db)
    assert tuple(db.alone(text("INSERT INTO scratch VALUES (:v) RETURNING v"), {"v": 9})) == (9,)
    with db.transaction() as s:
        assert s.execute(text("SELECT count(*) FROM scratch WHERE v = 9")).scalar_one() == 1
    assert committed_db.alone(text("SELECT 1 WHERE false"), {}) is None
