"""The most polled reads stay cheap for an API process: every hop to a worker thread costs an event-loop
round and a thread wake-up, so a read of a run takes exactly one (authenticate and count, the read, the
commit of its unit of work), a refused one two (its rollback in a hop of its own); every SQL statement is
a round trip to PostgreSQL, so it takes two (the token's session and user, the run with its job) — counted,
never timed."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import pytest
from sqlalchemy import event

from tests.backtest import support


def _submitted_run(client: Any, user: support.User) -> tuple[str, str]:
    created = client.post("/api/backtests", json=support.backtest_body(), headers=user.headers)
    assert created.status_code == 201, created.text
    backtest_id = created.json()["backtest"]["id"]
    submitted = client.post(
        f"/api/backtests/{backtest_id}/runs", json={"mode": "single", "params": {"slow": 21}}, headers=user.headers
    )
    assert submitted.status_code == 201, submitted.text
    run_id = str((submitted.json().get("runIds") or submitted.json().get("run_ids"))[0])
    return backtest_id, run_id


def test_a_run_read_takes_one_worker_thread_hop(client: Any, user: support.User) -> None:
    backtest_id, run_id = _submitted_run(client, user)
    hops: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func, *args, **kwargs):
        hops.append(getattr(func, "__qualname__", repr(func)))
        return await run_sync(func, *args, **kwargs)

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(anyio.to_thread, "run_sync", counted)
            for path in (f"/api/backtests/{backtest_id}/runs/{run_id}", f"/api/runs/{run_id}"):
                hops.clear()
                answer = client.get(path, headers=user.headers)
                assert answer.status_code == 200, answer.text
                assert (answer.json().get("runId") or answer.json().get("run_id")) == run_id
                assert len(hops) == 1, hops
            hops.clear()
            missing = client.get(f"/api/runs/{'0' * 8}-0000-4000-8000-{'0' * 12}", headers=user.headers)
            assert missing.status_code == 404
            assert len(hops) == 2, hops  # the refusal rolls back in the second
    finally:  # leave no queued run for another module's workers
        client.post(f"/api/backtests/{backtest_id}/runs/{run_id}:cancel", headers=user.headers)


def test_a_run_read_takes_two_sql_statements(client: Any, user: support.User, other_user: support.User) -> None:
    backtest_id, run_id = _submitted_run(client, user)
    engine = client.app.state.container.db.engine
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        for path in (f"/api/backtests/{backtest_id}/runs/{run_id}", f"/api/runs/{run_id}"):
            statements.clear()
            answer = client.get(path, headers=user.headers)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["run_id"] == run_id and body["status"] in support.TERMINAL | {"queued", "running"}
            assert body["job_id"]
            assert len(statements) == 2, statements
        # the same one statement keeps the tenancy: another owner's run (and its job) is not found
        statements.clear()
        foreign = client.get(f"/api/backtests/{backtest_id}/runs/{run_id}", headers=other_user.headers)
        assert foreign.status_code == 404, foreign.text
        assert foreign.json()["error"]["code"] == "NOT_FOUND"
        assert len(statements) == 2, statements
        wrong_backtest = client.get(
            f"/api/backtests/{'0' * 8}-0000-4000-8000-{'0' * 12}/runs/{run_id}", headers=user.headers
        )
        assert wrong_backtest.status_code == 404, wrong_backtest.text
    finally:
        event.remove(engine, "before_cursor_execute", record)
        client.post(f"/api/backtests/{backtest_id}/runs/{run_id}:cancel", headers=user.headers)


def test_a_run_read_builds_none_of_its_statements(client: Any, user: support.User) -> None:
    """Both statements are built once, at import, their values bind parameters: a read pays neither their
    construction nor their cache key (memoized on the statement), only its parameters."""
    from sqlalchemy.orm import Session

    backtest_id, run_id = _submitted_run(client, user)
    executed: list[Any] = []

    def record(state: Any) -> None:
        executed.append(state.statement)

    event.listen(Session, "do_orm_execute", record)
    try:
        reads = []
        for _ in range(2):
            executed.clear()
            answer = client.get(f"/api/backtests/{backtest_id}/runs/{run_id}", headers=user.headers)
            assert answer.status_code == 200, answer.text
            reads.append(list(executed))
        assert len(reads[0]) == 2 and all(a is b for a, b in zip(*reads, strict=True)), reads
    finally:
        event.remove(Session, "do_orm_execute", record)
        client.post(f"/api/backtests/{backtest_id}/runs/{run_id}:cancel", headers=user.headers)


def test_the_one_hop_still_authenticates_and_counts_first(client: Any, user: support.User) -> None:
    """The guard's work done in the route's hop keeps its order and its answers: a refused credential is
    401 (before a parameter error: 401, not 422), every answer carries the caller's `X-RateLimit-*`, and a
    parameter error is counted against the caller, as a read."""
    backtest_id, run_id = _submitted_run(client, user)
    try:
        good = client.get(f"/api/backtests/{backtest_id}/runs/{run_id}", headers=user.headers)
        assert good.status_code == 200, good.text
        limit = good.headers["X-RateLimit-Limit"]
        bad = {"Authorization": "Bearer not.a.jwt"}
        for path in (f"/api/backtests/{backtest_id}/runs/{run_id}", f"/api/runs/{run_id}", "/api/runs/not-a-uuid"):
            refused = client.get(path, headers=bad)
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"]["code"] == "UNAUTHORIZED" and "X-RateLimit-Limit" in refused.headers
        invalid = client.get("/api/runs/not-a-uuid", headers=user.headers)
        assert invalid.status_code == 422, invalid.text
        assert invalid.headers["X-RateLimit-Limit"] == limit
        remaining = int(invalid.headers["X-RateLimit-Remaining"])
        again = client.get(f"/api/runs/{run_id}", headers=user.headers)
        assert again.status_code == 200, again.text
        if again.headers["X-RateLimit-Reset"] == invalid.headers["X-RateLimit-Reset"]:  # the same window
            assert int(again.headers["X-RateLimit-Remaining"]) == remaining - 1
    finally:
        client.post(f"/api/backtests/{backtest_id}/runs/{run_id}:cancel", headers=user.headers)
