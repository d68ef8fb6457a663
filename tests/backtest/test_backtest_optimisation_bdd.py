"""BDD without workers: optimisations (optimisation.feature) through the API in this process over the
committed sample data. Each batch job is run by job_orchestration's attempt in this process — the attempt
a worker would make, without the worker — so the order of batches is the test's to choose."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import openpyxl
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from backtest.config import env_of
from huice.bootstrap import Container
from job_orchestration import attempt
from strategy_management import service as strategies
from strategy_management.schemas import StrategyCreate
from tests.backtest import support

scenarios("backtest/features/optimisation.feature")

STUB_STRATEGY = '''"""Exposure grows with days: hold every symbol for the first `days` sessions (13 raises)."""
import polars as pl
from quant.sdk import param

PARAMS = [param("days", int, default=10, min=1, max=400)]


def generate(bars: pl.DataFrame, params: dict) -> pl.DataFrame:
    if params["days"] == 13:
        raise ValueError("thirteen is unlucky")
    share = 1.0 / bars["symbol"].n_unique()
    day = pl.col("ts").rank("dense")
    return bars.select("ts", "symbol", pl.when(day <= params["days"]).then(share).otherwise(0.0).alias("weight"))
'''
TERMINAL = {"succeeded", "failed", "cancelled", "early_stopped"}
RANGES = {"fast": {"start": 5, "stop": 50, "step": 5}, "slow": {"start": 20, "stop": 200, "step": 20}}
SPACE = {"fast": {"type": "int", "low": 5, "high": 20}, "slow": {"type": "int", "low": 30, "high": 60}}


def _stay() -> None:
    """An in-process attempt is never killed."""


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def _sweep(client: Any, user: support.User, backtest: dict, body: dict, key: str | None = None) -> httpx.Response:
    headers = {**user.headers, **({"Idempotency-Key": key} if key else {})}
    return client.post(f"/api/backtests/{backtest['id']}/runs", json=body, headers=headers)


def _read(client: Any, user: support.User, opt_id: str) -> dict[str, Any]:
    response = client.get(f"/api/optimizations/{opt_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _results(client: Any, user: support.User, opt_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/optimizations/{opt_id}/results", params={"limit": 200, **params}, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _run_job(bt: Container, job_id: str) -> Any:
    return attempt.execute(env_of(bt).jobs, uuid.UUID(job_id), worker_name="in-process", pid=os.getpid(), kill=_stay)


def _run_batches(bt: Container, client: Any, user: support.User, opt_id: str, limit: int | None = None) -> dict:
    """Run queued batches in batch order (at most `limit`), as the workers would, until none is left."""
    ran = 0
    while limit is None or ran < limit:
        opt = _read(client, user, opt_id)
        queued = [b for b in opt["batches"] if b["status"] == "queued"]
        if not queued or opt["status"] in TERMINAL:
            return opt
        _run_job(bt, queued[0]["job_id"])
        ran += 1
    return _read(client, user, opt_id)


@given("the sample data", target_fixture="snapshot_id")
def _sample_data(bt: Container) -> str:
    from market_data import service as market

    with bt.db.transaction() as session:
        return market.latest_snapshot(session).id


@given("a stub strategy whose exposure grows with its parameter days", target_fixture="backtest")
def _stub_backtest(bt: Container, client: Any, me: support.User) -> dict[str, Any]:
    with bt.db.transaction() as session:
        created = strategies.create_strategy(
            session,
            env_of(bt).strategies,
            me.principal,
            StrategyCreate(name=f"stub-{uuid.uuid4().hex[:8]}", source=STUB_STRATEGY),
        )
    body = support.backtest_body(strategyRef={"version_id": str(created.latest_version.id), "params": {"days": 10}})
    response = client.post("/api/backtests", json=body, headers=me.headers)
    assert response.status_code == 201, response.text
    return response.json()["backtest"]


# --- submitting ----------------------------------------------------------------------------------------


def _submitted(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["run_ids"] == [] and body["optimization_id"]
    return {"id": body["optimization_id"], "answer": body}


@when(parsers.parse('the user submits a grid sweep with fast "{fast}" and slow "{slow}"'), target_fixture="opt")
def _grid(client: Any, me: support.User, backtest: dict, fast: str, slow: str) -> dict[str, Any]:
    body = {"mode": "grid", "gridSpec": {"fast": _ints(fast), "slow": _ints(slow)}}
    return _submitted(_sweep(client, me, backtest, body))


@when(
    parsers.parse(
        'the user submits a grid sweep with fast "{fast}" and slow "{slow}" in batches of {size:d}, one at a time'
    ),
    target_fixture="opt",
)
def _grid_batches(client: Any, me: support.User, backtest: dict, fast: str, slow: str, size: int) -> dict[str, Any]:
    body = {
        "mode": "grid",
        "gridSpec": {"fast": _ints(fast), "slow": _ints(slow)},
        "batch_size": size,
        "concurrency_limit": 1,
    }
    return _submitted(_sweep(client, me, backtest, body))


@when(
    "the user submits a grid sweep with fast from 5 to 50 step 5 and slow from 20 to 200 step 20",
    target_fixture="opt",
)
def _grid_ranges(client: Any, me: support.User, backtest: dict) -> dict[str, Any]:
    return _submitted(_sweep(client, me, backtest, {"mode": "grid", "gridSpec": RANGES}))


@when(
    parsers.parse(
        "the user submits a grid sweep with fast from 5 to 50 step 5 and slow from 20 to 200 step 20, "
        "max_evals {max_evals:d} and batch size {size:d}"
    ),
    target_fixture="opt",
)
def _grid_capped(client: Any, me: support.User, backtest: dict, max_evals: int, size: int) -> dict[str, Any]:
    body = {"mode": "grid", "gridSpec": RANGES, "max_evals": max_evals, "batch_size": size}
    return _submitted(_sweep(client, me, backtest, body))


@when(
    parsers.parse(
        "the user submits a grid sweep with fast from 5 to 50 step 5 and slow from 20 to 200 step 20, "
        "a budget of {budget:d} ms and batch size {size:d}"
    ),
    target_fixture="opt",
)
def _grid_budget(client: Any, me: support.User, backtest: dict, budget: int, size: int) -> dict[str, Any]:
    body = {"mode": "grid", "gridSpec": RANGES, "budget_ms": budget, "batch_size": size}
    return _submitted(_sweep(client, me, backtest, body))


@when(
    parsers.parse("the user previews a grid sweep with fast from 5 to 50 step 5 and slow from 20 to 200 step 20"),
    target_fixture="answer",
)
def _preview(client: Any, me: support.User, backtest: dict) -> httpx.Response:
    return _sweep(client, me, backtest, {"mode": "grid", "gridSpec": RANGES, "dry_run": True})


@when(
    parsers.parse(
        'the user sweeps days "{days}" ranking by exposure with patience {patience:d}, one combination per batch'
    ),
    target_fixture="opt",
)
def _stub_early(client: Any, me: support.User, backtest: dict, days: str, patience: int) -> dict[str, Any]:
    body = {
        "mode": "grid",
        "gridSpec": {"days": _ints(days)},
        "early_stop": {"metric": "exposure", "mode": "max", "patience": patience},
        "batch_size": 1,
        "concurrency_limit": 1,
    }
    return _submitted(_sweep(client, me, backtest, body))


@when(parsers.parse('the user sweeps days "{days}" ranking by exposure'), target_fixture="opt")
def _stub_sweep(client: Any, me: support.User, backtest: dict, days: str) -> dict[str, Any]:
    body = {"mode": "grid", "gridSpec": {"days": _ints(days)}, "objective": {"metric": "exposure", "mode": "max"}}
    return _submitted(_sweep(client, me, backtest, body))


@when(parsers.parse("the user submits a random sweep of {n:d} points with seed {seed:d} twice"), target_fixture="opt")
def _random_twice(client: Any, me: support.User, backtest: dict, n: int, seed: int) -> dict[str, Any]:
    body = {"mode": "random", "space": SPACE, "n": n, "seed": seed}
    first, second = (_submitted(_sweep(client, me, backtest, body)) for _ in range(2))
    return {**first, "others": [second]}


@when(
    parsers.parse("the user submits a bayes sweep of {n:d} points with seed {seed:d} in batches of {size:d}"),
    target_fixture="opt",
)
def _bayes(client: Any, me: support.User, backtest: dict, n: int, seed: int, size: int) -> dict[str, Any]:
    body = {"mode": "bayes", "space": SPACE, "n": n, "seed": seed, "batch_size": size, "concurrency_limit": 1}
    return _submitted(_sweep(client, me, backtest, body))


# --- running -------------------------------------------------------------------------------------------


@then("the sweep's batches run", target_fixture="opt")
@when("the sweep's batches run", target_fixture="opt")
def _run_all(bt: Container, client: Any, me: support.User, opt: dict) -> dict[str, Any]:
    for item in [opt, *opt.get("others", [])]:
        item["read"] = _run_batches(bt, client, me, item["id"])
    return opt


@when("the first batch runs", target_fixture="opt")
def _run_first(bt: Container, client: Any, me: support.User, opt: dict) -> dict[str, Any]:
    opt["read"] = _run_batches(bt, client, me, opt["id"], limit=1)
    return opt


@when("the first batch runs after the budget is spent", target_fixture="opt")
def _run_late(bt: Container, client: Any, me: support.User, opt: dict) -> dict[str, Any]:
    elapsed = (time.time() - _ts(_read(client, me, opt["id"])["created_at"])) * 1000
    time.sleep(max(0.0, 1.05 - elapsed / 1000))
    opt["read"] = _run_batches(bt, client, me, opt["id"], limit=1)
    return opt


def _ts(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


@when("the user cancels the sweep twice", target_fixture="cancels")
def _cancel_twice(client: Any, me: support.User, opt: dict) -> list[int]:
    url = f"/api/optimizations/{opt['id']}:cancel"
    return [client.post(url, headers=me.headers).status_code for _ in range(2)]


@when("the user promotes the best result", target_fixture="promoted")
def _promote(client: Any, me: support.User, opt: dict) -> dict[str, Any]:
    best = _read(client, me, opt["id"])["best"]
    response = client.post(f"/api/optimizations/{opt['id']}/results/{best['index']}:promote", headers=me.headers)
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"run_ids"}
    return {"best": best, "run_id": response.json()["run_ids"][0]}


# --- outcomes ------------------------------------------------------------------------------------------


@then(parsers.parse('the sweep ended "{status}" with {evaluated:d} of {total:d} evaluations'))
def _ended(client: Any, me: support.User, opt: dict, status: str, evaluated: int, total: int) -> None:
    read = _read(client, me, opt["id"])
    assert (read["status"], read["evaluated"], read["total"]) == (status, evaluated, total), read
    assert read["budget"]["evaluations"] == evaluated and read["finished_at"] is not None
    assert _results(client, me, opt["id"])["total"] == evaluated


@then(parsers.parse("the sweep ran {count:d} batches"))
def _batches(client: Any, me: support.User, opt: dict, count: int) -> None:
    batches = _read(client, me, opt["id"])["batches"]
    assert [b["status"] for b in batches] == ["succeeded"] * count
    assert all(b["timing"]["data_ms"] >= 0 and b["timing"]["writes_ms"] >= 0 for b in batches)


@then("there is one result row per combination with its params and the summary metrics")
def _rows(client: Any, me: support.User, opt: dict) -> None:
    rows = _results(client, me, opt["id"])["items"]
    assert sorted((r["params"]["fast"], r["params"]["slow"]) for r in rows) == [
        (f, s) for f in (5, 10, 20) for s in (30, 60)
    ]
    assert sorted(r["index"] for r in rows) == list(range(6))
    for row in rows:
        assert row["status"] == "succeeded" and row["error"] is None
        assert {"total_return", "sharpe", "max_drawdown", "trade_count", "excess_return"} <= set(row["metrics"])


@then("the best so far is the result with the highest sharpe")
def _best(client: Any, me: support.User, opt: dict) -> None:
    rows = _results(client, me, opt["id"])["items"]
    top = max(rows, key=lambda r: r["metrics"]["sharpe"])
    best = _read(client, me, opt["id"])["best"]
    assert (best["index"], best["params"], best["metric"]) == (top["index"], top["params"], top["metrics"]["sharpe"])


@then(
    parsers.parse(
        'the preview shows {combos:d} combinations, {rejected:d} rejected for "{reason}" and {evals:d} evaluations'
    )
)
def _preview_shows(answer: httpx.Response, combos: int, rejected: int, reason: str, evals: int) -> None:
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert "optimization_id" not in body and body["run_ids"] == []
    preview = body["preview"]
    assert (preview["combinations"], preview["rejected"], preview["evaluations"]) == (combos, rejected, evals)
    assert preview["rejected_reasons"] == {reason: rejected}
    assert all(r["params"]["fast"] >= r["params"]["slow"] for r in preview["rejected_sample"])
    assert preview["estimated_ms"] > 0 and preview["check_params"] == "checked"


@then("no optimisation was created")
def _none_created(client: Any, me: support.User) -> None:
    listed = client.get("/api/optimizations", headers=me.headers).json()
    assert listed["total"] == 0, listed


@then(parsers.parse('the reason says "{text}"'))
def _reason(client: Any, me: support.User, opt: dict, text: str) -> None:
    assert text in _read(client, me, opt["id"])["reason"]


@then(parsers.parse("the best so far has days {days:d}"))
def _best_days(client: Any, me: support.User, opt: dict, days: int) -> None:
    assert _read(client, me, opt["id"])["best"]["params"]["days"] == days


@then(parsers.parse('the result with days {days:d} failed with the message "{message}"'))
def _failed_row(client: Any, me: support.User, opt: dict, days: int, message: str) -> None:
    rows = _results(client, me, opt["id"])["items"]
    [row] = [r for r in rows if r["params"]["days"] == days]
    assert row["status"] == "failed" and row["metrics"] is None
    assert message in row["error"]["message"] or message in str(row["error"]["details"])
    assert all(r["status"] == "succeeded" for r in rows if r is not row)
    assert _read(client, me, opt["id"])["failed"] == 1


@then("both cancels answer 204")
def _cancels(cancels: list[int]) -> None:
    assert cancels == [204, 204]


@then("the queued batch's job is cancelled and running it does nothing")
def _queued_cancelled(bt: Container, client: Any, me: support.User, opt: dict) -> None:
    batches = _read(client, me, opt["id"])["batches"]
    assert [b["status"] for b in batches] == ["succeeded", "cancelled"]
    job = client.get(f"/api/jobs/{batches[1]['job_id']}", headers=me.headers).json()
    assert job["status"] == "cancelled" and job["parent_id"] == opt["id"]
    assert _run_job(bt, batches[1]["job_id"]) is None
    assert _read(client, me, opt["id"])["evaluated"] == 2


@then("a single run with the best result's params is queued")
def _promoted_run(client: Any, me: support.User, promoted: dict) -> None:
    run = support.read_run(client, me, promoted["run_id"])
    assert run["params"] == promoted["best"]["params"] and run["status"] == "queued"


@then("the run succeeds with all its artifacts")
def _promoted_ran(bt: Container, client: Any, me: support.User, promoted: dict) -> None:
    run = support.read_run(client, me, promoted["run_id"])
    assert _run_job(bt, run["job_id"]) == "succeeded"
    run = support.read_run(client, me, promoted["run_id"])
    assert sorted(run["artifacts"]) == ["equity", "fills", "logs", "orders", "positions", "trades"]
    assert run["stats"]["sharpe"] == promoted["best"]["metric"]


def _heatmap(client: Any, me: support.User, opt: dict) -> dict[str, Any]:
    response = client.get(
        f"/api/optimizations/{opt['id']}/heatmap",
        params={"x": "fast", "y": "slow", "metric": "sharpe"},
        headers=me.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


@then(parsers.parse('the heatmap of sharpe over fast and slow has the x values "{xs}" and the y values "{ys}"'))
def _heatmap_axes(client: Any, me: support.User, opt: dict, xs: str, ys: str) -> None:
    heat = _heatmap(client, me, opt)
    assert (heat["x_values"], heat["y_values"]) == (_ints(xs), _ints(ys))
    assert heat["aggregation"].startswith("best")


@then("every heatmap cell is the sharpe of its result and the cells of fast 40 are null")
def _heatmap_cells(client: Any, me: support.User, opt: dict) -> None:
    heat = _heatmap(client, me, opt)
    by_pair = {
        (r["params"]["fast"], r["params"]["slow"]): r["metrics"]["sharpe"]
        for r in _results(client, me, opt["id"])["items"]
    }
    for i, slow in enumerate(heat["y_values"]):
        for j, fast in enumerate(heat["x_values"]):
            assert heat["z"][i][j] == by_pair.get((fast, slow)), (fast, slow)
    assert [row[2] for row in heat["z"]] == [None, None]


@then("the results come best sharpe first by default")
def _default_order(client: Any, me: support.User, opt: dict) -> None:
    values = [r["metrics"]["sharpe"] for r in _results(client, me, opt["id"])["items"]]
    assert values == sorted(values, reverse=True)
    top = _results(client, me, opt["id"], limit=2)["items"]
    assert [r["metrics"]["sharpe"] for r in top] == values[:2]


@then("sorted by max_drawdown ascending they are in ascending order")
def _sorted(client: Any, me: support.User, opt: dict) -> None:
    rows = _results(client, me, opt["id"], sort="max_drawdown", order="asc")["items"]
    values = [r["metrics"]["max_drawdown"] for r in rows]
    assert values == sorted(values) and len(values) == 6


@then(parsers.parse('filtered by "{expr}" every row has trades'))
def _filtered(client: Any, me: support.User, opt: dict, expr: str) -> None:
    page = _results(client, me, opt["id"], filter=expr)
    everything = _results(client, me, opt["id"])["items"]
    assert page["total"] == sum(1 for r in everything if r["metrics"]["trade_count"] > 0)
    assert all(r["metrics"]["trade_count"] > 0 for r in page["items"])


@then(parsers.parse('the CSV of the results has a header starting "{header}" and {rows:d} rows'))
def _csv(client: Any, me: support.User, opt: dict, header: str, rows: int) -> None:
    response = client.get(f"/api/optimizations/{opt['id']}/results", params={"format": "csv"}, headers=me.headers)
    assert response.status_code == 200 and response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM: Excel in a Chinese locale reads UTF-8
    text = response.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith(header)
    assert len(list(csv.DictReader(io.StringIO(text)))) == rows
    sheet = client.get(f"/api/optimizations/{opt['id']}/results", params={"format": "xlsx"}, headers=me.headers)
    assert sheet.status_code == 200 and sheet.headers["content-disposition"].endswith('-results.xlsx"')
    cells = list(openpyxl.load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert ",".join(map(str, cells[0])).startswith(header) and len(cells) == rows + 1
    assert all(type(row[0]) is int for row in cells[1:])  # the index, typed


def _points(client: Any, me: support.User, opt_id: str) -> list[tuple[int, dict]]:
    return sorted((r["index"], r["params"]) for r in _results(client, me, opt_id)["items"])


def _inside(params: dict) -> bool:
    return 5 <= params["fast"] <= 20 and 30 <= params["slow"] <= 60


@then(parsers.parse("both sweeps evaluate the same {n:d} parameter sets, all inside the space"))
def _same_points(client: Any, me: support.User, opt: dict, n: int) -> None:
    first, second = (_points(client, me, o["id"]) for o in [opt, *opt["others"]])
    assert first == second and len(first) == n
    assert all(_inside(p) for _, p in first)
    assert len({(p["fast"], p["slow"]) for _, p in first}) > 1


@then("every evaluated point is inside the space")
def _bayes_inside(client: Any, me: support.User, opt: dict) -> None:
    points = _points(client, me, opt["id"])
    assert all(_inside(p) and isinstance(p["fast"], int) for _, p in points)


@then(parsers.parse("the diagnostics report a deflated Sharpe ratio and a PBO between 0 and 1 over {n:d} evaluations"))
def _diagnostics(client: Any, me: support.User, opt: dict, n: int) -> None:
    diag = _read(client, me, opt["id"])["diagnostics"]
    assert diag["evaluations"] == n and diag["deflated_sharpe"]["trials"] <= n
    assert 0.0 <= diag["deflated_sharpe"]["dsr"] <= 1.0
    assert 0.0 <= diag["pbo"]["pbo"] <= 1.0 and diag["pbo"]["splits"] == 70


# --- bad input, tenancy, idempotency -------------------------------------------------------------------

BAD = {
    "an unknown parameter name": {"mode": "grid", "gridSpec": {"foo": [1, 2]}},
    "a value outside the bounds": {"mode": "grid", "gridSpec": {"fast": [1, 5], "slow": [30]}},
    "every combination rejected": {"mode": "grid", "gridSpec": {"fast": [50, 60], "slow": [20, 30]}},
    "too many combinations": {
        "mode": "grid",
        "gridSpec": {"fast": {"start": 2, "stop": 200, "step": 0.5}, "slow": {"start": 3, "stop": 400, "step": 1}},
    },
    "an early stop on no metric": {
        "mode": "grid",
        "gridSpec": {"fast": [5]},
        "early_stop": {"metric": "luck", "patience": 3},
    },
    "max_evals 0": {"mode": "grid", "gridSpec": {"fast": [5]}, "max_evals": 0},
    "a random sweep without n": {"mode": "random", "space": SPACE},
    "a walk-forward longer than the window": {
        "mode": "grid",
        "gridSpec": {"fast": [5]},
        "validation": {"walk_forward": {"train": "2y", "test": "6m"}},
    },
    "a walk-forward test of no unit": {
        "mode": "grid",
        "gridSpec": {"fast": [5]},
        "validation": {"walk_forward": {"train": "6m", "test": "3"}},
    },
    "walk-forward tests that overlap": {
        "mode": "grid",
        "gridSpec": {"fast": [5]},
        "validation": {"walk_forward": {"train": "6m", "test": "3m", "step": "1m"}},
    },
    "a split outside the window": {"mode": "grid", "gridSpec": {"fast": [5]}, "validation": {"split": "2025-01-01"}},
    "a bayes sweep with validation": {
        "mode": "bayes",
        "space": SPACE,
        "n": 4,
        "validation": {"split": "2024-01-01"},
    },
}


@when(parsers.parse("the user submits a sweep with {problem}"), target_fixture="answer")
def _bad(client: Any, me: support.User, backtest: dict, problem: str) -> httpx.Response:
    return _sweep(client, me, backtest, BAD[problem])


@then(parsers.parse('the answer is 422 INVALID_INPUT naming "{field}"'))
def _invalid(answer: httpx.Response, field: str) -> None:
    error = support.envelope(answer, 422, "INVALID_INPUT")
    assert error["details"]["field"] == field, error


@then("every optimisation route answers 404 NOT_FOUND to the other user")
def _tenancy(client: Any, other: support.User, opt: dict) -> None:
    base = f"/api/optimizations/{opt['id']}"
    answers = [
        client.get(base, headers=other.headers),
        client.get(base + "/results", headers=other.headers),
        client.get(base + "/results", params={"format": "csv"}, headers=other.headers),
        client.get(base + "/heatmap", params={"x": "fast", "y": "slow"}, headers=other.headers),
        client.post(base + ":cancel", headers=other.headers),
        client.post(base + "/results/0:promote", headers=other.headers),
        client.get(base + "/events", headers=other.headers),
    ]
    for response in answers:
        support.envelope(response, 404, "NOT_FOUND")
    assert client.get("/api/optimizations", headers=other.headers).json()["total"] == 0


@then("a sweep of the user's backtest by the other user is 404 NOT_FOUND")
def _tenancy_submit(client: Any, other: support.User, backtest: dict) -> None:
    support.envelope(_sweep(client, other, backtest, {"mode": "grid", "gridSpec": {"fast": [5]}}), 404, "NOT_FOUND")


@when(
    parsers.parse('the user submits the same grid sweep twice with the Idempotency-Key "{key}"'),
    target_fixture="answers",
)
def _twice(client: Any, me: support.User, backtest: dict, key: str) -> list[httpx.Response]:
    body = {"mode": "grid", "gridSpec": {"fast": [5, 10], "slow": [30]}}
    return [_sweep(client, me, backtest, body, key=key) for _ in range(2)]


@then("both answers carry the same optimization_id")
def _same_id(answers: list[httpx.Response]) -> None:
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json()["optimization_id"] == answers[1].json()["optimization_id"]


@then(parsers.parse("the user has {count:d} optimisation"))
def _count(client: Any, me: support.User, count: int) -> None:
    assert client.get("/api/optimizations", headers=me.headers).json()["total"] == count


# --- walk-forward / split validation -------------------------------------------------------------------


@when(
    parsers.parse(
        'the user submits a grid sweep with fast "{fast}" and slow "{slow}" validated walk-forward with '
        'train "{train}", test "{test}" and step "{step}"'
    ),
    target_fixture="opt",
)
def _grid_walk_forward(
    client: Any, me: support.User, backtest: dict, fast: str, slow: str, train: str, test: str, step: str
) -> dict[str, Any]:
    body = {
        "mode": "grid",
        "gridSpec": {"fast": _ints(fast), "slow": _ints(slow)},
        "validation": {"walk_forward": {"train": train, "test": test, "step": step}},
    }
    submitted = _submitted(_sweep(client, me, backtest, body))
    planned = _read(client, me, submitted["id"])["spec"]["validation"]["folds"]
    assert submitted["answer"]["preview"]["folds"] == planned and planned  # shown before anything runs
    return {**submitted, "grid": body["gridSpec"]}


@when(
    parsers.parse(
        'the user submits a grid sweep with fast "{fast}" and slow "{slow}" validated with the split "{day}"'
    ),
    target_fixture="opt",
)
def _grid_split(client: Any, me: support.User, backtest: dict, fast: str, slow: str, day: str) -> dict[str, Any]:
    body = {"mode": "grid", "gridSpec": {"fast": _ints(fast), "slow": _ints(slow)}, "validation": {"split": day}}
    return {**_submitted(_sweep(client, me, backtest, body)), "grid": body["gridSpec"]}


def _validation(client: Any, me: support.User, opt: dict) -> dict[str, Any]:
    read = _read(client, me, opt["id"])
    assert read["status"] == "succeeded" and read["validation"] is not None, read
    assert "error" not in read["validation"], read["validation"]
    return read["validation"]


def _windowed_backtest(client: Any, me: support.User, start: str, end: str, of: dict | None = None) -> dict[str, Any]:
    """A backtest like the sample one (of the strategy version of `of`, when given) on another window."""
    ref = {"version_id": of["strategy"]["version_id"], "params": of["params"]} if of else None
    body = support.backtest_body(window={"start": start, "end": end}, **({"strategyRef": ref} if ref else {}))
    response = client.post("/api/backtests", json=body, headers=me.headers)
    assert response.status_code == 201, response.text
    return response.json()["backtest"]


@then("the validation has the folds")
def _folds(client: Any, me: support.User, opt: dict, datatable: list[list[str]]) -> None:
    header, *rows = datatable
    folds = _validation(client, me, opt)["folds"]
    assert [{k: f[k] for k in header} for f in folds] == [dict(zip(header, r, strict=True)) for r in rows]


@then("each fold's best params are the best of the same grid swept on its training window")
def _fold_train(bt: Container, client: Any, me: support.User, opt: dict) -> None:
    for fold in _validation(client, me, opt)["folds"]:
        train = _windowed_backtest(client, me, fold["train_start"], fold["train_end"])
        alone = _submitted(_sweep(client, me, train, {"mode": "grid", "gridSpec": opt["grid"]}))
        best = _run_batches(bt, client, me, alone["id"])["best"]
        assert (fold["best_params"], fold["in_sample"]) == (best["params"], best["metric"]), fold


@then(
    parsers.parse(
        "each fold's out-of-sample {metric} is the {metric2} of a single run of its best params on its test window"
    )
)
def _fold_test(bt: Container, client: Any, me: support.User, backtest: dict, opt: dict, metric: str) -> None:
    for fold in _validation(client, me, opt)["folds"]:
        test = _windowed_backtest(client, me, fold["test_start"], fold["test_end"], of=backtest)
        answer = support.submit(client, me, test, fold["best_params"])
        assert answer.status_code == 201, answer.text
        run_id = answer.json()["run_ids"][0]
        assert _run_job(bt, support.read_run(client, me, run_id)["job_id"]) == "succeeded"
        stats = support.read_run(client, me, run_id)["stats"]
        assert fold["out_of_sample"] == stats[metric] and fold["out_of_sample_metrics"][metric] == stats[metric]


@then("the stitched out-of-sample curve compounds the test windows' returns")
def _stitched(client: Any, me: support.User, opt: dict) -> None:
    validation = _validation(client, me, opt)
    curve = validation["out_of_sample"]["equity"]
    dates = [p["date"] for p in curve]
    assert dates == sorted(dates) and len(set(dates)) == len(dates)
    for fold in validation["folds"]:
        inside = [p for p in curve if fold["test_start"] <= p["date"] <= fold["test_end"]]
        assert inside, fold
    growth = 1.0
    for fold in validation["folds"]:
        growth *= 1.0 + fold["out_of_sample_metrics"]["total_return"]
    assert curve[-1]["equity"] / 1_000_000.0 == pytest.approx(growth, rel=1e-5)
    assert validation["out_of_sample"]["metrics"]["total_return"] == pytest.approx(
        growth - 1.0, rel=1e-5
    )  # float32 daily returns
    assert dates[0] >= validation["folds"][0]["test_start"]


@then(
    parsers.parse(
        '"huice backtest optimization show" prints the {count:d} folds and the stitched out-of-sample metrics'
    )
)
def _cli_show(bt: Container, me: support.User, opt: dict, count: int) -> None:
    from typer.testing import CliRunner

    from huice.cli import app

    env = {**support.worker_env(bt), "HUICE_API_KEY": support.api_key_for(bt, me), "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["backtest", "optimization", "show", opt["id"]], env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "out-of-sample validation (walk-forward" in result.stdout
    for fold in range(count):
        assert f"{opt['read']['validation']['folds'][fold]['test_start']}.." in result.stdout
    assert "stitched out-of-sample: sharpe" in result.stdout
    shown = CliRunner().invoke(app, ["backtest", "optimization", "show", opt["id"], "--json"], env=env)
    assert len(json.loads(shown.stdout)["validation"]["folds"]) == count


# --- progress events -----------------------------------------------------------------------------------


def _run_rest_slowly(bt: Container, me: support.User, opt_id: str) -> None:
    """The remaining batches, one every 0.8 s (longer than the stream's poll), through the service."""
    from backtest import service

    while True:
        time.sleep(0.8)
        with bt.db.transaction() as session:
            read = service.get_optimization(session, env_of(bt), me.principal, uuid.UUID(opt_id))
        queued = [b for b in read.batches if b.status == "queued"]
        if not queued or read.status in TERMINAL:
            return
        _run_job(bt, str(queued[0].job_id))


@when("the user follows the sweep's events while the other batches run", target_fixture="events")
def _follow_events(bt: Container, client: Any, me: support.User, opt: dict) -> list[tuple[str, dict]]:
    import threading

    runner = threading.Thread(target=_run_rest_slowly, args=(bt, me, opt["id"]), daemon=True)
    events: list[tuple[str, dict]] = []
    with client.stream("GET", f"/api/optimizations/{opt['id']}/events", headers=me.headers) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        runner.start()
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind, json.loads(line.removeprefix("data: "))))
    runner.join(timeout=30)
    return events


