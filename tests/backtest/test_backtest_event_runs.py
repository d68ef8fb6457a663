"""An event-driven user strategy through the platform: saved (described in the confined runner), run as a
backtest (the runner steps the simulator and returns its order stream; the worker replays it) and swept
as a grid — with the same results as the engine's own template run in process."""

from __future__ import annotations

import io
import os
import uuid
from typing import Any

import polars as pl

from backtest.config import env_of
from huice.bootstrap import Container
from job_orchestration import attempt
from quant.templates import get_template
from strategy_management import service as strategies
from strategy_management.schemas import StrategyCreate
from tests.backtest import support

SOURCE = get_template("ma_cross_event").source.replace('"""Moving-average cross', '"""My moving-average cross', 1)


def _stay() -> None:
    return None


def _run_job(bt: Container, job_id: str) -> None:
    attempt.execute(env_of(bt).jobs, uuid.UUID(job_id), worker_name="in-process", pid=os.getpid(), kill=_stay)


def _backtest(client: Any, user: support.User, ref: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/backtests", json=support.backtest_body(strategyRef=ref), headers=user.headers)
    assert response.status_code == 201, response.text
    return response.json()["backtest"]


def _single_run(bt: Container, client: Any, user: support.User, backtest: dict, params: dict) -> dict[str, Any]:
    answer = support.submit(client, user, backtest, params)
    assert answer.status_code == 201, answer.text
    [run_id] = answer.json()["run_ids"]
    _run_job(bt, support.read_run(client, user, run_id)["job_id"])
    run = support.read_run(client, user, run_id)
    assert run["status"] == "succeeded", run
    return run


def _orders(client: Any, user: support.User, run: dict) -> pl.DataFrame:
    response = support.artifact(client, user, run["run_id"], "orders", "parquet")
    assert response.status_code == 200, response.text
    return pl.read_parquet(io.BytesIO(response.content))


def test_an_event_driven_strategy_runs_confined_as_a_backtest_and_a_sweep(bt: Container, client: Any, user) -> None:
    with bt.db.transaction() as session:
        created = strategies.create_strategy(
            session,
            env_of(bt).strategies,
            user.principal,
            StrategyCreate(name=f"jq-{uuid.uuid4().hex[:8]}", source=SOURCE),
        )
    params = {"fast": 5, "slow": 20}
    mine = _backtest(client, user, {"version_id": str(created.latest_version.id), "params": params})
    engine = _backtest(
        client, user, {"template": "ma_cross_event", "name": f"t-{uuid.uuid4().hex[:8]}", "params": params}
    )
    confined = _single_run(bt, client, user, mine, params)
    in_process = _single_run(bt, client, user, engine, params)
    assert confined["stats"]["trade_count"] > 0
    assert confined["stats"] == in_process["stats"]
    assert _orders(client, user, confined).equals(_orders(client, user, in_process))

    body = {"mode": "grid", "gridSpec": {"fast": [3, 5], "slow": [10, 20]}}
    answer = client.post(f"/api/backtests/{mine['id']}/runs", json=body, headers=user.headers)
    assert answer.status_code == 201, answer.text
    opt_id = answer.json()["optimization_id"]
    while True:
        opt = client.get(f"/api/optimizations/{opt_id}", headers=user.headers).json()
        queued = [b for b in opt["batches"] if b["status"] == "queued"]
        if not queued or opt["status"] in support.TERMINAL:
            break
        _run_job(bt, queued[0]["job_id"])
    assert opt["status"] == "succeeded", opt
    rows = client.get(f"/api/optimizations/{opt_id}/results", params={"limit": 10}, headers=user.headers).json()
    by_params = {(r["params"]["fast"], r["params"]["slow"]): r for r in rows["items"]}
    assert set(by_params) == {(3, 10), (3, 20), (5, 10), (5, 20)}
    assert all(r.get("error") is None for r in rows["items"]), rows
    assert by_params[(5, 20)]["metrics"]["total_return"] == confined["stats"]["total_return"]


def test_a_pasted_joinquant_style_strategy_runs_from_strategy_ref_code(bt: Container, client: Any, user) -> None:
    """ "Done means" of issue 20: a JoinQuant-style stop-loss strategy pasted as `strategyRef.code` is saved,
    dry-run and pinned in one call, runs confined, and its exits are in the orders."""
    code = SOURCE.replace('"""My moving-average cross', '"""Pasted moving-average cross', 1)
    params = {"fast": 5, "slow": 20, "stop_loss": 0.05}
    backtest = _backtest(client, user, {"code": code, "name": f"pasted-{uuid.uuid4().hex[:8]}", "params": params})
    run = _single_run(bt, client, user, backtest, params)
    orders = _orders(client, user, run)
    sells = orders.filter(pl.col("side") == "sell")
    assert sells.height > 0 and run["stats"]["trade_count"] > 0
    assert run["manifest"]["params"] == {**params, "take_profit": 0.1, "trailing": 0.05}  # defaults filled in
