"""Fixtures of the backtest-runs tests: an end-to-end environment (own database with committed sample data,
composition root, API client), real worker processes per module that asks for them, users."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from huice.bootstrap import Container, Servers
from tests.backtest import support
from tests.databases import create_database, drop_database


@pytest.fixture(scope="session")
def bt_container(test_servers: Servers, data_dir: Path, migrated: str) -> Iterator[Container]:
    """A composition root over the backtest database (migrated, sample slice committed)."""
    from huice import migrate

    url, name = create_database(test_servers.database_url, prefix="huice_bt")
    migrate.upgrade(url)
    c = support.build_container(url, test_servers.redis_url, data_dir / "backtest")
    support.activate(c)
    support.load_sample(c)
    try:
        yield c
    finally:
        for closer in c.extras.pop("_closers", []):
            closer()
        c.redis.close()
        c.db.dispose()
        drop_database(test_servers.database_url, name)


@pytest.fixture
def bt(bt_container: Container) -> Container:
    """The backtest composition root, wired as this process's runtime for the test."""
    support.activate(bt_container)
    return bt_container


@pytest.fixture(scope="module")
def workers(bt_container: Container) -> Iterator[support.Workers]:
    """Two real `huice worker-process` children on the backtest database, stopped after the module."""
    pool = support.Workers(bt_container, 2)
    try:
        pool.wait_ready()
        yield pool
    finally:
        pool.stop()


@pytest.fixture(scope="module")
def client(bt_container: Container) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from huice.api import create_app

    with TestClient(create_app(bt_container), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def user(bt: Container) -> support.User:
    return support.new_user(bt)


@pytest.fixture
def other_user(bt: Container) -> support.User:
    return support.new_user(bt)
