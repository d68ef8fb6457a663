"""BDD, end to end: runs executed by two real worker processes, through the API (runs_api.feature) and the
CLI (cli.feature). The features that need no worker run in `test_backtest_service_bdd.py`."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from backtest import service
from huice.bootstrap import Container
from tests.backtest import support

pytestmark = [pytest.mark.e2e]

scenarios("backtest/features/runs_api.feature", "backtest/features/cli.feature")

ARTIFACTS = ["equity", "fills", "logs", "orders", "positions", "trades"]


def _run_url(run: dict[str, Any]) -> str:
    return f"/api/backtests/{run['backtest_id']}/runs/{run['run_id']}"


def _wait_run(client: Any, user: support.User, backtest_id: str, run_id: str) -> dict[str, Any]:
    url = f"/api/backtests/{backtest_id}/runs/{run_id}"
    return support.wait_for(
        lambda: client.get(url, headers=user.headers).json(), lambda r: r.get("status") in support.TERMINAL
    )


# --- background ----------------------------------------------------------------------------------------


@given("running workers over the sample data")
def _workers(workers: support.Workers, bt: Container) -> None:
    assert all(p.poll() is None for p in workers.procs)


@given(parsers.parse("a succeeded run with fast {fast:d} and slow {slow:d}"), target_fixture="run")
def _succeeded_run(client: Any, me: support.User, backtest: dict, fast: int, slow: int) -> dict[str, Any]:
    response = support.submit(client, me, backtest, {"fast": fast, "slow": slow})
    assert response.status_code == 201, response.text
    run = _wait_run(client, me, backtest["id"], response.json()["run_ids"][0])
    assert run["status"] == "succeeded", run
    return run


# --- runs through the API ------------------------------------------------------------------------------


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
    assert (manifest["engine_version"], manifest["preset"]) == ("0.3.0", "a-share")


@then("the run lists the artifacts equity, trades, orders, positions, fills and logs")
def _lists_artifacts(run: dict, me: support.User) -> None:
    assert sorted(run["artifacts"]) == ARTIFACTS
    for kind, ref in run["artifacts"].items():
        assert ref["path"] == f"{me.id}/{run['run_id']}/{kind}.parquet"
        assert ref["url"] == f"/api/runs/{run['run_id']}/artifacts/{kind}"


@then(parsers.parse('the trades download as CSV with the header "{header}"'))
def _trades_csv(client: Any, me: support.User, run: dict, header: str) -> None:
    response = support.artifact(client, me, run["run_id"], "trades", "csv")
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
    orders = support.artifact(client, me, run["run_id"], "orders", "json").json()
    assert len(orders) == run["stats"]["order_count"]
    blocked = [o for o in orders if o["status"] != "filled"]
    assert len(blocked) == run["stats"]["blocked_order_count"] > 0
    assert all(o["reason"] for o in blocked)


@then("the equity downloads as Parquet with one row per session")
def _equity_parquet(client: Any, me: support.User, run: dict) -> None:
    response = support.artifact(client, me, run["run_id"], "equity", "parquet")
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
        first = support.artifact(client, me, run["run_id"], kind, "parquet").content
        again = support.artifact(client, me, rerun["run_id"], kind, "parquet").content
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
    error = support.envelope(support.artifact(client, me, run["run_id"], "trades", "csv"), 404, "NOT_FOUND")
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
    support.envelope(answer, status, code)


# --- CLI -----------------------------------------------------------------------------------------------


def _ok(result: Any) -> Any:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


@then("the command succeeds and prints the new backtest")
def _cli_created(cli_env: dict[str, Any], result: Any) -> None:
    created = json.loads(_ok(result).stdout)
    assert created["backtest"]["context"]["universe"] == support.SYMBOLS
    assert created["backtest"]["params"] == {"fast": 5, "slow": 20}
    cli_env["names"]["backtest"] = created["backtest_id"]


@given(parsers.parse('the file "{name}" holds the source of the template "{template}"'))
def _source_file(cli_env: dict[str, Any], name: str, template: str) -> None:
    from quant.templates import get_template

    (Path(cli_env["names"]["dir"]) / name).write_text(get_template(template).source, encoding="utf-8")


@then(
    parsers.parse('the command succeeds and prints a backtest of the new strategy "{name}" on the members of "{index}"')
)
def _cli_created_inline(cli_env: dict[str, Any], result: Any, name: str, index: str) -> None:
    created = json.loads(_ok(result).stdout)
    backtest = created["backtest"]
    selection = backtest["context"]["selection"]
    assert selection["index"] == index and selection["exclude_st"] is True, backtest["context"]
    assert backtest["context"]["universe"], "the codes the selection holds in the window"
    assert backtest["params"] == {"fast": 5, "slow": 20}
    assert backtest["strategy"]["strategy_name"] == name and backtest["strategy"]["version_number"] == 1
    cli_env["names"]["backtest"] = created["backtest_id"]


@then(
    parsers.parse('the command succeeds and its table shows the universe as "{universe}" and the strategy as "{name}"')
)
def _cli_table_shows(result: Any, universe: str, name: str) -> None:
    out = _ok(result).stdout
    assert universe in out and name in out, out


@then("the command succeeds and prints a succeeded run")
def _cli_succeeded(result: Any) -> None:
    run = json.loads(_ok(result).stdout)
    assert (run["status"], run["progress"]) == ("succeeded", 100.0), run
    assert run["stats"]["total_return"] is not None


@then("the command succeeds showing a progress bar and a metrics table with total_return and sharpe")
def _cli_waited(cli_env: dict[str, Any], result: Any, bt: Container) -> None:
    _ok(result)
    assert "100.0%" in result.stderr and "succeeded" in result.stderr
    assert "total_return" in result.stdout and "sharpe" in result.stdout
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


@then(parsers.parse("the command succeeds and prints a succeeded sweep of {count:d} combinations"))
def _cli_swept(cli_env: dict[str, Any], result: Any, count: int) -> None:
    opt = json.loads(_ok(result).stdout)
    assert (opt["status"], opt["evaluated"], opt["failed"], opt["total"]) == ("succeeded", count, 0, count), opt
    assert opt["best"] is not None, opt
    cli_env["names"].update(optimization=opt["optimization_id"], best=str(opt["best"]["index"]))
    cli_env["names"]["best_params"], cli_env["names"]["best_metric"] = opt["best"]["params"], opt["best"]["metric"]


@then("the command succeeds and prints a run with the metrics of the sweep's best combination")
def _cli_promoted(cli_env: dict[str, Any], result: Any) -> None:
    run = json.loads(_ok(result).stdout)
    assert (run["status"], run["params"]) == ("succeeded", cli_env["names"]["best_params"]), run
    assert run["stats"]["sharpe"] == pytest.approx(cli_env["names"]["best_metric"], rel=1e-9, abs=1e-12)


FIELDS_CODE = (
    "import polars as pl\nfrom quant.sdk import param, top_n\n"
    "FIELDS = [{field!r}]\nPARAMS = [param('n', int, default=1, min=1, max=5)]\n"
    "def generate(bars, params):\n"
    "    return bars.select('ts', 'symbol', top_n({field!r}, params['n']).alias('weight'))\n"
)


@given(parsers.parse('the file "{name}" holds a strategy reading the fundamental "{field}"'))
def _fields_file(cli_env: dict[str, Any], name: str, field: str) -> None:
    (Path(cli_env["names"]["dir"]) / name).write_text(FIELDS_CODE.format(field=field), encoding="utf-8")


@then(parsers.parse("the command succeeds and warns on stderr that {field} is known on {share} of the stock-sessions"))
def _cli_fields_warned(result: Any, field: str, share: str) -> None:
    _ok(result)
    [line] = [x for x in result.stderr.splitlines() if x.startswith("warning: fundamentals missing")]
    assert f"{field} on " in line and f"({share})" in line, result.stderr


@then(
    parsers.parse(
        "the command succeeds and prints a backtest whose warnings say {field} is known on {share} "
        "of the stock-sessions"
    )
)
def _cli_fields_json(cli_env: dict[str, Any], result: Any, field: str, share: str) -> None:
    created = json.loads(_ok(result).stdout)
    [warning] = created["warnings"]
    assert warning.startswith("fundamentals missing") and f"{field} on " in warning and f"({share})" in warning
    cli_env["names"]["backtest"] = created["backtest_id"]
