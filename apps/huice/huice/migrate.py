"""Alembic, driven from code: one environment over every context's metadata (`migrations/` at the root)."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from platform_core.db import normalize_url


def migrations_dir() -> Path:
    """`HUICE_MIGRATIONS_DIR`, else the `migrations/` folder of the checkout this package lives in."""
    configured = os.environ.get("HUICE_MIGRATIONS_DIR")
    if configured:
        return Path(configured)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "migrations"
        if (candidate / "env.py").exists():
            return candidate
    raise RuntimeError("cannot find the migrations folder; set HUICE_MIGRATIONS_DIR")


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", normalize_url(database_url).replace("%", "%%"))
    cfg.set_main_option("version_path_separator", "os")
    return cfg


def upgrade(database_url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def revision(database_url: str, message: str, *, autogenerate: bool = True, head: str | None = None) -> None:
    command.revision(alembic_config(database_url), message=message, autogenerate=autogenerate, head=head)


def head_revisions(database_url: str) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def migration_state(engine: Engine, database_url: str) -> dict[str, object]:
    """Current vs head revisions, and whether the database is at head."""
    current = current_revisions(engine)
    heads = head_revisions(database_url)
    return {"current": sorted(current), "heads": sorted(heads), "at_head": current == heads}
