"""Two batches of one sweep that finish at the same moment both store their results: the batches' write
phases take the optimisation's row in one order (its lock, then the results), so neither waits for a lock
the other holds. Each batch job is run by job_orchestration's attempt in a thread of this process; the
two are made to meet right after storing their results, where the old order (results first, then the row's
FOR UPDATE) had each holding the key-share lock of its results' foreign key while waiting for the other's:
a deadlock PostgreSQL broke by failing one batch (a transient error, a retry seconds later), which warm
work-horses starting two batches within milliseconds of each other made a common event."""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from typing import Any

import pytest

from backtest import repository
from backtest.config import env_of
from huice.bootstrap import Container
from job_orchestration import attempt
from tests.backtest import support

MEETING_S = 5.0  # how long a batch that has stored its results waits for the other to have stored its own


def _stay() -> None:
    """An in-process attempt is never killed."""


def test_two_batches_storing_their_results_at_once_both_succeed_at_their_first_attempt(
    bt: Container, client: Any, user: support.User, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = support.backtest_body(strategyRef={"template": "ma_cross", "params": {"fast": 5, "slow": 20}})
    response = client.post("/api/backtests", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    sweep = {"mode": "grid", "gridSpec": {"fast": [5, 10], "slow": [20, 30]}, "batch_size": 2, "concurrency_limit": 2}
    response = client.post(f"/api/backtests/{response.json()['backtest']['id']}/runs", json=sweep, headers=user.headers)
    assert response.status_code == 201, response.text
    opt_id = response.json()["optimization_id"]
    batches = client.get(f"/api/optimizations/{opt_id}", headers=user.headers).json()["batches"]
    assert [b["status"] for b in batches] == ["queued", "queued"]

    meeting = threading.Barrier(2)
    insert_results = repository.insert_results

    def insert_then_meet(session: Any, rows: list[dict[str, Any]]) -> int:
        inserted = insert_results(session, rows)
        with contextlib.suppress(threading.BrokenBarrierError):  # the other may be waiting for this one's lock
            meeting.wait(MEETING_S)
        return inserted

    monkeypatch.setattr(repository, "insert_results", insert_then_meet)
    jobs = env_of(bt).jobs
    outcomes: dict[str, Any] = {}

    def run(job_id: str) -> None:
        outcomes[job_id] = attempt.execute(
            jobs, uuid.UUID(job_id), worker_name="in-process", pid=os.getpid(), kill=_stay
        )

    threads = [threading.Thread(target=run, args=(b["job_id"],)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(map(str, outcomes.values())) == ["succeeded", "succeeded"]
    for batch in batches:
        job = client.get(f"/api/jobs/{batch['job_id']}", headers=user.headers).json()
        assert (job["status"], job["attempts"]) == ("succeeded", 1), job
    opt = client.get(f"/api/optimizations/{opt_id}", headers=user.headers).json()
    assert (opt["status"], opt["evaluated"]) == ("succeeded", 4), opt
