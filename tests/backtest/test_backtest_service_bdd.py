"""BDD without workers: the backtest service's validation (bad_input.feature), tenancy (tenancy.feature),
Idempotency-Key (idempotency.feature) and CLI errors (cli_errors.feature), through the API and the CLI in
this process over the committed sample data. A run that must have succeeded is run in this process by
job_orchestration's attempt — the attempt a worker would make, without the worker."""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any

import httpx
from pytest_bdd import given, parsers, scenarios, then, when

from backtest import service
from backtest.config import env_of
from backtest.schemas import RunCreate
from huice.bootstrap import Container
from job_orchestration import attempt
from market_data import service as market
from strategy_management import service as strategies
from strategy_management.schemas import StrategyCreate
from tests.backtest import support

scenarios(
    "backtest/features/bad_input.feature",
    "backtest/features/tenancy.feature",
    "backtest/features/idempotency.feature",
    "backtest/features/cli_errors.feature",
)

BROKEN_STRATEGY = '''"""Loads fine, fails on any bars."""
import polars as pl
from quant.sdk import param

PARAMS = [param("n", int, default=3, min=1, max=10)]


def generate(bars: pl.DataFrame, params: dict) -> pl.DataFrame:
    raise ValueError("this strategy is broken")
'''


# --- background ----------------------------------------------------------------------------------------


@given("the sample data", target_fixture="snapshot_id")
def _sample_data(bt: Container) -> str:
    with bt.db.transaction() as session:
        snapshot = market.latest_snapshot(session)
    assert snapshot.source == "sample"
    return snapshot.id


@given(parsers.parse("a succeeded run with fast {fast:d} and slow {slow:d}"), target_fixture="run")
def _succeeded_run(bt: Container, client: Any, me: support.User, backtest: dict, fast: int, slow: int) -> dict:
    response = support.submit(client, me, backtest, {"fast": fast, "slow": slow})
    assert response.status_code == 201, response.text
    [run_id] = response.json()["run_ids"]
    job_id = uuid.UUID(support.read_run(client, me, run_id)["job_id"])
    outcome = attempt.execute(env_of(bt).jobs, job_id, worker_name="in-process", pid=os.getpid(), kill=_stay)
    run = support.read_run(client, me, run_id)
    assert (outcome, run["status"]) == ("succeeded", "succeeded"), run
    return run


def _stay() -> None:
    """An in-process attempt is never killed (a worker's horse would be, past a cancel's grace period)."""


# --- bad input -----------------------------------------------------------------------------------------


def _broken_version(bt: Container, me: support.User) -> str:
    with bt.db.transaction() as session:
        created = strategies.create_strategy(
            session,
            env_of(bt).strategies,
            me.principal,
            StrategyCreate(name=f"broken-{uuid.uuid4().hex[:8]}", source=BROKEN_STRATEGY),
        )
    return str(created.latest_version.id)


def _bad_body(problem: str, bt: Container, me: support.User) -> dict[str, Any]:
    if problem == "the unknown code 999999.SH":
        return support.backtest_body(universe=["999999.SH", "600010.SH"])
    if problem == "a window without trading sessions":
        return support.backtest_body(window={"start": "2024-02-10", "end": "2024-02-11"})
    if problem == "the end before the start":
        return support.backtest_body(window={"start": "2023-06-01", "end": "2023-01-01"})
    if problem == "the frequency 5min that has no data":
        return support.backtest_body(frequency="5min")
    if problem == "default params out of bounds":
        return support.backtest_body(strategyRef={"template": "ma_cross", "params": {"fast": 1, "slow": 20}})
    if problem == "inline code declaring a stop-loss of 150%":
        code = "import polars as pl\nPARAMS = []\nEXITS = exits(stop_loss=1.5)\n"
        return support.backtest_body(strategyRef={"code": code})
    if problem == "a stop-loss of 1.5 in the rules":
        return support.backtest_body(rules={"stop_loss": 1.5})
    if problem == "both a template and inline code":
        return support.backtest_body(strategyRef={"template": "ma_cross", "code": "PARAMS = []"})
    if problem == "an unknown look-ahead audit":
        return support.backtest_body(rules={"audit_lookahead": "sometimes"})
    if problem == "a strategy version that fails validation":
        return support.backtest_body(strategyRef={"version_id": _broken_version(bt, me)})
    raise AssertionError(problem)


@when(parsers.parse("the user creates a backtest with {problem}"), target_fixture="answer")
def _create_bad(client: Any, bt: Container, me: support.User, problem: str) -> httpx.Response:
    return client.post("/api/backtests", json=_bad_body(problem, bt, me), headers=me.headers)


@then(parsers.parse('the answer is 422 INVALID_INPUT naming "{field}" with the message "{message}"'))
def _invalid(snapshot_id: str, answer: httpx.Response, field: str, message: str) -> None:
    error = support.envelope(answer, 422, "INVALID_INPUT")
    message = message.replace("{snapshot}", snapshot_id)
    assert (error["details"].get("field"), error["message"]) == (field, message)


def _nothing_queued(client: Any, me: support.User) -> None:
    assert client.get("/api/runs", headers=me.headers).json()["total"] == 0
    assert client.get("/api/jobs", headers=me.headers).json()["total"] == 0