@then(parsers.parse("the events start with a snapshot of {evaluated:d} of {total:d} evaluations"))
def _first_event(events: list[tuple[str, dict]], evaluated: int, total: int) -> None:
    kind, data = events[0]
    assert (kind, data["evaluated"], data["total"], data["status"]) == ("snapshot", evaluated, total, "running")


@then(
    parsers.parse(
        'the evaluated counts in the events rise to {evaluated:d} and the last event is "{status}" with the best so far'
    )
)
def _last_event(client: Any, me: support.User, opt: dict, events: list, evaluated: int, status: str) -> None:
    counts = [data["evaluated"] for _, data in events]
    assert counts == sorted(counts) and counts[-1] == evaluated, events
    assert {kind for kind, _ in events} <= {"snapshot", "progress", "status", status}
    assert any(kind == "progress" for kind, _ in events[1:]), events
    kind, data = events[-1]
    assert (kind, data["status"]) == (status, status)
    assert data["best"] == _read(client, me, opt["id"])["best"]


# --- a batch job ending without finishing --------------------------------------------------------------


@when("the first batch's job is cancelled on the job runtime")
def _cancel_batch_job(bt: Container, client: Any, me: support.User, opt: dict) -> None:
    from backtest import repository as repo

    with bt.db.transaction() as session:
        [task] = repo.tasks_of(session, uuid.UUID(opt["id"]))
        job_id = task.job_id
    response = client.post(f"/api/jobs/{job_id}/cancel", headers=me.headers)
    assert response.status_code == 200 and response.json()["status"] == "cancelled", response.text


