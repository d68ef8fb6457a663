"""BDD: backtest/features/quotas.feature — runs counted against the monthly quota when accepted (soft hint,
hard refusal, 8 concurrent submissions on real PostgreSQL), and the disclaimer gate before the first run.
Settings are changed on the session's backtest container for one scenario and restored after it."""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when
from typer.testing import CliRunner

from backtest import service as backtests
from backtest.config import env_of as backtest_env
from backtest.schemas import RunCreate
from huice.bootstrap import Container
from tests.backtest import support
from user_auth.config import env_of as auth_env

scenarios("backtest/features/quotas.feature")


@pytest.fixture
def auth_settings(bt: Container) -> Iterator[Any]:
    """`auth_settings(**changes)`: user_auth settings of the backtest container (and of backtest's view of
    them) changed for this scenario only."""
    original_auth, original_bt = auth_env(bt), backtest_env(bt)

    def change(**updates: Any) -> None:
        env = auth_env(bt)
        changed = dataclasses.replace(env, settings=env.settings.model_copy(update=updates))
        bt.extras["user_auth"] = changed
        bt.extras["backtest"] = dataclasses.replace(backtest_env(bt), auth=changed)

    yield change
    bt.extras["user_auth"], bt.extras["backtest"] = original_auth, original_bt


@pytest.fixture
def answers() -> list[Any]:
    return []


@given(parsers.parse("the free plan allows {count:d} runs a month"))
def free_runs(auth_settings: Any, count: int) -> None:
    auth_settings(quota_free_runs=count)


@given("the runs quota is hard for the free plan")
def hard_runs(auth_settings: Any) -> None:
    auth_settings(hard_quotas="free:runs")


@given("the research-use disclaimer is required")
def disclaimer_required(auth_settings: Any) -> None:
    auth_settings(require_disclaimer=True)


@given("a signed-in free user with a backtest", target_fixture="me")
def free_user(bt: Container, client: Any) -> support.User:
    me = support.new_user(bt, plan="free")
    response = client.post("/api/backtests", json=support.backtest_body(), headers=me.headers)
    assert response.status_code == 201, response.text
    me.backtest = response.json()["backtest"]  # type: ignore[attr-defined]
    return me


@when(parsers.parse("the free user submits {count:d} runs"))
def submits(client: Any, me: support.User, answers: list[Any], count: int) -> None:
    for i in range(count):
        answers.append(support.submit(client, me, me.backtest, {"fast": 5 + i, "slow": 20}))  # type: ignore[attr-defined]


@when(parsers.parse("the free user submits {count:d} runs at once from {threads:d} threads"))
def submits_concurrently(bt: Container, me: support.User, answers: list[Any], count: int, threads: int) -> None:
    barrier = threading.Barrier(threads)
    backtest_id = uuid.UUID(me.backtest["id"])  # type: ignore[attr-defined]

    def one(i: int) -> None:
        barrier.wait()
        try:
            with bt.db.transaction() as session:
                ids = backtests.submit_runs(
                    session, backtest_env(bt), me.principal, backtest_id, RunCreate(params={"fast": 5 + i})
                )
            answers.append(ids)
        except Exception as exc:
            answers.append(exc)

    workers = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)


@when("the free user accepts the disclaimer")
def accepts(client: Any, me: support.User, answers: list[Any]) -> None:
    response = client.post("/api/me/disclaimer", headers=me.headers)
    assert response.status_code == 200, response.text
    answers.clear()


@when(parsers.parse('the free user runs "{command}"'), target_fixture="result")
def runs_cli(bt: Container, me: support.User, command: str) -> Any:
    from huice.cli import app

    env = support.worker_env(bt)
    env["HUICE_API_KEY"] = support.api_key_for(bt, me)
    return CliRunner().invoke(app, command.split()[1:], env=env)


@then("every submission was accepted")
def all_accepted(answers: list[Any]) -> None:
    assert answers and all(a.status_code == 201 for a in answers), [a.text for a in answers]


