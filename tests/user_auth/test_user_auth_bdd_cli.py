"""BDD: user_auth/features/cli.feature — `huice auth` through typer's CliRunner on the real root app.

The CLI builds its own composition root from the environment, so these scenarios point it at the test
servers and really commit (unique emails). Each actor has their own config dir.
"""

from __future__ import annotations

import json
import logging
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when
from typer.testing import CliRunner

from huice.bootstrap import Servers
from huice.cli import app
from platform_core.db import Database
from tests.user_auth.support import _TOKEN_LINE
from user_auth import repository as repo
from user_auth.config import UserAuthSettings
from user_auth.tokens import issue_access_token

scenarios("user_auth/features/cli.feature")

PASSWORD = "Correct-Horse-9"


class Cli:
    def __init__(self, servers: Servers, base: Path) -> None:
        self.servers = servers
        self.base = base
        self.emails: dict[str, str] = {}
        self.runner = CliRunner()

    def config_dir(self, actor: str) -> Path:
        return self.base / actor

    def email(self, actor: str) -> str:
        return self.emails.setdefault(actor, f"{actor}-{uuid.uuid4().hex[:10]}@example.com")

    def run(self, actor: str, args: list[str], api_key: str | None = None) -> Any:
        env = {
            "HUICE_ENV": "test",
            "HUICE_DATABASE_URL": self.servers.database_url,
            "HUICE_REDIS_URL": self.servers.redis_url,
            "HUICE_DATA_DIR": str(self.base / "data"),
            "HUICE_CONFIG_DIR": str(self.config_dir(actor)),
            "HUICE_API_KEY": api_key,
            "HUICE_AUTH_PASSWORD": None,
        }
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            if "--" in args:  # positional values after "--" (a mailed token may start with "-")
                cut = args.index("--")
                args = [*args[:cut], "--json", *args[cut:]]
            else:
                args = [*args, "--json"]
            return self.runner.invoke(app, args, env=env)
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)

    def session_file(self, actor: str) -> Path:
        return self.config_dir(actor) / "session.json"


@pytest.fixture
def cli(test_servers: Servers, migrated: str, tmp_path: Path) -> Cli:
    return Cli(test_servers, tmp_path)


def _args(cli: Cli, actor: str, command: str) -> list[str]:
    args = command.split()
    if args[1] in {"register", "login", "request-reset", "create-admin"}:
        args += ["--email", cli.email(actor)]
    return args


@given(parsers.parse('"{actor}" has a new email address'))
def new_email(cli: Cli, actor: str) -> None:
    cli.email(actor)


@given(parsers.parse('"{actor}" is logged in on the command line'))
def logged_in_cli(cli: Cli, actor: str) -> None:
    assert cli.run(actor, _args(cli, actor, f"auth register --password {PASSWORD}")).exit_code == 0
    result = cli.run(actor, _args(cli, actor, f"auth login --password {PASSWORD}"))
    assert result.exit_code == 0, result.stderr


@given(parsers.parse('"{actor}" fails to log in once on the command line'))
def fails_once(cli: Cli, actor: str) -> None:
    assert cli.run(actor, _args(cli, actor, "auth login --password Wrong-Horse-99")).exit_code == 4


@when(parsers.parse('"{actor}" runs "{command}"'), target_fixture="result")
@given(parsers.parse('"{actor}" runs "{command}"'), target_fixture="result")
def runs(cli: Cli, actor: str, command: str) -> Any:
    return cli.run(actor, _args(cli, actor, command))


@when(parsers.parse('"{actor}" runs "{command}" with HUICE_API_KEY set to the created key'), target_fixture="result")
def runs_with_key(cli: Cli, actor: str, command: str, created: dict[str, Any]) -> Any:
    return cli.run(actor, command.split(), api_key=created["key"])


def _mailed_token(cli: Cli, actor: str) -> str:
    result = cli.run(actor, ["auth", "mailbox", "--to", cli.email(actor)])
    assert result.exit_code == 0, result.stderr
    match = _TOKEN_LINE.search(json.loads(result.stdout)["items"][0]["body"])
    assert match is not None
    return match.group(1)


@when(parsers.parse('"{actor}" verifies with the token from "auth mailbox"'), target_fixture="result")
def verifies(cli: Cli, actor: str) -> Any:
    return cli.run(actor, ["auth", "verify", "--", _mailed_token(cli, actor)])  # a token may start with "-"


@when(
    parsers.parse('"{actor}" resets the password to "{password}" with the token from "auth mailbox"'),
    target_fixture="result",
)
def resets(cli: Cli, actor: str, password: str) -> Any:
    return cli.run(actor, ["auth", "reset-password", "--password", password, "--", _mailed_token(cli, actor)])


@then("the command succeeds")
def succeeds(result: Any) -> None:
    assert result.exit_code == 0, result.stderr


@then(parsers.parse('the command succeeds with "{key}" {value}'))
@then(parsers.parse('the command output has "{key}" {value}'))
def succeeds_with(result: Any, key: str, value: str) -> None:
    assert result.exit_code == 0, result.stderr
    output = json.loads(result.stdout)
    output = output.get("user", output) if key not in output else output
    assert output[key] == json.loads(value)


