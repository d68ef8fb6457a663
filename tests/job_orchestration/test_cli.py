"""`huice jobs ...` through typer's CliRunner on the real root app, acting with an API key."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from typer.testing import CliRunner

from huice.cli import app
from job_orchestration import service
from tests.api_server import api_server
from tests.user_auth.factories import create_user
from user_auth.config import env_of
from user_auth.service import create_api_key


@pytest.fixture
def api_url(request, test_servers, migrated, tmp_path_factory):
    """None: the CLI in-process; with the parameter "http", a real `huice serve` the CLI calls via --api."""
    if getattr(request, "param", "in-process") != "http":
        yield None
        return
    data_dir = tmp_path_factory.mktemp("jobs-http")
    with api_server(test_servers.database_url, test_servers.redis_url, data_dir, workers=0) as url:
        yield url


@pytest.fixture
def run(test_servers, migrated, tmp_path, api_url):
    runner = CliRunner()
    remote = ["--api", api_url] if api_url else []

    def invoke(api_key: str, *args: str) -> Any:
        env = {
            "HUICE_ENV": "test",
            "HUICE_DATABASE_URL": test_servers.database_url,
            "HUICE_REDIS_URL": test_servers.redis_url,
            "HUICE_DATA_DIR": str(tmp_path),
            "HUICE_CONFIG_DIR": str(tmp_path / "config"),
            "HUICE_API_KEY": api_key,
        }
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            return runner.invoke(app, [*remote, "jobs", *args, "--json"], env=env)
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)

    return invoke


def _user_with_key(container: Any, role: str = "user") -> tuple[Any, str]:
    with container.db.transaction() as session:
        principal = create_user(session, container, role=role)
        key = create_api_key(session, env_of(container), principal, name="cli").key
    return principal, key


@pytest.mark.parametrize("api_url", ["in-process", pytest.param("http", marks=pytest.mark.e2e)], indirect=True)
def test_cli_lists_shows_cancels_retries_and_follows_own_jobs(committed_container, committed_env, run):
    owner, key = _user_with_key(committed_container)
    with committed_container.db.transaction() as session:
        job = service.submit(session, committed_env, owner, kind="diag.sleep", payload={"seconds": 1})
    listed = run(key, "list", "--status", "queued")
    assert listed.exit_code == 0, listed.output
    assert [item["id"] for item in json.loads(listed.stdout)["items"]] == [str(job.id)]
    assert json.loads(run(key, "show", str(job.id)).stdout)["status"] == "queued"
    assert json.loads(run(key, "cancel", str(job.id)).stdout)["status"] == "cancelled"
    assert json.loads(run(key, "cancel", str(job.id)).stdout)["status"] == "cancelled"
    events = json.loads(run(key, "events", str(job.id)).stdout)
    assert [e["type"] for e in events] == ["submitted", "enqueued", "cancelled"]
    assert json.loads(run(key, "retry", str(job.id)).stdout)["status"] == "queued"
    conflict = run(key, "retry", str(job.id))
    assert conflict.exit_code == 5
    assert json.loads(conflict.stderr)["error"]["code"] == "CONFLICT"
    with committed_container.db.transaction() as session:
        service.cancel(session, committed_env, owner, job.id)


def test_cli_admin_commands_refuse_users_and_serve_admins(committed_container, committed_env, run):
    _, user_key = _user_with_key(committed_container)
    admin, admin_key = _user_with_key(committed_container, role="admin")
    denied = run(user_key, "stats")
    assert denied.exit_code == 4
    assert json.loads(denied.stderr) == {
        "error": {"code": "FORBIDDEN", "message": "this command needs an admin account", "details": {}}
    }
    stats = run(admin_key, "stats")
    assert stats.exit_code == 0, stats.output
    assert [q["queue"] for q in json.loads(stats.stdout)["queues"]] == ["high", "default", "low"]
    assert run(admin_key, "reap").exit_code == 0
    made = run(admin_key, "diag", "sleep", "-p", "seconds=0.1", "--priority", "low")
    assert made.exit_code == 0, made.output
    body = json.loads(made.stdout)
    assert (body["kind"], body["payload"], body["priority"], body["owner_id"]) == (
        "diag.sleep",
        {"seconds": 0.1},
        "low",
        str(admin.user_id),
    )
    with committed_container.db.transaction() as session:
        service.cancel(session, committed_env, admin, body["id"])