@then("in the database, before anyone reads the sweep, the first batch is cancelled and the second is queued")
def _moved_on(bt: Container, opt: dict) -> None:
    from backtest import repository as repo

    with bt.db.transaction() as session:
        tasks = repo.tasks_of(session, uuid.UUID(opt["id"]))
        seen = [(t.batch_index, t.status, t.job_id is not None, len(t.points)) for t in tasks]
    assert seen == [(0, "cancelled", True, 2), (1, "queued", True, 2)], seen


@when(
    parsers.parse('the user sweeps days "{days}" ranking by exposure validated with the split "{day}"'),
    target_fixture="opt",
)
def _stub_split(client: Any, me: support.User, backtest: dict, days: str, day: str) -> dict[str, Any]:
    body = {
        "mode": "grid",
        "gridSpec": {"days": _ints(days)},
        "objective": {"metric": "exposure", "mode": "max"},
        "validation": {"split": day},
    }
    return _submitted(_sweep(client, me, backtest, body))


@then(parsers.parse("the fold's best params have days {days:d}"))
def _fold_best_days(client: Any, me: support.User, opt: dict, days: int) -> None:
    [fold] = _validation(client, me, opt)["folds"]
    assert fold["best_params"]["days"] == days and fold["in_sample"] > 0


# --- the sweep's report (sweep_report.feature) ---------------------------------------------------------

