"""BDD: the backtest-run loop through the API and the CLI with real worker processes (features in
tests/backtest/features: runs_api, bad_input, tenancy, idempotency, cli)."""

from __future__ import annotations

import io
import json
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from pytest_bdd import given, parsers, scenarios, then, when
from typer.testing import CliRunner

from backtest import service
from backtest.config import env_of
from backtest.schemas import RunCreate
from huice.bootstrap import Container
from strategy_management import service as strategies
from strategy_management.schemas import StrategyCreate
from tests.backtest import support

pytestmark = [pytest.mark.e2e]

scenarios(
    "backtest/features/runs_api.feature",
    "backtest/features/bad_input.feature",
    "backtest/features/tenancy.feature",
    "backtest/features/idempotency.feature",
    "backtest/features/cli.feature",
)

ARTIFACTS = ["equity", "fills", "logs", "orders", "positions", "trades"]
BROKEN_STRATEGY = '''"""Loads fine, fails on any bars."""
import polars as pl
from quant.sdk import param

PARAMS = [param("n", int, default=3, min=1, max=10)]


def generate(bars: pl.DataFrame, params: dict) -> pl.DataFrame:
    raise ValueError("this strategy is broken")
'''


# --- helpers -------------------------------------------------------------------------------------------


def _run_url(run: dict[str, Any]) -> str:
    return f"/api/backtests/{run['backtest_id']}/runs/{run['run_id']}"


def _wait_run(client: Any, user: support.User, backtest_id: str, run_id: str) -> dict[str, Any]:
    url = f"/api/backtests/{backtest_id}/runs/{run_id}"
    return support.wait_for(
        lambda: client.get(url, headers=user.headers).json(), lambda r: r.get("status") in support.TERMINAL
    )


def _submit(client: Any, user: support.User, backtest: dict, params: dict, key: str | None = None) -> httpx.Response:
    headers = {**user.headers, **({"Idempotency-Key": key} if key else {})}
    return client.post(
        f"/api/backtests/{backtest['id']}/runs", json={"mode": "single", "params": params}, headers=headers
    )


def _artifact(client: Any, user: support.User, run_id: str, kind: str, fmt: str) -> httpx.Response:
    return client.get(f"/api/runs/{run_id}/artifacts/{kind}", params={"format": fmt}, headers=user.headers)


def _envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    return error


# --- background ----------------------------------------------------------------------------------------


@given("running workers over the sample data")
def _workers(workers: support.Workers, bt: Container) -> None:
    assert all(p.poll() is None for p in workers.procs)


@given("a signed-in user", target_fixture="me")
def _me(user: support.User) -> support.User:
    return user


@given("another signed-in user", target_fixture="other")
def _other(other_user: support.User) -> support.User:
    return other_user


@given(parsers.parse('a backtest of the template "{template}" on three sample symbols'), target_fixture="backtest")
def _backtest(client: Any, me: support.User, template: str) -> dict[str, Any]:
    body = support.backtest_body(strategyRef={"template": template, "params": {"fast": 5, "slow": 20}})
    response = client.post("/api/backtests", json=body, headers=me.headers)
    assert response.status_code == 201, response.text
    return response.json()["backtest"]


@given(parsers.parse("a succeeded run with fast {fast:d} and slow {slow:d}"), target_fixture="run")
def _succeeded_run(client: Any, me: support.User, backtest: dict, fast: int, slow: int) -> dict[str, Any]:
    response = _submit(client, me, backtest, {"fast": fast, "slow": slow})
    assert response.status_code == 201, response.text
    run = _wait_run(client, me, backtest["id"], response.json()["run_ids"][0])
    assert run["status"] == "succeeded", run
    return run


# --- runs through the API ------------------------------------------------------------------------------


@when(parsers.parse("the user submits a single run with fast {fast:d} and slow {slow:d}"), target_fixture="answer")
def _submit_run(client: Any, me: support.User, backtest: dict, fast: int, slow: int) -> httpx.Response:
    return _submit(client, me, backtest, {"fast": fast, "slow": slow})


