"""Create and drop throw-away databases on the test PostgreSQL server."""

from __future__ import annotations

import os
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from platform_core.db import normalize_url


def create_database(server_url: str, prefix: str = "huice_test") -> tuple[str, str]:
    """A new empty database on the server of `server_url`; returns (its URL, its name)."""
    url = make_url(normalize_url(server_url))
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False), name


def drop_database(server_url: str, name: str) -> None:
    url = make_url(normalize_url(server_url))
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
