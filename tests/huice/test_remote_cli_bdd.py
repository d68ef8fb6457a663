"""BDD: huice/features/remote_cli.feature — the root CLI (typer's CliRunner, this process) with
`--api URL` against a real `huice serve` on its own database; the CLI's environment names no database."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when
from typer.testing import CliRunner

from huice.bootstrap import Servers
from platform_core.embedded import free_port
from tests.api_server import api_server
from tests.databases import create_database, drop_database

scenarios("huice/features/remote_cli.feature")

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def _server(test_servers: Servers, migrated: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from huice import migrate

    url, name = create_database(test_servers.database_url, prefix="huice_remote")
    migrate.upgrade(url)
    try:
        with api_server(url, test_servers.redis_url, tmp_path_factory.mktemp("server"), workers=0) as api:
            yield api
    finally:
        drop_database(test_servers.database_url, name)


@given("a huice server on its own database", target_fixture="laptop")
def _laptop(_server: str, tmp_path: Path) -> dict[str, Any]:
    env = {k: None for k in os.environ if k.startswith("HUICE_")}
    env.update(HUICE_CONFIG_DIR=str(tmp_path / "config"), COLUMNS="200")
    return {"url": _server, "env": env, "config": tmp_path / "config"}


def _invoke(laptop: dict[str, Any], url: str, command: str) -> Any:
    from huice.cli import app

    return CliRunner().invoke(app, ["--api", url, *command.split()], env=laptop["env"])


@when(parsers.parse('the laptop runs "{command}"'), target_fixture="result")
def _runs(laptop: dict[str, Any], command: str) -> Any:
    return _invoke(laptop, laptop["url"], command)


@when(parsers.parse('the laptop runs "{command}" against a server that is not listening'), target_fixture="result")
def _runs_nowhere(laptop: dict[str, Any], command: str) -> Any:
    return _invoke(laptop, f"http://127.0.0.1:{free_port()}", command)


@then("the command succeeds")
def _succeeds(result: Any) -> None:
    assert result.exit_code == 0, (result.stdout, result.stderr)


@then(parsers.parse('the command succeeds with "{key}" "{value}"'))
def _succeeds_with(laptop: dict[str, Any], result: Any, key: str, value: str) -> None:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert value in result.stdout and key in result.stdout


@then(parsers.parse('the command succeeds listing the template "{name}"'))
def _lists(result: Any, name: str) -> None:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert name in result.stdout


@then("the laptop holds one session file for the server's URL, mode 0600, and no local session")
def _one_session(laptop: dict[str, Any]) -> None:
    from huice.transport import remote_session_path

    config: Path = laptop["config"]
    [session] = (config / "sessions").iterdir()
    os.environ["HUICE_CONFIG_DIR"], saved = str(config), os.environ.get("HUICE_CONFIG_DIR")
    try:
        assert session == remote_session_path(laptop["url"])
    finally:
        os.environ.pop("HUICE_CONFIG_DIR") if saved is None else os.environ.update(HUICE_CONFIG_DIR=saved)
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    stored = json.loads(session.read_text())
    assert stored["email"] == "laptop@example.com" and stored["access_token"] and stored["refresh_token"]
    assert "Correct-Horse-9" not in session.read_text()
    assert not (config / "session.json").exists()


@then(parsers.parse('the command exits {code:d} with the error code "{error}" and message "{message}"'))
def _fails_with(result: Any, code: int, error: str, message: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    envelope = json.loads(result.stderr.strip().splitlines()[-1])["error"]
    assert (envelope["code"], envelope["message"]) == (error, message)


@then(parsers.parse('the command exits {code:d} with the error code "{error}"'))
def _fails(result: Any, code: int, error: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert json.loads(result.stderr.strip().splitlines()[-1])["error"]["code"] == error
