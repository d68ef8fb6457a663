"""Steps of the universes feature: backtests on a point-in-time selection over the backtest database's
sample slice (600010.SH, 000010.SZ, 300010.SZ and the CSI 300 index, 2023-01..2024-06), run in process by
the job runtime's own runner."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import httpx
from pytest_bdd import given, parsers, scenarios, then, when

from backtest.config import env_of
from huice.bootstrap import Container
from job_orchestration import attempt
from tests.backtest import support

scenarios("backtest/features/universes.feature")


@given(
    parsers.parse(
        'a backtest of momentum_rotation holding {n:d} stocks on the CSI 300 members from "{start}" to "{end}"'
    ),
    target_fixture="created",
)
def _index_backtest(client: Any, me: support.User, n: int, start: str, end: str) -> dict:
    body = support.backtest_body(
        strategyRef={"template": "momentum_rotation", "params": {"top_n": n, "lookback": 5, "rebalance": 5}},
        universe={"index": "000300.SH"},
        window={"start": start, "end": end},
    )
    answer = client.post("/api/backtests", json=body, headers=me.headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


@then(parsers.parse('the backtest holds "{symbols}" and warns that the members without bars are left out'))
def _resolved(created: dict, symbols: str) -> None:
    context = created["backtest"]["context"]
    assert context["universe"] == symbols.split(",")
    assert context["selection"] == {
        "index": "000300.SH", "all": False, "boards": None, "exclude_st": False, "min_listed_sessions": 0
    }  # fmt: skip
    [warning] = created["warnings"]
    assert warning.startswith("5 stocks of the selection have no 1d bars in snapshot ")
    assert warning.endswith("and are left out: 000020.SZ, 600020.SH, 600040.SH, 600050.SH, 688010.SH")


@when("its run succeeds", target_fixture="run")
def _run(bt: Container, client: Any, me: support.User, created: dict) -> dict:
    response = support.submit(client, me, created["backtest"], {})
    assert response.status_code == 201, response.text
    [run_id] = response.json()["run_ids"]
    job_id = uuid.UUID(support.read_run(client, me, run_id)["job_id"])
    attempt.execute(env_of(bt).jobs, job_id, worker_name="in-process", pid=os.getpid(), kill=lambda: None)
    run = support.read_run(client, me, run_id)
    assert run["status"] == "succeeded", run
    return run


def _held(client: Any, me: support.User, run: dict, symbol: str) -> list[str]:
    answer = support.artifact(client, me, run["run_id"], "positions", "json")
    assert answer.status_code == 200, answer.text
    rows = answer.json()
    rows = rows["rows"] if isinstance(rows, dict) and "rows" in rows else rows
    return sorted(str(r["date"])[:10] for r in rows if r["symbol"] == symbol and (r.get("shares") or 0) > 0)


@then(parsers.parse('"{symbol}" is never held before "{day}" and is held after it'))
def _held_after(client: Any, me: support.User, run: dict, symbol: str, day: str) -> None:
    held = _held(client, me, run, symbol)
    assert held and held[0] >= day, held[:3]


@then(parsers.parse('"{symbol}" is held before "{day}"'))
def _held_before(client: Any, me: support.User, run: dict, symbol: str, day: str) -> None:
    held = _held(client, me, run, symbol)
    assert held and held[0] < day


@when(parsers.parse("the user creates a backtest on the universe {universe}"), target_fixture="answer")
def _create_on(client: Any, me: support.User, universe: str) -> httpx.Response:
    return client.post("/api/backtests", json=support.backtest_body(universe=json.loads(universe)), headers=me.headers)


@when("the user submits a grid sweep of it", target_fixture="answer")
def _sweep(client: Any, me: support.User, created: dict) -> httpx.Response:
    body = {"mode": "grid", "gridSpec": {"top_n": [1, 2]}}
    return client.post(f"/api/backtests/{created['backtest_id']}/runs", json=body, headers=me.headers)


@then(parsers.parse('the answer is 422 INVALID_INPUT naming "{field}"'))
def _invalid(answer: httpx.Response, field: str) -> None:
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "INVALID_INPUT" and field in (error["details"].get("field") or ""), error
