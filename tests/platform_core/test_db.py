"""The unit of work: commit on success, roll back on error, after-commit hooks only after a commit."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from platform_core.db import Database, context_metadata, normalize_url, on_commit, redact_url


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


def test_urls_use_psycopg3_and_hide_passwords() -> None:
    assert normalize_url("postgres://u:p@h:5432/d") == "postgresql+psycopg://u:p@h:5432/d"
    assert normalize_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert "p@" not in redact_url("postgresql://u:p@h/d")
    assert "***" in redact_url("postgresql://u:p@h/d")


def test_context_metadata_has_schema_and_naming_convention() -> None:
    md = context_metadata("some_context")
    assert md.schema == "some_context"
    assert md.naming_convention["pk"] == "pk_%(table_name)s"
