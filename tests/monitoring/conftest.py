"""Fixtures of the monitoring tests: their own database, so every count in a summary is exact.

Why its own database: the summary counts every user, strategy, run and job, and other contexts' tests
commit rows to the shared test database. Here `engine` / `migrated` are overridden with a fresh migrated
database for this directory; `session`, `db`, `container` and `api` (root conftest) run on it unchanged,
rolled back after each test.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from pytest_bdd import given, parsers, then, when
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from huice.bootstrap import Servers
from monitoring.config import MonitoringSettings
from monitoring.config import env_of as monitoring_env_of
from platform_core.db import make_engine
from platform_core.ids import utcnow
from tests.databases import create_database, drop_database
from tests.monitoring import support
from tests.user_auth.factories import auth_headers, create_user
from tests.user_auth.plugin import auth_headers_for, fast_password_hashing, make_user
from user_auth import service as users
from user_auth.config import env_of as auth_env_of

__all__ = ["auth_headers_for", "fast_password_hashing", "make_user"]


@pytest.fixture(scope="session")
def monitoring_database(test_servers: Servers) -> Iterator[str]:
    from huice import migrate

    url, name = create_database(test_servers.database_url, prefix="huice_mon")
    migrate.upgrade(url)
    try:
        yield url
    finally:
        _drop(test_servers.database_url, name)


def _drop(server_url: str, name: str) -> None:
    """Drop the database; once more when the admin connection was cut mid-statement (seen on the shared
    server while other runs create and drop databases); DROP ... IF EXISTS makes the retry harmless."""
    from sqlalchemy.exc import OperationalError

    try:
        drop_database(server_url, name)
    except OperationalError:
        drop_database(server_url, name)


@pytest.fixture(scope="session")
def migrated(monitoring_database: str) -> str:
    return monitoring_database


@pytest.fixture(scope="session")
def engine(monitoring_database: str) -> Iterator[Engine]:
    eng = make_engine(monitoring_database, pool_size=5)
    yield eng
    eng.dispose()


# --- shared steps -----------------------------------------------------------------------------------


@dataclasses.dataclass
class World:
    """What a scenario built and saw."""

    admin: Any = None
    admin_headers: dict[str, str] = dataclasses.field(default_factory=dict)
    user: Any = None
    user_headers: dict[str, str] = dataclasses.field(default_factory=dict)
    response: Any = None
    summary: dict[str, Any] | None = None
    cli: Any = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@pytest.fixture
def world() -> World:
    return World()


def set_monitoring(container: Any, **settings: Any) -> None:
    """The container's monitoring env with hand-set settings (the faces over the container use it)."""
    env = monitoring_env_of(container)
    merged = {**env.settings.model_dump(), **settings}
    container.extras["monitoring"] = dataclasses.replace(env, settings=MonitoringSettings(**merged, _env_file=None))


@given(parsers.parse("an admin who signed in and {others:d} other users, {verified:d} of them verified"))
def admin_and_users(world: World, session, container, others: int, verified: int) -> None:
    world.admin = create_user(session, container, role="admin")
    session.flush()
    world.admin_headers = auth_headers(container, world.admin)  # a login session: the admin is active
    for i in range(others):
        create_user(session, container, verified=i < verified)
    session.flush()


@given("a signed-in user who is not an admin")
def plain_user(world: World, session, container) -> None:
    world.user = create_user(session, container)
    session.flush()
    world.user_headers = auth_headers(container, world.user)


@given('a strategy copied from the template "ma_cross" with 2 versions and a strategy written by hand')
def two_strategies(world: World, session) -> None:
    support.strategy(session, world.admin.user_id, name="from-template", template="ma_cross", versions=2)
    support.strategy(session, world.admin.user_id, name="by-hand", template=None, versions=1)


@given(parsers.parse("a backtest with these runs submitted {ago} ago:"))
def runs_table(world: World, session, ago: str, datatable: list[list[str]]) -> None:
    amount, unit = ago.split()
    delta = timedelta(hours=int(amount)) if unit.startswith("hour") else timedelta(days=int(amount))
    submitted = utcnow() - delta
    owner = world.admin.user_id
    backtest_id = support.backtest(session, owner, uuid.uuid4())  # a strategy id only: no strategy is counted
    header, *body = datatable
    world.extra["backtest_id"] = backtest_id
    world.extra.setdefault("run_ids", [])
    for values in body:
        row = dict(zip(header, values, strict=True))
        world.extra["run_ids"].append(
            support.run(
                session,
                owner,
                backtest_id,
                status=row["status"],
                submitted=submitted,
                wait_s=float(row["wait_s"]) if row["wait_s"] else None,
                run_s=float(row["run_s"]) if row["run_s"] else None,
            )
        )


@given("a live worker")
def a_live_worker(redis) -> None:
    support.live_worker(redis)


@given("no worker is alive")
def no_worker(redis) -> None:
    from rq import Worker

    assert Worker.count(connection=redis) == 0


@when(parsers.parse('the admin asks for the summary over "{window}"'))
def ask_summary(world: World, api, window: str) -> None:
    world.response = api.get("/api/monitor/summary", params={"window": window}, headers=world.admin_headers)
    world.summary = world.response.json() if world.response.status_code == 200 else None


@then(parsers.parse("the answer is {status:d} {code}"))
def answer_is(world: World, status: int, code: str) -> None:
    assert world.response.status_code == status, world.response.text
    assert world.response.json()["error"]["code"] == code.split()[0]


@then(parsers.parse('the answer is 422 INVALID_INPUT naming the field "{field}"'))
def invalid_field(world: World, field: str) -> None:
    assert world.response.status_code == 422, world.response.text
    error = world.response.json()["error"]
    assert error["code"] == "INVALID_INPUT"
    assert error["details"]["field"] == field


def cli_runner(container: Any, principal: Any, monkeypatch: pytest.MonkeyPatch):
    """Run `huice ...` in this process on the test's container, acting with a real API key of `principal`."""
    from huice import bootstrap
    from huice.bootstrap import Container
    from huice.cli import app
    from user_auth.service import create_api_key

    with container.db.transaction() as session:
        key = create_api_key(session, auth_env_of(container), principal, name="cli").key
    auth = auth_env_of(container)
    view = Container(
        settings=container.settings,
        servers=container.servers,
        db=container.db,
        redis=container.redis,
        extras={
            **container.extras,
            "user_auth": dataclasses.replace(
                auth, settings=auth.settings.model_copy(update={"api_key": SecretStr(key)})
            ),
        },
    )
    view.close = lambda: None  # the test owns the container
    monkeypatch.setattr(bootstrap, "build_container", lambda *a, **k: view)
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            return runner.invoke(app, list(args), env={"COLUMNS": "200"})
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)

    return invoke


def mailbox_subjects(session, email: str) -> list[str]:
    return [m.subject for m in users.mailbox(session, to=email).items]


def cli_json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@given(parsers.parse("{running:d} sweep running and {done:d} finished, and share links visited {a:d} and {b:d} times"))
def sweeps_and_shares(world: World, session, running: int, done: int, a: int, b: int) -> None:
    owner, backtest_id = world.admin.user_id, world.extra["backtest_id"]
    for status in ["running"] * running + ["succeeded"] * done:
        support.optimisation(session, owner, backtest_id, status=status)
    run_id = world.extra["run_ids"][0]
    support.share(session, owner, run_id, visits=a)
    support.share(session, owner, run_id, visits=b, revoked=True)  # a revoked link's visits still count