scenarios("backtest/features/sweep_report.feature")
REPORT_DATA = re.compile(r'<script type="application/json" id="report-data">(.*?)</script>', re.S)
URL_ATTRIBUTE = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


def _report(client: Any, user: support.User, opt_id: str, **params: Any) -> httpx.Response:
    return client.get(f"/api/optimizations/{opt_id}/report", params=params, headers=user.headers)


def _report_data(page: str) -> dict[str, Any]:
    [found] = REPORT_DATA.findall(page)
    return json.loads(found)


@when("the user downloads the sweep's report", target_fixture="answer")
def _download_report(client: Any, me: support.User, opt: dict) -> httpx.Response:
    return _report(client, me, opt["id"])


@when(
    parsers.parse('the user downloads the sweep\'s report with x "{x}", y "{y}" and metric "{metric}"'),
    target_fixture="answer",
)
def _download_report_of(client: Any, me: support.User, opt: dict, x: str, y: str, metric: str) -> httpx.Response:
    return _report(client, me, opt["id"], x=x, y=y, metric=metric)


@then("the sweep report is 200 text/html with the disclaimer and loads nothing from any URL")
def _report_page(answer: httpx.Response) -> None:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert "connect-src 'none'" in answer.headers["content-security-policy"]
    page = answer.text
    assert "参数优化报告" in page and "研究用途，不构成投资建议" in page
    assert not URL_ATTRIBUTE.search(page), URL_ATTRIBUTE.search(page)
    assert "@import" not in page and "url(http" not in page
    [policy] = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert "default-src 'none'" in html.unescape(policy) and "connect-src 'none'" in html.unescape(policy)