@when("the run ends", target_fixture="run")
def _run_ends(client: Any, me: support.User, backtest: dict, answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 201, answer.text
    return _wait_run(client, me, backtest["id"], answer.json()["run_ids"][0])


@then(parsers.parse("the run succeeded with progress 100 after {attempts:d} attempt"))
def _succeeded(run: dict, attempts: int) -> None:
    assert (run["status"], run["progress"], run["attempts"], run["error"]) == ("succeeded", 100.0, attempts, None)


@then("the run records its queue wait and its timestamps")
def _timestamps(run: dict) -> None:
    assert run["queue_wait_s"] is not None and run["queue_wait_s"] >= 0
    assert run["created_at"] <= run["started_at"] <= run["finished_at"]


@then("the run shows its params, its stats and a manifest pinned to the strategy version and data snapshot")
def _stats_manifest(run: dict, backtest: dict) -> None:
    assert run["params"] == {"fast": 5, "slow": 20}
    assert set(run["stats"]) >= {"total_return", "sharpe", "max_drawdown", "trade_count", "benchmark_return"}
    assert run["stats"]["initial_cash"] == 1_000_000.0
    manifest = run["manifest"]
    assert manifest["strategy"] == backtest["strategy"]
    assert manifest["data"]["snapshot_id"] == backtest["context"]["datasource_version"]
    assert manifest["data"]["universe"] == support.SYMBOLS
    assert manifest["params"] == {"fast": 5, "slow": 20}
    assert (manifest["engine_version"], manifest["preset"]) == ("0.1.0", "a-share")


@then("the run lists the artifacts equity, trades, orders, positions, fills and logs")
def _lists_artifacts(run: dict, me: support.User) -> None:
    assert sorted(run["artifacts"]) == ARTIFACTS
    for kind, ref in run["artifacts"].items():
        assert ref["path"] == f"{me.id}/{run['run_id']}/{kind}.parquet"
        assert ref["url"] == f"/api/runs/{run['run_id']}/artifacts/{kind}"


@then(parsers.parse('the trades download as CSV with the header "{header}"'))
def _trades_csv(client: Any, me: support.User, run: dict, header: str) -> None:
    response = _artifact(client, me, run["run_id"], "trades", "csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="{run["run_id"]}-trades.csv"'
    text = response.content.decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0] == header
    assert len(lines) == run["artifacts"]["trades"]["rows"] + 1
    assert pl.read_csv(io.BytesIO(response.content)).height == run["artifacts"]["trades"]["rows"]


@then("the orders download as JSON with a reason for every order not filled")
def _orders_json(client: Any, me: support.User, run: dict) -> None:
    orders = _artifact(client, me, run["run_id"], "orders", "json").json()
    assert len(orders) == run["stats"]["order_count"]
    blocked = [o for o in orders if o["status"] != "filled"]
    assert len(blocked) == run["stats"]["blocked_order_count"] > 0
    assert all(o["reason"] for o in blocked)


@then("the equity downloads as Parquet with one row per session")
def _equity_parquet(client: Any, me: support.User, run: dict) -> None:
    response = _artifact(client, me, run["run_id"], "equity", "parquet")
    equity = pl.read_parquet(io.BytesIO(response.content))
    assert equity.height == run["stats"]["sessions"] == run["artifacts"]["equity"]["rows"]
    assert equity["equity"][-1] == pytest.approx(run["stats"]["final_equity"])


@then(parsers.parse('the run\'s event stream ends with the event "{event}"'))
def _events(client: Any, me: support.User, run: dict, event: str) -> None:
    with client.stream("GET", f"/api/runs/{run['run_id']}/events", headers=me.headers) as response:
        assert response.status_code == 200
        types = [line.removeprefix("event: ") for line in response.iter_lines() if line.startswith("event: ")]
    assert types[0] == "submitted" and "started" in types and "progress" in types
    assert types[-1] == event


@then("the backtest lists the run")
def _backtest_lists(client: Any, me: support.User, backtest: dict, run: dict) -> None:
    page = client.get(f"/api/backtests/{backtest['id']}/runs", headers=me.headers).json()
    assert (page["total"], page["items"][0]["run_id"], page["items"][0]["status"]) == (1, run["run_id"], "succeeded")


@when("the user reruns it", target_fixture="rerun_answer")
def _rerun(client: Any, me: support.User, run: dict) -> httpx.Response:
    return client.post(_run_url(run) + ":rerun", headers=me.headers)


@when("the rerun ends", target_fixture="rerun")
def _rerun_ends(client: Any, me: support.User, run: dict, rerun_answer: httpx.Response) -> dict[str, Any]:
    assert rerun_answer.status_code == 201, rerun_answer.text
    [new_id] = rerun_answer.json()["run_ids"]
    assert new_id != run["run_id"]
    return _wait_run(client, me, run["backtest_id"], new_id)


@then("the rerun succeeded with the same params, stats and manifest")
def _rerun_same(run: dict, rerun: dict) -> None:
    assert rerun["status"] == "succeeded"
    assert rerun["rerun_of"] == run["run_id"]
    assert (rerun["params"], rerun["stats"], rerun["manifest"]) == (run["params"], run["stats"], run["manifest"])


@then("every artifact of the rerun has the same bytes as the run's")
def _same_bytes(client: Any, me: support.User, run: dict, rerun: dict) -> None:
    for kind in ARTIFACTS:
        first = _artifact(client, me, run["run_id"], kind, "parquet").content
        again = _artifact(client, me, rerun["run_id"], kind, "parquet").content
        assert first == again, kind
        assert rerun["artifacts"][kind]["sha256"] == run["artifacts"][kind]["sha256"]


@then(parsers.parse('the run failed after {attempts:d} attempt with {code} "{message}"'))
def _failed(run: dict, attempts: int, code: str, message: str) -> None:
    assert (run["status"], run["attempts"]) == ("failed", attempts)
    assert (run["error"]["code"], run["error"]["message"]) == (code, message)
    error_text = json.dumps(run["error"])
    repo_root = str(Path(__file__).resolve().parents[2])
    assert "Traceback" not in error_text and repo_root not in error_text and "site-packages" not in error_text


@then("the run has no stats and no artifacts")
def _no_artifacts(client: Any, me: support.User, run: dict) -> None:
    assert (run["stats"], run["artifacts"], run["manifest"]) == (None, {}, None)
    error = _envelope(_artifact(client, me, run["run_id"], "trades", "csv"), 404, "NOT_FOUND")
    assert error["details"] == {"run_id": run["run_id"], "type": "trades"}


@when("the user cancels the run twice", target_fixture="cancels")
def _cancel_twice(client: Any, me: support.User, backtest: dict, answer: httpx.Response) -> list[httpx.Response]:
    url = f"/api/backtests/{backtest['id']}/runs/{answer.json()['run_ids'][0]}:cancel"
    return [client.post(url, headers=me.headers) for _ in range(2)]


@then("both cancels answer 204")
def _both_204(cancels: list[httpx.Response]) -> None:
    assert [(c.status_code, c.content) for c in cancels] == [(204, b""), (204, b"")]


@then("the run ends cancelled")
def _ends_cancelled(client: Any, me: support.User, backtest: dict, answer: httpx.Response) -> None:
    run = _wait_run(client, me, backtest["id"], answer.json()["run_ids"][0])
    assert (run["status"], run["cancel_requested"] or run["started_at"] is None) == ("cancelled", True)
    assert run["artifacts"] == {}


@when("the user cancels the run", target_fixture="answer")
def _cancel(client: Any, me: support.User, run: dict) -> httpx.Response:
    return client.post(_run_url(run) + ":cancel", headers=me.headers)


@then(parsers.re(r"the answer is (?P<status>\d+) (?P<code>[A-Z_]+)$"), converters={"status": int})
def _answer_is(answer: httpx.Response, status: int, code: str) -> None:
    _envelope(answer, status, code)


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
    if problem == "a strategy version that fails validation":
        return support.backtest_body(strategyRef={"version_id": _broken_version(bt, me)})
    raise AssertionError(problem)


@when(parsers.parse("the user creates a backtest with {problem}"), target_fixture="answer")
def _create_bad(client: Any, bt: Container, me: support.User, problem: str) -> httpx.Response:
    return client.post("/api/backtests", json=_bad_body(problem, bt, me), headers=me.headers)


@then(parsers.parse('the answer is 422 INVALID_INPUT naming "{field}" with the message "{message}"'))
def _invalid(bt: Container, answer: httpx.Response, field: str, message: str) -> None:
    from market_data import service as market

    error = _envelope(answer, 422, "INVALID_INPUT")
    if "{snapshot}" in message:
        with bt.db.transaction() as session:
            message = message.replace("{snapshot}", market.latest_snapshot(session).id)
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
    return [_submit(client, me, backtest, {"fast": 7}, key) for _ in range(2)]


@then("both answers are 201 with the same run id")
def _same_ids(answers: list[httpx.Response]) -> None:
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()


@when(
    parsers.parse('the user submits a run with the Idempotency-Key "{key}" and fast {fast:d}'), target_fixture="answer"
)
def _with_key(client: Any, me: support.User, backtest: dict, key: str, fast: int) -> httpx.Response:
    return _submit(client, me, backtest, {"fast": fast}, key)


@then(parsers.parse('the answer is 409 CONFLICT naming "{field}"'))
def _conflict(answer: httpx.Response, field: str) -> None:
    error = _envelope(answer, 409, "CONFLICT")
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


# --- CLI -----------------------------------------------------------------------------------------------


@given("a signed-in user of the CLI", target_fixture="cli_env")
def _cli_env(bt: Container, user: support.User, tmp_path: Path) -> dict[str, Any]:
    env = support.worker_env(bt)
    env["HUICE_API_KEY"] = support.api_key_for(bt, user)
    return {"env": env, "names": {"dir": str(tmp_path)}}


@when(parsers.parse('the user runs "{command}"'), target_fixture="result")
def _cli(cli_env: dict[str, Any], command: str) -> Any:
    from huice.cli import app

    args = [part.format(**cli_env["names"]) for part in command.split()]
    return CliRunner().invoke(app, args, env=cli_env["env"])


def _ok(result: Any) -> Any:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


@then("the command succeeds and prints the new backtest")
def _cli_created(cli_env: dict[str, Any], result: Any) -> None:
    created = json.loads(_ok(result).stdout)
    assert created["backtest"]["context"]["universe"] == support.SYMBOLS
    assert created["backtest"]["params"] == {"fast": 5, "slow": 20}
    cli_env["names"]["backtest"] = created["backtest_id"]


@then("the command succeeds showing a progress bar and a metrics table with total_return and sharpe")
def _cli_waited(cli_env: dict[str, Any], result: Any, bt: Container) -> None:
    _ok(result)
    assert "100.0%" in result.stderr and "succeeded" in result.stderr
    assert "total_return" in result.stdout and "sharpe" in result.stdout
    support.activate(bt)
    principal = _cli_principal(bt, cli_env)
    with bt.db.transaction() as session:
        page = service.list_runs(session, principal, _page(), backtest_id=uuid.UUID(cli_env["names"]["backtest"]))
    cli_env["names"]["run"] = str(page.items[0].run_id)


def _page() -> Any:
    from platform_core.pagination import PageParams

    return PageParams(limit=5, offset=0)


def _cli_principal(bt: Container, cli_env: dict[str, Any]) -> Any:
    from user_auth import service as auth_service

    with bt.db.transaction() as session:
        return auth_service.principal_from_api_key(session, cli_env["env"]["HUICE_API_KEY"])


@then(parsers.parse('the command succeeds and prints the run with status "{status}"'))
def _cli_status(cli_env: dict[str, Any], result: Any, status: str) -> None:
    run = json.loads(_ok(result).stdout)
    assert (run["run_id"], run["status"], run["progress"]) == (cli_env["names"]["run"], status, 100.0)
    cli_env["names"]["stats"] = run["stats"]


@then("the command succeeds and lists the run")
def _cli_list(cli_env: dict[str, Any], result: Any) -> None:
    page = json.loads(_ok(result).stdout)
    assert [r["run_id"] for r in page["items"]] == [cli_env["names"]["run"]]


@then(parsers.parse('the file "{name}" starts with the header "{header}"'))
def _cli_file(cli_env: dict[str, Any], result: Any, name: str, header: str) -> None:
    _ok(result)
    content = (Path(cli_env["names"]["dir"]) / name).read_bytes()
    assert content.decode("utf-8-sig").splitlines()[0] == header


@then("the command succeeds and prints the orders as JSON")
def _cli_orders(result: Any) -> None:
    orders = json.loads(_ok(result).stdout)
    assert orders and set(orders[0]) >= {"symbol", "side", "status", "reason", "filled_qty"}


@then("the command succeeds and prints a run with the same stats")
def _cli_rerun(cli_env: dict[str, Any], result: Any) -> None:
    rerun = json.loads(_ok(result).stdout)
    assert (rerun["status"], rerun["rerun_of"]) == ("succeeded", cli_env["names"]["run"])
    assert rerun["stats"] == cli_env["names"]["stats"]


@then(
    parsers.re(r'the command exits (?P<code>\d+) with the error code "(?P<error>[A-Z_]+)"$'), converters={"code": int}
)
def _cli_error(result: Any, code: int, error: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert json.loads(result.stderr.strip().splitlines()[-1])["error"]["code"] == error


@then(parsers.parse('the command exits {code:d} with the error code "{error}" naming "{field}"'))
def _cli_error_field(result: Any, code: int, error: str, field: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    envelope = json.loads(result.stderr.strip().splitlines()[-1])["error"]
    assert (envelope["code"], envelope["details"]["field"]) == (error, field)
