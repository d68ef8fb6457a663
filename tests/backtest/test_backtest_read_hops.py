"""The most polled reads stay cheap for an API process: every hop to a worker thread costs an event-loop
round and a thread wake-up, so a read of a run takes exactly three (authenticate and count, the read, the
commit) — counted, never timed."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import pytest

from tests.backtest import support


def test_a_run_read_takes_three_worker_thread_hops(client: Any, user: support.User) -> None:
    created = client.post("/api/backtests", json=support.backtest_body(), headers=user.headers)
    assert created.status_code == 201, created.text
    backtest_id = created.json()["backtest"]["id"]
    submitted = client.post(
        f"/api/backtests/{backtest_id}/runs", json={"mode": "single", "params": {"slow": 21}}, headers=user.headers
    )
    assert submitted.status_code == 201, submitted.text
    run_id = str((submitted.json().get("runIds") or submitted.json().get("run_ids"))[0])
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
                assert len(hops) == 3, hops
            hops.clear()
            missing = client.get(f"/api/runs/{'0' * 8}-0000-4000-8000-{'0' * 12}", headers=user.headers)
            assert missing.status_code == 404
            assert len(hops) == 3, hops  # the refusal rolls back in the third
    finally:  # leave no queued run for another module's workers
        client.post(f"/api/backtests/{backtest_id}/runs/{run_id}:cancel", headers=user.headers)
