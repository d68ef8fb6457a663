"""Test harness: a real PostgreSQL and a real Redis for every run.

- PostgreSQL: `HUICE_TEST_DATABASE_URL` names a server (any database on it); each run creates a fresh
  database there, migrates it once, and drops it at the end. Without the variable an embedded server
  (pgserver) is started in a temp dir. Tests never skip for want of a server.
- Redis: `HUICE_TEST_REDIS_URL` (use a dedicated db number), else an embedded redis-server. Flushed before
  each test that asks for it.
- `session` / `db`: each test runs inside an outer transaction that is rolled back (savepoint recipe), so
  services can "commit" freely. `container` and `api` give a composition root and a TestClient over it.
- End-to-end tests that start processes use `committed_db` and unique ids instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from huice.bootstrap import Container, Servers
from platform_core.db import Database, make_engine
from platform_core.embedded import EmbeddedPostgres, EmbeddedRedis
from platform_core.settings import CoreSettings
from tests.databases import create_database, drop_database
from tests.suite_settings import SUITE_ENV

# Shared fixtures published by contexts for every context's tests (users and their credentials).
pytest_plugins = ["tests.user_auth.plugin", "tests.object_store"]


@pytest.fixture(scope="session", autouse=True)
def suite_settings() -> Iterator[None]:
    """The suite's settings (`tests/suite_settings.py`) in this process's environment."""
    saved = {k: os.environ.get(k) for k in SUITE_ENV}
    os.environ.update({k: v for k, v in SUITE_ENV.items() if saved[k] is None})
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)


@pytest.fixture(scope="session")
def test_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """A fresh database on a real PostgreSQL and a real Redis for this run."""
    server_url = os.environ.get("HUICE_TEST_DATABASE_URL")
    redis_url = os.environ.get("HUICE_TEST_REDIS_URL")
    postgres = redis = None
    embedded_dir = tmp_path_factory.mktemp("servers")
    if not server_url:
        postgres = EmbeddedPostgres(embedded_dir)
        server_url = postgres.start()
    if not redis_url:
        redis = EmbeddedRedis(embedded_dir, appendonly=False)
        redis_url = redis.start()
    database_url, name = create_database(server_url)
    try:
        yield Servers(database_url=database_url, redis_url=redis_url)
    finally:
        if postgres is None:  # an embedded server goes away whole with its temp dir
            drop_database(server_url, name)
        for srv in (redis, postgres):
            if srv is not None:
                srv.stop()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def settings(test_servers: Servers, data_dir: Path) -> CoreSettings:
    return CoreSettings(
        env="test",
        data_dir=data_dir,
        database_url=test_servers.database_url,
        redis_url=test_servers.redis_url,
        log_format="console",
        _env_file=None,
    )


@pytest.fixture(scope="session")
def migrated(test_servers: Servers) -> str:
    """The test database migrated to every head, once per run."""
    from huice import migrate

    migrate.upgrade(test_servers.database_url)
    return test_servers.database_url


@pytest.fixture(scope="session")
def engine(migrated: str) -> Iterator[Engine]:
    eng = make_engine(migrated, pool_size=5)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    outer = conn.begin()
    try:
        yield conn
    finally:
        if outer.is_active:
            outer.rollback()
        conn.close()


@pytest.fixture
def db(connection: Connection) -> Database:
    """A Database whose transactions are savepoints inside the test's rolled-back transaction."""
    return Database.for_connection(connection)


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """A session for calling services directly; everything it writes is rolled back after the test."""
    with db.transaction() as s:
        yield s


@pytest.fixture
def committed_db(migrated: str) -> Iterator[Database]:
    """A Database that really commits (end-to-end tests with other processes). Use unique ids."""
    database = Database.from_url(migrated, pool_size=2)
    yield database
    database.dispose()


@pytest.fixture
def redis(test_servers: Servers) -> Iterator[Redis]:
    client = Redis.from_url(test_servers.redis_url)
    client.flushdb()
    yield client
    client.close()


def _build_container(settings: CoreSettings, test_servers: Servers, db: Database, redis: Redis) -> Container:
    from huice.contexts import configure_contexts

    c = Container(settings=settings, servers=test_servers, db=db, redis=redis)
    configure_contexts(c)
    return c


@pytest.fixture
def container(settings: CoreSettings, test_servers: Servers, db: Database, redis: Redis) -> Iterator[Container]:
    """The composition root over the rolled-back database and the flushed Redis."""
    c = _build_container(settings, test_servers, db, redis)
    yield c
    for closer in c.extras.pop("_closers", []):
        closer()


@pytest.fixture
def committed_container(
    settings: CoreSettings, test_servers: Servers, committed_db: Database, redis: Redis
) -> Iterator[Container]:
    """The composition root over a really committing database (for tests with worker processes)."""
    c = _build_container(settings, test_servers, committed_db, redis)
    yield c
    for closer in c.extras.pop("_closers", []):
        closer()


@pytest.fixture
def api(container: Container):
    """A TestClient over the full app (every router), bound to the test's container."""
    from fastapi.testclient import TestClient

    from huice.api import create_app

    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def fresh_database_url(test_servers: Servers) -> Iterator[str]:
    """An empty database on the test server, dropped after the test (migration tests)."""
    url, name = create_database(test_servers.database_url)
    try:
        yield url
    finally:
        drop_database(test_servers.database_url, name)
