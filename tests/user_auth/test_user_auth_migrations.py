"""The user_auth migration branch matches the models and goes down and up cleanly."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from huice import migrate
from user_auth.repository import metadata


def _diff(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "compare_type": True,
                "include_name": lambda name, type_, _: name == "user_auth" if type_ == "schema" else True,
            },
        )
        return compare_metadata(context, metadata)


def test_branch_matches_models_and_round_trips(engine: Any, migrated: str) -> None:
    assert _diff(engine) == []
    migrate.downgrade(migrated, "user_auth@base")
    assert "user_auth" not in inspect(engine).get_schema_names()
    migrate.upgrade(migrated)
    assert _diff(engine) == []
    assert set(inspect(engine).get_table_names(schema="user_auth")) == {
        "users",
        "sessions",
        "refresh_tokens",
        "one_time_tokens",
        "api_keys",
        "audit_log",
        "mail_outbox",
        "usage",
        "plan_interest",
        "disclaimer_acceptances",
    }
