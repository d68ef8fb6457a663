"""Database: engine factory, the `transaction()` unit of work, after-commit hooks, one schema per context.

The edges (API dependency, CLI command, RQ job) open `Database.transaction()`; services receive the
session, may `flush()`, and never commit. Work that must only happen once the data is durable (enqueue a
job, publish an event) is registered with `on_commit(session, fn)` and runs right after the commit.
A use case that runs strategy code between reading and writing calls `release(session)` in between, so no
connection is held while the code runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from time import monotonic
from typing import Any

from sqlalchemy import Connection, Executable, MetaData, Row, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

log = logging.getLogger(__name__)

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_HOOKS_KEY = "huice.after_commit"


def context_metadata(schema: str) -> MetaData:
    """The MetaData of one context: its own PostgreSQL schema and the shared naming convention."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def declarative_base(schema: str) -> type[DeclarativeBase]:
    """A declarative base bound to a context's schema (each context gets its own)."""
    metadata = context_metadata(schema)

    class Base(DeclarativeBase):
        pass

    Base.metadata = metadata
    return Base


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain `postgresql://` / `postgres://` URLs (as managed providers hand them out)."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def redact_url(url: str) -> str:
    """The URL with its password masked, for logs and `doctor`."""
    return make_url(normalize_url(url)).render_as_string(hide_password=True)


PING_AFTER_S = 1.0
_IDLE_SINCE = "huice.idle_since"


def make_engine(
    url: str, *, pool_size: int = 5, echo: bool = False, ping_after_s: float = PING_AFTER_S, **kwargs: Any
) -> Engine:
    """A SQLAlchemy engine over psycopg 3 that survives a database restart: a pooled connection that sat
    idle longer than `ping_after_s` is pinged (`SELECT 1`) before it is handed out, and replaced when dead.
    (`pool_pre_ping` pings on every checkout: a round trip more per request for connections in constant
    use, which a restart would have failed already — the pool is invalidated on the first disconnect.
    Redis's `health_check_interval` is the same idea.)"""
    engine = create_engine(
        normalize_url(url),
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        echo=echo,
        future=True,
        **kwargs,
    )
    _ping_when_idle(engine, ping_after_s)
    return engine


def _ping_when_idle(engine: Engine, after_s: float) -> None:
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)  # None: a new connection (the info goes with an invalidated one)
        if since is None or monotonic() - since <= after_s:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:  # the pool drops it and hands out another (or a new one)
            raise DisconnectionError("a pooled connection failed its ping") from exc


def on_commit(session: Session, fn: Callable[[], None]) -> None:
    """Run `fn` after the current transaction commits (never if it rolls back)."""
    session.info.setdefault(_HOOKS_KEY, []).append(fn)


def release(session: Session) -> None:
    """End the read phase of a use case that is about to wait on slow work needing no database (a confined
    strategy run): the session's transaction so far is committed — what the edge did before the use case
    (authentication) and the use case's reads; the use case itself must not have written yet — and its
    connection goes back to the pool; the session checks out a fresh one (and opens a new transaction)
    when it is used again, for the write phase. The one exception to "services never commit": a
    connection held across a run of up to tens of seconds starves the pool for everyone else."""
    session.commit()  # `session.info` (the after-commit hooks) is untouched: the edge's commit runs them


def settled(session: Session) -> bool:
    """No transaction in progress and no after-commit work waiting: ending the session's unit of work now
    (commit or rollback, hooks, close) does no I/O."""
    return session.get_transaction() is None and not session.info.get(_HOOKS_KEY)


def _committed_already(session: Session) -> bool:
    """No transaction in progress and no change waiting for one: a commit would only begin an empty
    transaction to end it (what the exit of a unit its route committed itself would pay on every read)."""
    return session.get_transaction() is None and not (session.new or session.deleted or session.dirty)


def _run_hooks(hooks: list[Callable[[], None]]) -> None:
    for hook in hooks:
        try:
            hook()
        except Exception:  # a hook failing must not undo a committed transaction
            log.exception("after-commit hook failed", extra={"hook": getattr(hook, "__qualname__", repr(hook))})


class Database:
    """Holds the engine and the session factory; hands out transactions."""

    def __init__(self, engine: Engine, *, bind: Engine | Connection | None = None) -> None:
        self.engine = engine
        self._bound = isinstance(bind, Connection)
        extra: dict[str, Any] = {}
        if isinstance(bind, Connection):
            extra["join_transaction_mode"] = "create_savepoint"
        self._sessions = sessionmaker(bind=bind or engine, expire_on_commit=False, **extra)

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 5) -> Database:
        return cls(make_engine(url, pool_size=pool_size))

    @classmethod
    def for_connection(cls, connection: Connection) -> Database:
        """Sessions joined to an outer connection's transaction with savepoints (tests roll it all back)."""
        return cls(connection.engine, bind=connection)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any error, then run after-commit hooks."""
        session = self._sessions()
        try:
            yield session
            if not _committed_already(session):
                session.commit()
            hooks = session.info.pop(_HOOKS_KEY, [])
        except BaseException:
            session.info.pop(_HOOKS_KEY, None)
            session.rollback()
            raise
        finally:
            session.close()
        _run_hooks(hooks)

    def alone(self, statement: Executable, params: dict[str, Any]) -> Row | None:
        """Run one statement as a transaction of its own and return its first row: in autocommit, so the
        statement is the only round trip (no BEGIN before it, no COMMIT after), for a write that is a single
        statement (`job_orchestration`'s progress points and heartbeats). Over an outer connection (tests
        that roll back) it runs in a unit of work of its own instead."""
        if self._bound:
            with self.transaction() as session:
                return session.execute(statement, params).first()
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            return connection.execute(statement, params).first()

    @contextmanager
    def rolled_back(self) -> Iterator[Session]:
        """A unit of work that is always rolled back, its after-commit work dropped: for statements run only
        for what they leave in this process (compiled into the engine's cache before a worker forks, by
        `job_orchestration.attempt.warm`), never for the data."""
        session = self._sessions()
        try:
            yield session
        finally:
            session.info.pop(_HOOKS_KEY, None)
            session.rollback()
            session.close()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