@then("nothing was created or queued for the user")
def _nothing(client: Any, me: support.User) -> None:
    assert client.get("/api/backtests", headers=me.headers).json()["total"] == 0
    _nothing_queued(client, me)


@then("no run was queued for the user")
def _no_run(client: Any, me: support.User) -> None:
    _nothing_queued(client, me)


# --- tenancy -------------------------------------------------------------------------------------------


def _as_other(client: Any, other: support.User, method: str, path: str, backtest: dict, run: dict) -> httpx.Response:
    if path == "/api/backtests with the user's version":
        body = support.backtest_body(strategyRef={"version_id": backtest["strategy"]["version_id"]})
        return client.post("/api/backtests", json=body, headers=other.headers)
    url = path.format(backtest=backtest["id"], run=run["run_id"])
    body = {"mode": "single", "params": {}} if url.endswith("/runs") and method == "POST" else None
    return client.request(method, url, json=body, headers=other.headers)


@then("every endpoint answers 404 NOT_FOUND to the other user:")
def _tenancy(client: Any, other: support.User, backtest: dict, run: dict, datatable: list[list[str]]) -> None:
    for method, path in datatable[1:]:
        response = _as_other(client, other, method, path, backtest, run)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "NOT_FOUND", (method, path)


@then("the other user's lists of backtests and runs are empty")
def _other_empty(client: Any, other: support.User) -> None:
    for url in ("/api/backtests", "/api/runs", "/api/jobs"):
        assert client.get(url, headers=other.headers).json()["total"] == 0, url


@then("the user still sees the backtest and the succeeded run")
def _owner_sees(client: Any, me: support.User, backtest: dict, run: dict) -> None:
    assert client.get(f"/api/backtests/{backtest['id']}", headers=me.headers).json() == backtest
    assert client.get(f"/api/runs/{run['run_id']}", headers=me.headers).json()["status"] == "succeeded"
    assert client.get("/api/runs", headers=me.headers).json()["total"] == 1


# --- idempotency ---------------------------------------------------------------------------------------


@when(
    parsers.parse('the user submits a run twice with the Idempotency-Key "{key}" and the same body'),
    target_fixture="answers",
)
def _twice(client: Any, me: support.User, backtest: dict, key: str) -> list[httpx.Response]:
    return [support.submit(client, me, backtest, {"fast": 7}, key) for _ in range(2)]


@then("both answers are 201 with the same run id")
def _same_ids(answers: list[httpx.Response]) -> None:
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()


@when(
    parsers.parse('the user submits a run with the Idempotency-Key "{key}" and fast {fast:d}'), target_fixture="answer"
)
def _with_key(client: Any, me: support.User, backtest: dict, key: str, fast: int) -> httpx.Response:
    return support.submit(client, me, backtest, {"fast": fast}, key)


@then(parsers.parse('the answer is 409 CONFLICT naming "{field}"'))
def _conflict(answer: httpx.Response, field: str) -> None:
    error = support.envelope(answer, 409, "CONFLICT")
    assert error == {
        "code": "CONFLICT",
        "message": "this Idempotency-Key was already used for a different request",
        "details": {"field": field},
    }


@then(parsers.parse("the backtest has {count:d} run"))
def _run_count(client: Any, me: support.User, backtest: dict, count: int) -> None:
    page = client.get(f"/api/backtests/{backtest['id']}/runs", headers=me.headers).json()
    assert page["total"] == count
    for item in page["items"]:
        client.post(f"/api/backtests/{backtest['id']}/runs/{item['run_id']}:cancel", headers=me.headers)


@when(
    parsers.parse('{count:d} identical submissions with the Idempotency-Key "{key}" race each other'),
    target_fixture="raced",
)
def _race(bt: Container, me: support.User, backtest: dict, count: int, key: str) -> list[Any]:
    barrier, results = threading.Barrier(count), []

    def submit() -> None:
        barrier.wait()
        with bt.db.transaction() as session:
            results.append(
                service.submit_runs(
                    session,
                    env_of(bt),
                    me.principal,
                    uuid.UUID(backtest["id"]),
                    RunCreate(params={"fast": 8}),
                    idempotency_key=key,
                )
            )

    threads = [threading.Thread(target=submit) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@then("they all answer the same run id")
def _raced_same(raced: list[Any]) -> None:
    assert len(raced) == 4
    assert len({tuple(r.run_ids) for r in raced}) == 1


@when(
    parsers.parse('the user creates the same backtest twice with the Idempotency-Key "{key}"'), target_fixture="answers"
)
def _create_twice(client: Any, me: support.User, key: str) -> list[httpx.Response]:
    headers = {**me.headers, "Idempotency-Key": key}
    return [client.post("/api/backtests", json=support.backtest_body(), headers=headers) for _ in range(2)]


@then("both answers carry the same backtest id")
def _same_backtest(answers: list[httpx.Response]) -> None:
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()


@then(parsers.parse("the user has {count:d} backtests"))
def _backtest_count(client: Any, me: support.User, count: int) -> None:
    assert client.get("/api/backtests", headers=me.headers).json()["total"] == count
