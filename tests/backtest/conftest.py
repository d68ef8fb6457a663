"""Fixtures and shared BDD steps of the backtest tests: a composition root over the backtest's own database
(committed sample data), its API client, users, and real worker processes for the modules that ask for them.

The service's features run in two tiers: `test_backtest_service_bdd.py` (validation, tenancy, idempotency,
CLI errors) in this process without workers, `test_backtest_runs_bdd.py` (runs on workers, the CLI loop) e2e.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_bdd import given, parsers, then, when
from typer.testing import CliRunner

from huice.bootstrap import Container, Servers
from tests.backtest import support
from tests.cli_errors import cli_error


@pytest.fixture(scope="session")
def bt(test_servers: Servers, data_dir: Path, migrated: str) -> Iterator[Container]:
    """A composition root over the backtest database (migrated, sample slice committed)."""
    with support.committed_container(test_servers, data_dir / "backtest", "huice_bt", sample=True) as (c, _):
        yield c


@pytest.fixture(scope="module")
def workers(bt: Container) -> Iterator[support.Workers]:
    """Two real `huice worker-process` children on the backtest database, stopped after the module."""
    pool = support.Workers(bt, 2)
    try:
        pool.wait_ready()
        yield pool
    finally:
        pool.stop()


@pytest.fixture(scope="module")
def client(bt: Container) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from huice.api import create_app

    with TestClient(create_app(bt), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def user(bt: Container) -> support.User:
    return support.new_user(bt)


@pytest.fixture
def other_user(bt: Container) -> support.User:
    return support.new_user(bt)


# --- shared steps: users, a backtest, a run through the API --------------------------------------------


@given("a signed-in user", target_fixture="me")
def _me(user: support.User) -> support.User:
    return user


@given("another signed-in user", target_fixture="other")
def _other(other_user: support.User) -> support.User:
    return other_user


@given(parsers.parse('a backtest of the template "{template}" on three sample symbols'), target_fixture="backtest")
def _backtest(client: Any, me: support.User, template: str) -> dict[str, Any]:
    body = support.backtest_body(strategyRef={"template": template, "params": {"fast": 5, "slow": 20}})
    response = client.post("/api/backtests", json=body, headers=me.headers)
    assert response.status_code == 201, response.text
    return response.json()["backtest"]


@when(parsers.parse("the user submits a single run with fast {fast:d} and slow {slow:d}"), target_fixture="answer")
def _submit_run(client: Any, me: support.User, backtest: dict, fast: int, slow: int) -> httpx.Response:
    return support.submit(client, me, backtest, {"fast": fast, "slow": slow})


# --- shared steps: the CLI -----------------------------------------------------------------------------


@pytest.fixture
def cli_api_url() -> str | None:
    """The server the CLI scenarios talk to: None runs the CLI in-process (the modules `*_http_bdd.py`
    bind the same features to a real `huice serve` over HTTP)."""
    return None


@given("a signed-in user of the CLI", target_fixture="cli_env")
def _cli_env(bt: Container, user: support.User, tmp_path: Path, cli_api_url: str | None) -> dict[str, Any]:
    env = support.worker_env(bt)
    env["HUICE_API_KEY"] = support.api_key_for(bt, user)
    env["HUICE_CONFIG_DIR"] = str(tmp_path / "config")
    env["COLUMNS"] = "100"  # the terminal width the human tables are made for
    if cli_api_url is not None:
        env["HUICE_API_URL"] = cli_api_url
    return {"env": env, "names": {"dir": str(tmp_path)}}


@when(parsers.parse('the user runs "{command}"'), target_fixture="result")
def _cli(cli_env: dict[str, Any], command: str) -> Any:
    from huice.cli import app

    args = [part.format(**cli_env["names"]) for part in command.split()]
    return CliRunner().invoke(app, args, env=cli_env["env"])


@then(
    parsers.re(r'the command exits (?P<code>\d+) with the error code "(?P<error>[A-Z_]+)"$'), converters={"code": int}
)
def _cli_error(result: Any, code: int, error: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert cli_error(result.stderr)["code"] == error  # the envelope with --json, the readable line without


@then(parsers.parse('the command exits {code:d} with the error code "{error}" naming "{field}"'))
def _cli_error_field(result: Any, code: int, error: str, field: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    found = cli_error(result.stderr)
    assert (found["code"], found["field"]) == (error, field)


@then(parsers.parse('the command exits {code:d} with one line on stderr ending "{end}"'))
def _cli_error_line(result: Any, code: int, end: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert result.stderr.rstrip("\n").endswith(end), result.stderr
