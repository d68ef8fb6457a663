"""BDD over HTTP: user_auth/features/cli.feature again, the user commands calling a real `huice serve` with
`--api URL` (the login kept per server URL); the operator commands of the feature (`mailbox`,
`create-admin`) run on the server host, without `--api`, as they would in production."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import scenarios

from huice.bootstrap import Servers
from huice.transport import remote_session_path
from tests.api_server import api_server
from tests.user_auth import test_user_auth_bdd_cli as _local

pytestmark = [pytest.mark.e2e]

globals().update({k: v for k, v in vars(_local).items() if k.startswith("pytestbdd_")})
created = _local.created  # a plain fixture of the in-process module the steps use

scenarios("user_auth/features/cli.feature")

OPERATOR = {"mailbox", "mail-deliver", "create-admin"}


class HttpCli(_local.Cli):
    def __init__(self, servers: Servers, base: Path, url: str) -> None:
        super().__init__(servers, base)
        self.url = url

    def run(self, actor: str, args: list[str], api_key: str | None = None) -> Any:
        remote = [] if args[1] in OPERATOR else ["--api", self.url]
        return super().run(actor, [*remote, *args], api_key)

    def session_file(self, actor: str) -> Path:
        return remote_session_path(self.url, self.config_dir(actor))


@pytest.fixture(scope="module")
def _server(test_servers: Servers, migrated: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("auth-http")
    with api_server(test_servers.database_url, test_servers.redis_url, data_dir, workers=0) as url:
        yield url


@pytest.fixture
def cli(test_servers: Servers, migrated: str, tmp_path: Path, _server: str) -> HttpCli:
    return HttpCli(test_servers, tmp_path, _server)