@then(parsers.parse('the report\'s heatmap is the sweep\'s heatmap of {metric} with x "{x}" and y "{y}"'))
def _report_heatmap(client: Any, me: support.User, opt: dict, answer: httpx.Response, metric: str, x: str, y: str):
    assert answer.status_code == 200, answer.text
    served = client.get(
        f"/api/optimizations/{opt['id']}/heatmap", params={"x": x, "y": y, "metric": metric}, headers=me.headers
    )
    assert served.status_code == 200, served.text
    assert _report_data(answer.text)["heatmap"] == served.json()
    assert any(v is not None for row in served.json()["z"] for v in row)


@then("the report's Top-N table lists the first results in the order of the results")
def _report_top(client: Any, me: support.User, opt: dict, answer: httpx.Response) -> None:
    items = _results(client, me, opt["id"], limit=20)["items"]
    body = answer.text.split('<section id="top">')[1].split("</section>")[0]
    shown = [int(i) for i in re.findall(r"<tr><td>(\d+)</td>", body)]
    assert shown == [r["index"] for r in items] and len(shown) == _read(client, me, opt["id"])["evaluated"]
    assert f"{items[0]['metrics']['sharpe']:,.2f}" in body


@then("the report shows the sweep's status, deflated Sharpe ratio and PBO")
def _report_diagnostics(client: Any, me: support.User, opt: dict, answer: httpx.Response) -> None:
    read = _read(client, me, opt["id"])
    diagnostics = read["diagnostics"]
    assert diagnostics["evaluations"] == read["evaluated"] == 11
    page = answer.text
    assert f"已完成（{read['status']}）" in page
    assert f'<td id="dsr">{diagnostics["deflated_sharpe"]["dsr"]:,.4f}</td>' in page
    assert f'<td id="pbo">{diagnostics["pbo"]["pbo"] * 100:.1f}%</td>' in page


