"""The composition root: settings, servers, database, Redis — built once, closed once."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from redis import Redis

from platform_core.db import Database
from platform_core.embedded import EmbeddedPostgres, EmbeddedRedis
from platform_core.settings import CoreSettings
from platform_core.storage import Storage, open_storage

log = logging.getLogger("huice")


@dataclass
class Servers:
    """The URLs in use, and the embedded servers this process started (if any)."""

    database_url: str
    redis_url: str
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None

    @property
    def embedded(self) -> list[str]:
        return [name for name, srv in (("postgres", self.postgres), ("redis", self.redis)) if srv is not None]

    def stop(self) -> None:
        for srv in (self.redis, self.postgres):
            if srv is not None:
                srv.stop()
        self.redis = self.postgres = None


def start_servers(settings: CoreSettings) -> Servers:
    """Use the configured URLs, starting an embedded server for each one that is missing."""
    data_dir = settings.resolved_data_dir
    postgres = redis = None
    database_url = settings.database_url
    redis_url = settings.redis_url
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    try:
        if database_url is None:
            postgres = EmbeddedPostgres(data_dir)
            database_url = postgres.start()
        if redis_url is None:
            redis = EmbeddedRedis(data_dir)
            redis_url = redis.start()
    except Exception:
        for srv in (redis, postgres):
            if srv is not None:
                srv.stop()
        raise
    return Servers(database_url=database_url, redis_url=redis_url, postgres=postgres, redis=redis)


@dataclass
class Container:
    """Everything a face (API, CLI, job) needs, built once per process."""

    settings: CoreSettings
    servers: Servers
    db: Database
    redis: Redis
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def storage(self) -> Storage:
        """Where bars and artifacts live (`HUICE_STORAGE_URL`, else the data directory), opened once."""
        if "storage" not in self.extras:
            self.extras["storage"] = open_storage(self.settings)
        return self.extras["storage"]

    def close(self) -> None:
        for closer in self.extras.pop("_closers", []):
            closer()
        self.redis.close()
        self.db.dispose()
        self.servers.stop()

    def child_env(self) -> dict[str, str]:
        """Environment for child processes (API, workers): the resolved server URLs, so they never embed."""
        env = dict(os.environ)
        env["HUICE_DATABASE_URL"] = self.servers.database_url
        env["HUICE_REDIS_URL"] = self.servers.redis_url
        env["HUICE_DATA_DIR"] = str(self.settings.resolved_data_dir)
        return env


def build_container(settings: CoreSettings | None = None, *, servers: Servers | None = None) -> Container:
    """Build the composition root. `servers` lets a caller (tests, `serve`) pass servers it already runs."""
    settings = settings or CoreSettings()
    servers = servers or start_servers(settings)
    db = Database.from_url(servers.database_url, pool_size=settings.db_pool_size)
    redis = Redis.from_url(servers.redis_url, health_check_interval=30, socket_timeout=30)
    container = Container(settings=settings, servers=servers, db=db, redis=redis)
    from huice.contexts import configure_contexts

    configure_contexts(container)
    return container


def start_error_tracking(container: Container, process: str) -> bool:
    """Sentry in this process when HUICE_SENTRY_DSN is set (monitoring's settings and redaction): the API
    (`app_factory`), each worker before it forks work-horses, and the maintenance loop of `serve`/`worker`."""
    import huice
    from monitoring.config import env_of
    from monitoring.errortracking import init_error_tracking

    return init_error_tracking(
        env_of(container).settings, environment=container.settings.env, release=huice.__version__, process=process
    )
