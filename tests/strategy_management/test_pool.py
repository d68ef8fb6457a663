"""Strategy code runs with no database connection checked out, and one user's burst of saves is refused
with 429 beyond the run admission instead of stalling the API (issue 13, item 1). Over a really
committing database with a small pool, through the whole app."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from huice.api import create_app
from strategy_management.confined_runner import execute
from strategy_management.service import execution
from tests.strategy_management.conftest import _small_env
from tests.strategy_management.factories import SIMPLE
from tests.user_auth.factories import auth_headers, create_user

pytestmark = pytest.mark.slow


def _source(tag: str, busy: int = 0) -> str:
    """A fresh source (the describe cache is keyed by content) whose module may spin a little when loaded."""
    extra = f"\n_BUSY = sum(range({busy}))\n" if busy else "\n"
    return f"{SIMPLE}{extra}# {tag}\n"


@pytest.fixture
def app(committed_container: Any) -> Iterator[tuple[TestClient, Any]]:
    committed_container.extras["strategy_management"] = _small_env(committed_container.redis)
    with TestClient(create_app(committed_container), raise_server_exceptions=False) as client:
        yield client, committed_container


def _headers(container: Any) -> dict[str, str]:
    with container.db.transaction() as session:
        principal = create_user(session, container)
    return auth_headers(container, principal)


def test_no_connection_is_checked_out_while_strategy_code_runs(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, container = app
    pool = container.db.engine.pool
    seen: list[tuple[str, int]] = []

    def watched(op: str, *args: Any, **kwargs: Any) -> Any:
        seen.append((op, pool.checkedout()))
        return execute(op, *args, **kwargs)

    monkeypatch.setattr(execution, "execute", watched)
    monkeypatch.setattr(execution, "_describe_cache", {})
    headers = _headers(container)
    tag = uuid.uuid4().hex
    created = client.post("/api/strategies", json={"name": f"s-{tag}", "source": _source(tag)}, headers=headers)
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    saved = client.post(f"/api/strategies/{sid}/versions", json={"source": _source(f"{tag}-2")}, headers=headers)
    assert saved.status_code == 201, saved.text
    assert client.post(f"/api/strategies/{sid}/validate", headers=headers).status_code == 200
    template = {"template": "macd", "name": f"t-{tag}"}
    copied = client.post("/api/strategies/from-template", json=template, headers=headers)
    assert copied.status_code == 201, copied.text
    file = {**client.get(f"/api/strategies/{sid}/export", headers=headers).json(), "content_hash": None}
    file["source"] = _source(f"{tag}-3")
    imported = client.post("/api/strategies/import", json={"file": file, "name": f"i-{tag}"}, headers=headers)
    assert imported.status_code == 201, imported.text
    ops = [op for op, _ in seen]
    # validation: the dry run, then the look-ahead audit's prefix runs — each a confined `targets` call
    targets = ops[2:-2]
    assert ops[:2] == ["describe", "describe"] and ops[-2:] == ["describe", "describe"], ops
    assert len(targets) >= 2 and set(targets) == {"targets"}, ops
    assert [held for _, held in seen] == [0] * len(seen)


def test_a_burst_of_saves_is_refused_with_429_and_other_users_are_served(app: Any) -> None:
    client, container = app
    heavy, light = _headers(container), _headers(container)
    tag = uuid.uuid4().hex

    def save(i: int) -> Any:
        body = {"name": f"burst-{tag}-{i}", "source": _source(f"{tag}-{i}", busy=3_000_000)}
        return client.post("/api/strategies", json=body, headers=heavy)

    def browse(_: int) -> Any:
        return client.get("/api/strategies", headers=light)

    with ThreadPoolExecutor(max_workers=12) as pool:
        saves = [pool.submit(save, i) for i in range(8)]
        gets = [pool.submit(browse, i) for i in range(4)]
        saved = [f.result() for f in saves]
        browsed = [f.result() for f in gets]

    statuses = sorted(r.status_code for r in saved)
    assert set(statuses) <= {201, 429}, [r.text for r in saved if r.status_code not in (201, 429)]
    assert 201 in statuses and 429 in statuses, statuses
    for refused in (r for r in saved if r.status_code == 429):
        error = refused.json()["error"]
        assert error["code"] == "RATE_LIMITED"
        assert error["details"]["limit"] in ("user_runs", "process_runs")
        assert refused.headers["Retry-After"] == str(error["details"]["retry_after"])
    assert [r.status_code for r in browsed] == [200, 200, 200, 200]
    admission = container.extras["strategy_management"].admission
    assert admission.running == 0 and admission.reserved_bytes == 0