@then(parsers.parse("all {count:d} runs were accepted"))
def all_threads_accepted(bt: Container, me: support.User, answers: list[Any], count: int) -> None:
    assert len(answers) == count and not [a for a in answers if isinstance(a, Exception)], answers
    with bt.db.transaction() as session:
        runs = backtests.list_runs(session, me.principal, support_page(), backtest_id=uuid.UUID(me.backtest["id"]))  # type: ignore[attr-defined]
    assert runs.total == count


def support_page() -> Any:
    from platform_core.pagination import PageParams

    return PageParams(limit=100, offset=0)


@then(parsers.parse("the {which} answer hints {used:d} of {limit:d} runs used, {state}"))
def hints(answers: list[Any], which: str, used: int, limit: int, state: str) -> None:
    headers = (answers[0] if which == "first" else answers[-1]).headers
    assert headers["X-Quota-Name"] == "runs"
    assert (int(headers["X-Quota-Used"]), int(headers["X-Quota-Limit"])) == (used, limit)
    assert headers["X-Quota-Exceeded"] == ("true" if state == "exceeded" else "false")
    assert int(headers["X-Quota-Reset"]) > 0
    assert "X-RateLimit-Limit" in headers


@then(parsers.parse('the last answer is 429 "RATE_LIMITED" naming the quota "{quota}"'))
def hard_refusal(answers: list[Any], quota: str) -> None:
    response = answers[-1]
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "RATE_LIMITED"
    assert (error["details"]["quota"], error["details"]["plan"]) == (quota, "free")
    assert int(response.headers["Retry-After"]) == error["details"]["retry_after"] >= 1
    assert response.headers["X-Quota-Exceeded"] == "true"
    assert [a.status_code for a in answers[:-1]] == [201] * (len(answers) - 1)


@then(parsers.parse('the last answer is 403 "FORBIDDEN" naming the route "{route}"'))
def disclaimer_refusal(answers: list[Any], route: str) -> None:
    response = answers[-1]
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "FORBIDDEN" and route in error["message"]
    assert error["details"]["accept"] == route


def _usage(client: Any, me: support.User) -> dict[str, Any]:
    response = client.get("/api/me/usage", headers=me.headers)
    assert response.status_code == 200, response.text
    return {q["quota"]: q for q in response.json()["quotas"]}


@then(parsers.parse("the usage report shows {used:d} of {limit:d} runs used and the quota exhausted"))
def usage_exhausted(client: Any, me: support.User, used: int, limit: int) -> None:
    runs = _usage(client, me)["runs"]
    assert (runs["used"], runs["limit"], runs["remaining"]) == (used, limit, 0)
    assert runs["exhausted"] is True and runs["exhausted_at"] is not None


@then(parsers.parse("the usage report shows {used:d} runs used"))
def usage_used(client: Any, me: support.User, used: int) -> None:
    assert _usage(client, me)["runs"]["used"] == used


@then(parsers.parse('the run shows the disclaimer "{text}" with its stats'))
def run_disclaimer(client: Any, me: support.User, answers: list[Any], text: str) -> None:
    [run_id] = answers[-1].json()["run_ids"]
    run = support.read_run(client, me, run_id)
    assert text in run["disclaimer"] and "not investment advice" in run["disclaimer"]
    assert "stats" in run


@then(parsers.parse("the CLI reports {used:d} runs used"))
def cli_usage(result: Any, used: int) -> None:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    report = json.loads(result.stdout)
    assert {q["quota"]: q["used"] for q in report["quotas"]}["runs"] == used


@when(parsers.parse("the free user submits a grid sweep of {count:d} combinations"))
def submits_sweep(client: Any, me: support.User, answers: list[Any], count: int) -> None:
    body = {"mode": "grid", "gridSpec": {"fast": [5, 10, 15], "slow": [30, 60]}}
    response = client.post(f"/api/backtests/{me.backtest['id']}/runs", json=body, headers=me.headers)  # type: ignore[attr-defined]
    assert response.status_code in (201, 202), response.text
    answers.append(response)


@then(parsers.parse("the usage report shows {used:d} sweep evaluations used"))
def sweep_usage(client: Any, me: support.User, used: int) -> None:
    assert _usage(client, me)["sweep_evaluations"]["used"] == used