@then(parsers.parse('the sweep\'s report with x "{x}" is 422 INVALID_INPUT naming "{field}"'))
def _report_bad_axis(client: Any, me: support.User, opt: dict, x: str, field: str) -> None:
    error = support.envelope(_report(client, me, opt["id"], x=x), 422, "INVALID_INPUT")
    assert error["details"]["field"] == field


@then("the other user's request for the sweep's report is 404 NOT_FOUND")
def _report_other(client: Any, other: support.User, me: support.User, opt: dict) -> None:
    assert _report(client, me, opt["id"]).status_code == 200
    error = support.envelope(_report(client, other, opt["id"]), 404, "NOT_FOUND")
    assert error["details"] == {"optimization_id": opt["id"]}


@when(
    parsers.parse('the user writes the sweep\'s report with the CLI to "{name}" with x "{x}" and y "{y}"'),
    target_fixture="written",
)
def _cli_report(cli_env: dict[str, Any], opt: dict, name: str, x: str, y: str) -> dict[str, Any]:
    from typer.testing import CliRunner

    from huice.cli import app

    path = os.path.join(cli_env["names"]["dir"], name)
    args = ["backtest", "optimization", "report", opt["id"], "--out", path, "--x", x, "--y", y, "--json"]
    result = CliRunner().invoke(app, args, env=cli_env["env"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return {"path": path, "x": x, "y": y, "answer": json.loads(result.stdout)}


@then(parsers.parse('the file is the sweep\'s report with the heatmap of sharpe with x "{x}" and y "{y}"'))
def _cli_report_file(client: Any, me: support.User, opt: dict, written: dict, x: str, y: str) -> None:
    with open(written["path"], encoding="utf-8") as f:
        page = f.read()
    assert written["answer"]["bytes"] == len(page.encode("utf-8")) and written["answer"]["type"] == "sweep_report"
    assert "参数优化报告" in page
    served = client.get(f"/api/optimizations/{opt['id']}/heatmap", params={"x": x, "y": y}, headers=me.headers)
    assert _report_data(page)["heatmap"] == served.json()


# --- sharing a sweep -----------------------------------------------------------------------------------


def _share_sweep(client: Any, user: support.User, opt_id: str, body: dict) -> httpx.Response:
    return client.post(f"/api/optimizations/{opt_id}/shares", json=body, headers=user.headers)


def _shares_of(client: Any, user: support.User) -> list[dict[str, Any]]:
    answer = client.get("/api/shares", headers=user.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


@when(parsers.parse('the user shares the sweep for "{expires}"'), target_fixture="shared")
def _share_the_sweep(client: Any, me: support.User, opt: dict, expires: str) -> httpx.Response:
    return _share_sweep(client, me, opt["id"], {"expires_in": expires})


@then("the answer is 201 with a sweep link, its token and an expiry 1 day ahead")
def _sweep_shared(shared: httpx.Response, opt: dict) -> None:
    assert shared.status_code == 201, shared.text
    body = shared.json()
    assert body["token"].startswith("hs_") and body["url"].endswith(f"/s/{body['token']}")
    assert (body["optimization_id"], body["run_id"], body["status"], body["visits"]) == (opt["id"], None, "active", 0)
    ahead = datetime.fromisoformat(body["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=1) - timedelta(minutes=1) < ahead <= timedelta(days=1)


@then("the sweep link's page opens without login as the sweep's report, and its data answer is 404")
def _sweep_link_opens(client: Any, me: support.User, opt: dict, shared: httpx.Response) -> None:
    token = shared.json()["token"]
    page = client.get(f"/s/{token}")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    assert "connect-src 'none'" in page.headers["content-security-policy"]
    assert "参数优化报告" in page.text and opt["id"] in page.text
    served = client.get(
        f"/api/optimizations/{opt['id']}/heatmap", params={"x": "fast", "y": "slow"}, headers=me.headers
    )
    assert _report_data(page.text)["heatmap"] == served.json()
    assert "def generate" not in page.text and str(me.id) not in page.text
    support.envelope(client.get(f"/api/shared/{token}"), 404, "NOT_FOUND")


@then("the user's shares list the sweep link as active with 1 visit and without its token")
def _sweep_link_listed(client: Any, me: support.User, shared: httpx.Response) -> None:
    items = _shares_of(client, me)
    [item] = [i for i in items if i["id"] == shared.json()["id"]]
    assert (item["status"], item["visits"], item["optimization_id"]) == ("active", 1, shared.json()["optimization_id"])
    assert "token" not in item and shared.json()["token"] not in json.dumps(items)


@then(parsers.parse('once the user revokes the sweep link its page answers 404 NOT_FOUND "{message}"'))
def _sweep_link_revoked(client: Any, me: support.User, shared: httpx.Response, message: str) -> None:
    assert client.delete(f"/api/shares/{shared.json()['id']}", headers=me.headers).status_code == 200
    error = support.envelope(client.get(f"/s/{shared.json()['token']}"), 404, "NOT_FOUND")
    assert error["message"] == message


@then(parsers.parse('sharing the sweep without an expiry or for "{too_long}" is 422 INVALID_INPUT naming "{field}"'))
def _sweep_share_expiry(client: Any, me: support.User, opt: dict, too_long: str, field: str) -> None:
    for body in ({}, {"expires_in": too_long}):
        error = support.envelope(_share_sweep(client, me, opt["id"], body), 422, "INVALID_INPUT")
        assert error["details"]["field"] == field, error
    assert _shares_of(client, me) == []


@then("the other user sharing the sweep answers 404 NOT_FOUND and the user has no link")
def _sweep_share_other(client: Any, me: support.User, other: support.User, opt: dict) -> None:
    support.envelope(_share_sweep(client, other, opt["id"], {"expires_in": "1d"}), 404, "NOT_FOUND")
    assert _shares_of(client, me) == [] and _shares_of(client, other) == []


@then(
    parsers.parse(
        'the link the CLI prints for "optimization share ID --expires {expires}" '
        "opens the sweep's report without login"
    )
)
def _cli_share(client: Any, cli_env: dict[str, Any], opt: dict, expires: str) -> None:
    from typer.testing import CliRunner

    from huice.cli import app

    args = ["backtest", "optimization", "share", opt["id"], "--expires", expires]
    result = CliRunner().invoke(app, args, env=cli_env["env"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    [url] = re.findall(r"opens without login\): (\S+)", result.stdout)
    page = client.get(urlsplit(url).path)
    assert page.status_code == 200, page.text
    assert "参数优化报告" in page.text and opt["id"] in page.text
