"""Strategy code runs with no database connection checked out, one user's burst of saves runs one save at a
time per API process (the per-caller gate) instead of stalling the API, and the runs of all callers in a
process stay within the run admission, 429 beyond (issue 13, item 1). Over a really committing database with
a small pool, through the whole app."""

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
def settings(settings: Any) -> Any:
    """The gate's wait limit out of the way: a loaded CI machine must not turn a queued save into a 429."""
    return settings.model_copy(update={"api_client_queue_wait_s": 600.0})


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


def test_a_burst_of_saves_runs_one_at_a_time_and_other_users_are_served(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, container = app
    heavy, light = _headers(container), _headers(container)
    tag = uuid.uuid4().hex
    admission = container.extras["strategy_management"].admission
    running: list[int] = []

    def watched(op: str, *args: Any, **kwargs: Any) -> Any:
        running.append(admission.running)
        return execute(op, *args, **kwargs)

    monkeypatch.setattr(execution, "execute", watched)

    def save(i: int) -> Any:
        body = {"name": f"burst-{tag}-{i}", "source": _source(f"{tag}-{i}", busy=3_000_000)}
        return client.post("/api/strategies", json=body, headers=heavy)

    def browse(_: int) -> Any:
        return client.get("/api/strategies", headers=light)

    def own_reads(_: int) -> Any:
        return client.get("/api/strategies", headers=heavy)

    with ThreadPoolExecutor(max_workers=14) as pool:
        saves = [pool.submit(save, i) for i in range(8)]
        gets = [pool.submit(browse, i) for i in range(4)] + [pool.submit(own_reads, i) for i in range(2)]
        saved = [f.result() for f in saves]
        browsed = [f.result() for f in gets]

    # the writes wait their turn at the gate (one per caller per process): none is refused, none fails
    assert [r.status_code for r in saved] == [201] * 8, [r.text for r in saved if r.status_code != 201]
    assert len(running) >= 8 and max(running) == 1, running  # never two of the user's runs at once
    assert [r.status_code for r in browsed] == [200] * 6  # the other user's reads, and the user's own
    assert admission.running == 0 and admission.reserved_bytes == 0


def test_two_users_bursting_run_one_save_each_at_a_time_and_a_third_is_served(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, container = app
    bursting, reader = [_headers(container), _headers(container)], _headers(container)
    tag = uuid.uuid4().hex
    admission = container.extras["strategy_management"].admission
    running: list[int] = []

    def watched(op: str, *args: Any, **kwargs: Any) -> Any:
        running.append(admission.running)
        return execute(op, *args, **kwargs)

    monkeypatch.setattr(execution, "execute", watched)

    def save(i: int) -> Any:
        body = {"name": f"two-{tag}-{i}", "source": _source(f"{tag}-{i}", busy=3_000_000)}
        return client.post("/api/strategies", json=body, headers=bursting[i % 2])

    with ThreadPoolExecutor(max_workers=12) as pool:
        saves = [pool.submit(save, i) for i in range(8)]
        gets = [pool.submit(client.get, "/api/strategies", headers=reader) for _ in range(4)]
        saved = [f.result() for f in saves]
        browsed = [f.result() for f in gets]

    assert [r.status_code for r in saved] == [201] * 8, [r.text for r in saved if r.status_code != 201]
    assert max(running) <= 2, running  # one run per bursting caller, within the process's admission
    assert [r.status_code for r in browsed] == [200] * 4
    assert admission.running == 0 and admission.reserved_bytes == 0
