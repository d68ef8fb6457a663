"""X-Forwarded-For is believed only from the proxies in HUICE_TRUSTED_PROXIES (none by default): a local
client cannot spread its login attempts over forged addresses nor forge the address the audit log records.

In process (the app's own middleware) and end to end (the uvicorn command `huice serve` runs, which must not
add uvicorn's default trust of 127.0.0.1)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from huice import serve
from huice.api import create_app
from platform_core.db import Database
from platform_core.embedded import free_port
from platform_core.settings import CoreSettings
from user_auth import repository as repo

WRONG = "Wrong-Horse-99"


def _failed_login_addresses(db: Any, email: str) -> list[str | None]:
    with db.transaction() as session:
        rows = session.scalars(
            select(repo.AuditEntry).where(
                repo.AuditEntry.action == "login.failed", repo.AuditEntry.details["email"].astext == email
            )
        ).all()
        return [r.client_address for r in rows]


def _local_client(container: Any, trusted: str | None) -> TestClient:
    settings = container.settings.model_copy(update={"trusted_proxies": trusted})
    app = create_app(dataclasses.replace(container, settings=settings))
    return TestClient(app, client=("127.0.0.1", 50000), raise_server_exceptions=False)


def _spray(client: Any, email: str, count: int) -> list[int]:
    """`count` failed logins, each claiming another X-Forwarded-For; returns the statuses."""
    return [
        client.post(
            "/api/auth/login", json={"email": email, "password": WRONG}, headers={"X-Forwarded-For": f"10.9.0.{i + 1}"}
        ).status_code
        for i in range(count)
    ]


def test_without_a_trusted_proxy_a_forged_forwarded_for_is_ignored(container: Any, db: Any) -> None:
    email = f"spoof-{uuid.uuid4().hex[:8]}@example.com"
    with _local_client(container, None) as client:
        assert _spray(client, email, 6) == [401] * 5 + [429]  # one (account, real address): 5/minute
        others = [_spray(client, f"{i}{email}", 1)[0] for i in range(16)]
    assert others == [401] * 15 + [429]  # 5 + 15 counted attempts fill the real address's 20/minute
    assert _failed_login_addresses(db, email) == ["127.0.0.1"] * 5


def test_a_trusted_proxy_forwards_the_client_address(container: Any, db: Any) -> None:
    email = f"proxied-{uuid.uuid4().hex[:8]}@example.com"
    with _local_client(container, "127.0.0.1") as client:
        assert _spray(client, email, 6) == [401] * 6  # six client addresses behind the proxy
    assert sorted(_failed_login_addresses(db, email)) == [f"10.9.0.{i}" for i in range(1, 7)]


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    ok = CoreSettings(trusted_proxies=" 10.0.0.1, 192.168.0.0/16 ,::1", _env_file=None)
    assert ok.trusted_proxy_list == ["10.0.0.1", "192.168.0.0/16", "::1"]
    assert CoreSettings(_env_file=None).trusted_proxy_list == []
    with pytest.raises(ValueError, match="HUICE_TRUSTED_PROXIES"):
        CoreSettings(trusted_proxies="proxy.internal", _env_file=None)


@contextmanager
def _uvicorn(database_url: str, redis_url: str, data_dir: Path, trusted: str | None) -> Iterator[str]:
    """The API process exactly as `huice serve` starts it (`serve.api_command`), on the test servers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUICE_")}
    env.update(
        {
            "HUICE_ENV": "test",
            "HUICE_DATABASE_URL": database_url,
            "HUICE_REDIS_URL": redis_url,
            "HUICE_DATA_DIR": str(data_dir),
            "HUICE_LOG_LEVEL": "WARNING",
            "HUICE_AUTH_ARGON2_TIME_COST": "1",
            "HUICE_AUTH_ARGON2_MEMORY_COST": "1024",
            "FORWARDED_ALLOW_IPS": "*",  # uvicorn's own knob must not matter
        }
    )
    if trusted:
        env["HUICE_TRUSTED_PROXIES"] = trusted
    command = serve.api_command(CoreSettings(_env_file=None), host="127.0.0.1", port=port)
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else "uvicorn exited"
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the API did not start in 60 s"
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("trusted", [None, "127.0.0.1"], ids=["no-proxy", "proxy-127.0.0.1"])
def test_the_served_api_believes_forwarded_for_only_from_trusted_proxies(
    fresh_database_url: str, test_servers: Any, redis: Any, tmp_path: Path, trusted: str | None
) -> None:
    from huice import migrate

    migrate.upgrade(fresh_database_url)  # its own database: the committed audit rows stay out of other tests
    email = f"served-{uuid.uuid4().hex[:8]}@example.com"
    with (
        _uvicorn(fresh_database_url, test_servers.redis_url, tmp_path, trusted) as base,
        httpx.Client(base_url=base) as client,
    ):
        statuses = _spray(client, email, 6)
    db = Database.from_url(fresh_database_url, pool_size=1)
    try:
        addresses = sorted(_failed_login_addresses(db, email))
    finally:
        db.dispose()
    if trusted is None:
        assert (statuses, addresses) == ([401] * 5 + [429], ["127.0.0.1"] * 5)
    else:
        assert (statuses, addresses) == ([401] * 6, [f"10.9.0.{i}" for i in range(1, 7)])