@then(parsers.parse('the command fails with exit code {code:d} and message "{message}"'))
def fails_with(result: Any, code: int, message: str) -> None:
    assert result.exit_code == code, result.stdout
    assert json.loads(result.stderr)["error"]["message"] == message
    assert result.stdout == ""


@then(parsers.parse('the session file of "{actor}" has mode 0600 and holds no password'))
def session_file_mode(cli: Cli, actor: str) -> None:
    path = cli.session_file(actor)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert set(data) == {"email", "user_id", "access_token", "refresh_token", "expires_at"}
    assert PASSWORD not in path.read_text()


@pytest.fixture
def created(result: Any) -> dict[str, Any]:
    return json.loads(result.stdout)


@then("the command lists the created key by prefix only")
def lists_key(result: Any, cli: Cli) -> None:
    assert result.exit_code == 0, result.stderr
    page = json.loads(result.stdout)
    assert page["total"] == 1
    assert page["items"][0]["prefix"].startswith("hk_")
    assert "key" not in page["items"][0]
    assert page["items"][0]["last_used_at"] is not None


@given(parsers.parse('the stored access token of "{actor}" has expired'), target_fixture="old_refresh")
def expire_access(cli: Cli, actor: str) -> str:
    import jwt

    from platform_core.ids import set_clock

    path = cli.session_file(actor)
    data = json.loads(path.read_text())
    claims = jwt.decode(data["access_token"], options={"verify_signature": False})
    from datetime import UTC, datetime, timedelta

    set_clock(lambda: datetime.now(UTC) - timedelta(hours=2))
    try:
        token, _ = issue_access_token(
            UserAuthSettings(), user_id=uuid.UUID(claims["sub"]), session_id=uuid.UUID(claims["sid"])
        )
    finally:
        set_clock(None)
    path.write_text(json.dumps({**data, "access_token": token}))
    return data["refresh_token"]


@then(parsers.parse('the stored refresh token of "{actor}" was rotated'))
def rotated(cli: Cli, actor: str, old_refresh: str) -> None:
    data = json.loads(cli.session_file(actor).read_text())
    assert data["refresh_token"] != old_refresh
    assert stat.S_IMODE(cli.session_file(actor).stat().st_mode) == 0o600


@when(parsers.parse('"{actor}" runs the audit for "{target}"'), target_fixture="result")
def runs_audit(cli: Cli, committed_db: Database, actor: str, target: str) -> Any:
    with committed_db.transaction() as session:
        user = repo.get_user_by_email(session, cli.email(target))
        assert user is not None
        user_id = str(user.id)
    return cli.run(actor, ["auth", "audit", "--target", user_id])


@then(parsers.parse('the audit actions are "{actions}"'))
def audit_actions(result: Any, actions: str) -> None:
    assert result.exit_code == 0, result.stderr
    assert [e["action"] for e in json.loads(result.stdout)["items"]] == actions.split(", ")


@when(
    parsers.parse('"{actor}" sets the plan of "{target}" to "{plan}" with auth admin set-plan'), target_fixture="result"
)
def set_plan(cli: Cli, actor: str, target: str, plan: str) -> Any:
    return cli.run(actor, ["auth", "admin", "set-plan", cli.email(target), plan])


@given(parsers.parse('"{actor}" is an admin logged in on the command line'))
def admin_logged_in_cli(cli: Cli, actor: str) -> None:
    args = _args(cli, actor, f"auth create-admin --password {PASSWORD}")
    assert cli.run(actor, args).exit_code == 0
    assert cli.run(actor, _args(cli, actor, f"auth login --password {PASSWORD}")).exit_code == 0


@when(parsers.parse('"{actor}" searches users for "{target}" on the command line'), target_fixture="result")
def admin_users_for(cli: Cli, actor: str, target: str) -> Any:
    return cli.run(actor, ["auth", "admin", "users", "--q", cli.email(target)])


@then(parsers.parse('the command lists exactly the account of "{target}"'))
def lists_exactly(cli: Cli, result: Any, target: str) -> None:
    assert result.exit_code == 0, result.stderr
    page = json.loads(result.stdout)
    assert [u["email"] for u in page["items"]] == [cli.email(target)]
    assert page["total"] == 1


@when(parsers.parse('"{actor}" runs auth admin {command} for "{target}" with "{value}"'), target_fixture="result")
def admin_command_with(cli: Cli, actor: str, command: str, target: str, value: str) -> Any:
    return cli.run(actor, ["auth", "admin", command, cli.email(target), value])


@when(parsers.parse('"{actor}" runs auth admin {command} for "{target}"'), target_fixture="result")
def admin_command(cli: Cli, actor: str, command: str, target: str) -> Any:
    return cli.run(actor, ["auth", "admin", command, cli.email(target)])


@when(parsers.parse('"{actor}" runs auth keys revoke with the created key\'s prefix'), target_fixture="result")
def revoke_created(cli: Cli, actor: str, created: dict[str, Any]) -> Any:
    return cli.run(actor, ["auth", "keys", "revoke", created["prefix"]])
