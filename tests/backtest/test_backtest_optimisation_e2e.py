"""BDD, end to end: optimisations whose batches two real worker processes run (optimisation_workers.feature)
— through the CLI, under a concurrency limit observed from the jobs' start and finish times, and with a
worker SIGKILLed mid-batch (the reaper, run here with a short lease timeout, retries the batch)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import signal
import time
import uuid
from datetime import datetime
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from backtest.config import env_of
from huice.bootstrap import Container
from job_orchestration import service as jobs
from job_orchestration.config import JobSettings
from strategy_management import service as strategies
from strategy_management.schemas import StrategyCreate
from tests.backtest import support

pytestmark = [pytest.mark.e2e]

scenarios("backtest/features/optimisation_workers.feature")

SLOW_STUB = '''"""Exposure grows with days; every call spins the CPU for a while first (a slow batch)."""
import polars as pl
from quant.sdk import param

PARAMS = [param("days", int, default=10, min=1, max=400), param("spin", int, default=1, min=1, max=50_000_000)]


def generate(bars: pl.DataFrame, params: dict) -> pl.DataFrame:
    total = 0
    for i in range(params["spin"]):
        total += i
    share = 1.0 / bars["symbol"].n_unique()
    day = pl.col("ts").rank("dense")
    return bars.select("ts", "symbol", pl.when(day <= params["days"]).then(share).otherwise(0.0).alias("weight"))
'''
TERMINAL = {"succeeded", "failed", "cancelled", "early_stopped"}


@given("running workers over the sample data")
def _workers(workers: support.Workers) -> None:
    assert all(p.poll() is None for p in workers.procs)


def _read(client: Any, user: support.User, opt_id: str) -> dict[str, Any]:
    return client.get(f"/api/optimizations/{opt_id}", headers=user.headers).json()


def _wait(client: Any, user: support.User, opt_id: str, timeout: float = 120.0) -> dict[str, Any]:
    return support.wait_for(lambda: _read(client, user, opt_id), lambda o: o["status"] in TERMINAL, timeout)


# --- the CLI -------------------------------------------------------------------------------------------


@then("the command succeeds and prints the new backtest")
def _created(result: Any, cli_env: dict) -> None:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    cli_env["names"]["backtest"] = json.loads(result.stdout)["backtest_id"]


@then(
    "the command succeeds showing a progress bar, the optimisation's id and the top 10 of 40 with the deflated Sharpe "
    "ratio and PBO"
)
def _optimized(result: Any, cli_env: dict, bt: Container, me: support.User) -> None:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "sweep " in result.stderr and "40/40" in result.stderr
    out = " ".join(result.stdout.split())
    assert "top 10 of 40 by sharpe" in out
    assert "deflated Sharpe ratio" in out and "probability of backtest overfitting" in out
    from backtest import repository as repo

    with bt.db.transaction() as session:
        rows, _ = repo.list_optimizations(session, me.id, 1, 0)
    printed = next(line.split()[1] for line in result.stdout.splitlines() if line.startswith("optimization "))
    assert printed == str(rows[0].id), "the whole id, for the next commands"
    cli_env["names"]["optimization"] = printed


@then(parsers.parse('the command prints the optimisation "{status}" with {count:d} evaluations'))
def _shown(result: Any, status: str, count: int) -> None:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    body = json.loads(result.stdout)
    assert (body["status"], body["evaluated"], body["total"]) == (status, count, count)
    assert body["diagnostics"]["evaluations"] == count


@then(parsers.parse("the command prints a heatmap with {count:d} x values"))
def _heat(result: Any, count: int) -> None:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert len(json.loads(result.stdout)["x_values"]) == count


@then(parsers.parse("the command prints {count:d} results in ascending max_drawdown"))
def _sorted(result: Any, count: int) -> None:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    values = [r["metrics"]["max_drawdown"] for r in json.loads(result.stdout)["items"]]
    assert len(values) == count and values == sorted(values)


@then("the command prints a new run id")
def _promoted(result: Any) -> None:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert uuid.UUID(json.loads(result.stdout)["run_ids"][0])


# --- concurrency ---------------------------------------------------------------------------------------


@when(
    parsers.parse(
        "the user sweeps {count:d} combinations in batches of {size:d} "
        "with a concurrency limit of {limit:d} on the workers"
    ),
    target_fixture="opt",
)
def _sweep_limited(client: Any, me: support.User, backtest: dict, count: int, size: int, limit: int) -> dict:
    grid = {"fast": {"start": 5, "stop": 50, "step": 5}, "slow": {"start": 20, "stop": 200, "step": 20}}
    body = {"mode": "grid", "gridSpec": grid, "batch_size": size, "concurrency_limit": limit}
    response = client.post(f"/api/backtests/{backtest['id']}/runs", json=body, headers=me.headers)
    assert response.status_code == 201, response.text
    assert response.json()["preview"]["evaluations"] == count
    return _wait(client, me, response.json()["optimization_id"])


@then(parsers.parse("the sweep succeeds with {count:d} evaluations in {batches:d} batches"))
def _limited_ok(opt: dict, count: int, batches: int) -> None:
    assert (opt["status"], opt["evaluated"], len(opt["batches"])) == ("succeeded", count, batches), opt


@then("no two batch jobs ran at the same time")
def _no_overlap(client: Any, me: support.User, opt: dict) -> None:
    spans = []
    for batch in opt["batches"]:
        job = client.get(f"/api/jobs/{batch['job_id']}", headers=me.headers).json()
        assert job["parent_id"] == opt["optimization_id"] and job["kind"] == "backtest.optimize"
        spans.append((datetime.fromisoformat(job["started_at"]), datetime.fromisoformat(job["finished_at"])))
    spans.sort()
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, spans


# --- a worker killed mid-batch -------------------------------------------------------------------------


@given("a backtest of a slow stub strategy", target_fixture="backtest")
def _slow_backtest(bt: Container, client: Any, me: support.User) -> dict[str, Any]:
    with bt.db.transaction() as session:
        created = strategies.create_strategy(
            session,
            env_of(bt).strategies,
            me.principal,
            StrategyCreate(name=f"slow-{uuid.uuid4().hex[:8]}", source=SLOW_STUB),
        )
    params = {"days": 10, "spin": 1}
    body = support.backtest_body(strategyRef={"version_id": str(created.latest_version.id), "params": params})
    response = client.post("/api/backtests", json=body, headers=me.headers)
    assert response.status_code == 201, response.text
    return response.json()["backtest"]


@when(parsers.parse("the user sweeps {count:d} combinations of it in one batch on the workers"), target_fixture="opt")
def _sweep_slow(client: Any, me: support.User, backtest: dict, count: int) -> dict:
    body = {
        "mode": "grid",
        "params": {"spin": 20_000_000},  # seconds a combination: the kill below lands inside the batch
        "gridSpec": {"days": [10 * (i + 1) for i in range(count)]},
        "objective": {"metric": "exposure", "mode": "max"},
        "batch_size": count,
        "concurrency_limit": 1,
    }
    response = client.post(f"/api/backtests/{backtest['id']}/runs", json=body, headers=me.headers)
    assert response.status_code == 201, response.text
    return {"optimization_id": response.json()["optimization_id"]}


@when("the worker running the batch is killed with SIGKILL")
def _kill(bt: Container, client: Any, me: support.User, opt: dict) -> None:
    from job_orchestration import repository as job_repo

    job_id = uuid.UUID(_read(client, me, opt["optimization_id"])["batches"][0]["job_id"])

    def running() -> dict:
        with bt.db.transaction() as session:
            row = job_repo.get(session, job_id)
            return {"status": row.status, "pid": row.worker_pid}

    job = support.wait_for(running, lambda j: j["status"] == "running" and j["pid"], 60)
    time.sleep(0.5)  # inside the batch: the confined runner is computing the targets
    assert _read(client, me, opt["optimization_id"])["evaluated"] == 0
    os.kill(job["pid"], signal.SIGKILL)
    opt["job_id"] = str(job_id)


@when("the reaper hands the batch to another worker")
def _reap(bt: Container, opt: dict) -> None:
    env = env_of(bt).jobs
    quick = dataclasses.replace(
        env, settings=JobSettings(lease_timeout_s=2.0, retry_base_s=0.1, retry_max_s=0.5, _env_file=None)
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with bt.db.transaction() as session:
            report = jobs.reap(session, quick)
        if uuid.UUID(opt["job_id"]) in report.retried:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the reaper did not retry the killed batch")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # admit the retry once its short backoff has passed
        with bt.db.transaction() as session:
            jobs.dispatch(session, quick)
        time.sleep(0.3)
        with bt.db.transaction() as session:
            from job_orchestration import repository as job_repo

            row = job_repo.get(session, uuid.UUID(opt["job_id"]))
            if row.enqueued_at is not None or row.status != "queued":
                return


@then(parsers.parse("the sweep succeeds with {count:d} evaluations stored once each"))
def _once(bt: Container, client: Any, me: support.User, opt: dict, count: int) -> None:
    read = _wait(client, me, opt["optimization_id"])
    assert (read["status"], read["evaluated"]) == ("succeeded", count), read
    rows = client.get(f"/api/optimizations/{opt['optimization_id']}/results", headers=me.headers).json()
    assert rows["total"] == count and sorted(r["index"] for r in rows["items"]) == list(range(count))


@then(parsers.parse("the batch job took {attempts:d} attempts"))
def _attempts(client: Any, me: support.User, opt: dict, attempts: int) -> None:
    job = client.get(f"/api/jobs/{opt['job_id']}", headers=me.headers).json()
    assert (job["status"], job["attempts"]) == ("succeeded", attempts), job
    read = _read(client, me, opt["optimization_id"])
    assert read["batches"][0]["timing"]["attempt"] == attempts
