"""Creating a backtest runs the strategy (a template's description, the dry run) with no database connection
checked out: the read phase is released before the confined runner starts (issue 13, item 1)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from backtest import gateways
from strategy_management.confined_runner import execute
from strategy_management.service import execution
from tests.backtest import support
from tests.strategy_management.factories import SIMPLE

pytestmark = pytest.mark.slow


def test_create_backtest_holds_no_connection_while_the_strategy_runs(
    bt: Any, client: Any, user: support.User, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = bt.db.engine.pool
    seen: list[tuple[str, int]] = []

    def watched(op: str, *args: Any, **kwargs: Any) -> Any:
        seen.append((op, pool.checkedout()))
        return execute(op, *args, **kwargs)

    monkeypatch.setattr(execution, "execute", watched)
    monkeypatch.setattr(execution, "_describe_cache", {})
    monkeypatch.setattr(gateways, "_DRY_RUNS", type(gateways._DRY_RUNS)())
    tag = uuid.uuid4().hex
    created = client.post(
        "/api/strategies", json={"name": f"pool-{tag}", "source": f"{SIMPLE}# {tag}\n"}, headers=user.headers
    )
    assert created.status_code == 201, created.text
    by_strategy = support.backtest_body(strategyRef={"strategy_id": created.json()["id"], "params": {"window": 7}})
    answer = client.post("/api/backtests", json=by_strategy, headers={**user.headers, "Idempotency-Key": tag})
    assert answer.status_code == 201, answer.text
    replay = client.post("/api/backtests", json=by_strategy, headers={**user.headers, "Idempotency-Key": tag})
    assert replay.json()["backtest_id"] == answer.json()["backtest_id"]
    by_template = support.backtest_body(strategyRef={"template": "rsi_reversion", "name": f"rsi-{tag}"})
    answer = client.post("/api/backtests", json=by_template, headers=user.headers)
    assert answer.status_code == 201, answer.text
    assert answer.json()["backtest"]["strategy"]["strategy_name"] == f"rsi-{tag}"
    assert [op for op, _ in seen] == ["describe", "targets", "describe", "targets"]  # the replay ran nothing
    assert [held for _, held in seen] == [0, 0, 0, 0]
