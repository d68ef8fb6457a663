"""Migrations: upgrade from empty, downgrade to base, and the models match the migrations."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from huice import migrate
from huice.contexts import all_metadata
from platform_core.db import make_engine


def _our_schemas() -> set[str]:
    return {md.schema for md in all_metadata()}


def _diff(engine) -> list:
    schemas = _our_schemas()

    def include_name(name, type_, parent_names):
        return name in schemas if type_ == "schema" else True

    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_schemas": True, "include_name": include_name, "compare_type": True}
        )
        return compare_metadata(ctx, all_metadata())


def test_upgrade_from_empty_matches_models_and_downgrades_to_base(fresh_database_url: str) -> None:
    engine = make_engine(fresh_database_url, pool_size=1)
    try:
        migrate.upgrade(fresh_database_url)
        state = migrate.migration_state(engine, fresh_database_url)
        assert state["at_head"] is True
        assert _diff(engine) == []
        inspector = inspect(engine)
        for md in all_metadata():
            assert set(inspector.get_table_names(schema=md.schema)) == {t.name for t in md.tables.values()}

        migrate.downgrade(fresh_database_url, "base")
        inspector = inspect(engine)
        existing = set(inspector.get_schema_names())
        assert not (_our_schemas() & existing), "downgrade to base must drop every context schema"
        assert migrate.current_revisions(engine) == set()

        migrate.upgrade(fresh_database_url)
        assert migrate.migration_state(engine, fresh_database_url)["at_head"] is True
    finally:
        engine.dispose()


def test_each_context_migrates_on_its_own_branch() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config("postgresql://unused/db"))
    for rev in script.walk_revisions():
        if rev.revision == "0001_platform":
            continue
        base = rev
        while base.down_revision not in (None, "0001_platform"):
            base = script.get_revision(base.down_revision)
        assert base.down_revision == "0001_platform", f"{rev.revision} must descend from 0001_platform"
        assert base.branch_labels, f"{base.revision} must carry its context's branch label"
