"""Steps of `features/stream.feature`: the summary stream pushed on a job's state change.

The run is cancelled through job orchestration's service in a committed transaction (so its event is
published on Redis after the commit, as in production): the scenario runs on a database of its own,
since the other monitoring scenarios count every row of theirs exactly."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from pytest_bdd import given, scenarios, then, when

from backtest import repository as bt_repo
from job_orchestration import service as jobs
from job_orchestration.config import env_of as jobs_env_of
from platform_core.ids import utcnow
from tests.monitoring import support
from tests.monitoring.conftest import _drop, set_monitoring
from tests.user_auth.factories import auth_headers, create_user

scenarios("monitoring/features/stream.feature")

INTERVAL_S = 120
WITHIN_S = 30  # generous, and far below the interval: only a push gets the change here in time


@pytest.fixture
def pushed_world(test_servers, settings, redis) -> Iterator[dict[str, Any]]:
    from fastapi.testclient import TestClient

    from huice import migrate
    from huice.api import create_app
    from huice.bootstrap import Container
    from huice.contexts import configure_contexts
    from platform_core.db import Database
    from tests.databases import create_database

    url, name = create_database(test_servers.database_url, prefix="huice_mon_stream")
    db = Database.from_url(url, pool_size=4)
    try:
        migrate.upgrade(url)
        c = Container(settings=settings, servers=test_servers, db=db, redis=redis)
        configure_contexts(c)
        set_monitoring(c, stream_interval_s=INTERVAL_S, stream_debounce_s=0.1)
        with db.transaction() as session:
            admin = create_user(session, c, role="admin")
            backtest_id = support.backtest(session, admin.user_id, uuid.uuid4())
            run_id = support.run(session, admin.user_id, backtest_id, status="queued", submitted=utcnow())
            job_id = session.get(bt_repo.RunRow, run_id).job_id
        with TestClient(create_app(c), raise_server_exceptions=False) as client:
            yield {"container": c, "admin": admin, "headers": auth_headers(c, admin), "job_id": job_id, "api": client}
        for closer in c.extras.pop("_closers", []):
            closer()
    finally:
        db.dispose()
        _drop(test_servers.database_url, name)


@given(
    "a database of its own with an admin and a queued run, and a stream interval of 120 seconds",
    target_fixture="world_of_stream",
)
def world_of_stream(pushed_world) -> dict[str, Any]:
    return pushed_world


def _cancel(world: dict[str, Any]) -> None:
    c = world["container"]
    with c.db.transaction() as session:
        jobs.cancel(session, jobs_env_of(c), world["admin"], world["job_id"])


def _cancelled(summary: dict[str, Any]) -> bool:
    return summary["runs"]["by_status"] == {"cancelled": 1}


def _follow(world: dict[str, Any], read: Any) -> list[dict[str, Any]]:
    """Read summaries in a thread (`read(put)`, which stops at the first one counting the cancelled run);
    cancel the run once the first summary is in. Redis pub/sub is server-wide, so another process's job
    event may push a summary before the cancel is committed: those are skipped."""
    got: queue.Queue = queue.Queue()
    reader = threading.Thread(target=read, args=(got.put,), daemon=True)
    reader.start()
    first = got.get(timeout=WITHIN_S)
    assert first["runs"]["by_status"] == {"queued": 1}
    _cancel(world)
    deadline = time.monotonic() + WITHIN_S
    while (left := deadline - time.monotonic()) > 0:
        try:
            pushed = got.get(timeout=left)
        except queue.Empty:
            break
        if _cancelled(pushed):
            reader.join(timeout=WITHIN_S)
            return [first, pushed]
    raise AssertionError(f"no summary counting the cancelled run was pushed within {WITHIN_S}s of the change")


@when(
    "the admin opens the summary stream and the run is cancelled after the first summary",
    target_fixture="summaries",
)
def stream_and_cancel(world_of_stream) -> list[dict[str, Any]]:
    api, headers = world_of_stream["api"], world_of_stream["headers"]

    def read(put) -> None:
        with api.stream("GET", "/api/monitor/stream", headers=headers) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data: "):
                    summary = json.loads(line[len("data: ") :])
                    put(summary)
                    if _cancelled(summary):
                        return

    return _follow(world_of_stream, read)


@when(
    "the admin opens the summary WebSocket and the run is cancelled after the first summary",
    target_fixture="summaries",
)
def socket_and_cancel(world_of_stream) -> list[dict[str, Any]]:
    api, headers = world_of_stream["api"], world_of_stream["headers"]

    def read(put) -> None:
        with api.websocket_connect("/api/monitor/stream", headers=headers) as socket:
            while True:
                summary = socket.receive_json()
                put(summary)
                if _cancelled(summary):
                    return

    return _follow(world_of_stream, read)


@then("the next summary arrives before the interval and counts the run as cancelled")
def counts_cancelled(summaries) -> None:
    second = summaries[1]
    assert second["runs"]["by_status"] == {"cancelled": 1}
    assert second["runs"]["queued"] == 0
    generated = [datetime.fromisoformat(s["generated_at"]) for s in summaries]
    assert generated[1] - generated[0] < timedelta(seconds=INTERVAL_S)


@then("that summary equals the REST summary but for the time it was made")
def equals_rest(world_of_stream, summaries) -> None:
    rest = world_of_stream["api"].get("/api/monitor/summary", headers=world_of_stream["headers"]).json()
    assert {k: v for k, v in summaries[1].items() if k != "generated_at"} == {
        k: v for k, v in rest.items() if k != "generated_at"
    }
