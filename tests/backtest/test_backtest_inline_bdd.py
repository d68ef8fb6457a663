"""BDD through the API without workers (inline_code.feature): inline `strategyRef.code`, exit rules and the
look-ahead audit. Runs are executed in this process by job_orchestration's attempt — the attempt a worker
would make."""

from __future__ import annotations

import io
import json
import os
import uuid
from typing import Any

import httpx
import polars as pl
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from backtest.config import env_of
from huice.bootstrap import Container
from job_orchestration import attempt
from market_data import service as market
from tests.backtest import support

scenarios("backtest/features/inline_code.feature")

HOLD_WITH_STOP = '''"""Hold every symbol; the engine exits a position 3% below its entry."""
import polars as pl
from quant.sdk import exits, param

PARAMS = [param("weight", float, default=0.3, min=0.0, max=1.0)]
EXITS = exits(stop_loss=0.03)


def generate(bars: pl.DataFrame, params: dict) -> pl.DataFrame:
    return bars.select("ts", "symbol", pl.lit(params["weight"]).alias("weight"))
'''

JOINQUANT_STOP = '''"""Pasted from JoinQuant: buy above the 5-day average, stop out below the cost."""
from quant.sdk import attribute_history, g, log, order_target, order_value, param

PARAMS = [param("stop_loss", float, default=0.08, min=0.01, max=0.5)]


def initialize(context):
    g.security = context.universe


def handle_data(context, data):
    for security in g.security:
        if security not in data:
            continue
        price = data[security].close
        position = context.portfolio.positions[security]
        if position.closeable_amount > 0:
            if price <= position.avg_cost * (1 - context.params["stop_loss"]):
                order_target(security, 0, reason="STOP_LOSS")
                log.info("stop-loss", security)
        elif position.total_amount == 0:
            closes = attribute_history(security, 5, "1d", ["close"])["close"]
            if len(closes) == 5 and price > closes.mean():
                order_value(security, context.portfolio.total_value / len(g.security) * 0.9, reason="ENTRY")
'''

EVENT_HOLD_WITH_STOP = '''"""Event-driven: hold every symbol; the engine exits a position 3% below its entry."""
from quant.sdk import exits, order_target_percent, param

PARAMS = [param("weight", float, default=0.3, min=0.0, max=1.0)]
EXITS = exits(stop_loss=0.03)


def initialize(context):
    context.bought = False


def handle_bar(context, bar):
    if not context.bought:
        context.bought = True
        for symbol in bar:
            order_target_percent(symbol, context.params["weight"])
'''

READS_NEXT_BAR = '''"""Holds a symbol only while a next bar exists: it reads the future."""
import polars as pl
from quant.sdk import param

PARAMS = [param("weight", float, default=0.3, min=0.0, max=1.0)]


def generate(bars: pl.DataFrame, params: dict) -> pl.DataFrame:
    known = pl.col("close").shift(-1).over("symbol").is_not_null()
    return bars.select("ts", "symbol", pl.when(known).then(params["weight"]).otherwise(0.0).alias("weight"))
'''

IMPORTS = """import {module}
import polars as pl
from quant.sdk import param

PARAMS = []


def generate(bars: pl.DataFrame, params: dict) -> pl.DataFrame:
    return bars.select("ts", "symbol", pl.lit(0.1).alias("weight"))
"""


@given("the sample data", target_fixture="snapshot_id")
def _sample_data(bt: Container) -> str:
    with bt.db.transaction() as session:
        return market.latest_snapshot(session).id


def _create(client: Any, me: support.User, ref: dict, rules: dict | None = None) -> httpx.Response:
    body = support.backtest_body(strategyRef=ref, **({"rules": rules} if rules else {}))
    return client.post("/api/backtests", json=body, headers=me.headers)


@when("the user creates a backtest with inline code holding every symbol with a 3% stop-loss", target_fixture="answer")
def _create_stop(client: Any, me: support.User) -> httpx.Response:
    return _create(client, me, {"code": HOLD_WITH_STOP, "name": f"hold-{uuid.uuid4().hex[:6]}"})


@when(
    parsers.parse("the user creates a backtest with inline code reading the next bar and the rules {rules}"),
    target_fixture="answer",
)
def _create_peek(client: Any, me: support.User, rules: str) -> httpx.Response:
    return _create(client, me, {"code": READS_NEXT_BAR}, json.loads(rules))


@when(
    parsers.parse('the user creates a backtest of the template "{template}" with the rules {rules}'),
    target_fixture="answer",
)
def _create_template(client: Any, me: support.User, template: str, rules: str) -> httpx.Response:
    return _create(client, me, {"template": template, "params": {"fast": 5, "slow": 20}}, json.loads(rules))


@when(parsers.parse('the user creates a backtest with inline code importing "{module}"'), target_fixture="answer")
def _create_bad(client: Any, me: support.User, module: str) -> httpx.Response:
    return _create(client, me, {"code": IMPORTS.format(module=module)})


@then("the answer is 201 and the backtest pins version 1 of a new strategy of the user's with that code")
def _pinned(client: Any, me: support.User, answer: httpx.Response) -> None:
    assert answer.status_code == 201, answer.text
    pin = answer.json()["backtest"]["strategy"]
    assert pin["version_number"] == 1
    version = client.get(f"/api/strategies/{pin['strategy_id']}/versions/1", headers=me.headers).json()
    assert version["source"] == HOLD_WITH_STOP
    assert version["id"] == pin["version_id"]
    listed = client.get("/api/strategies", headers=me.headers).json()
    assert [s["id"] for s in listed["items"]] == [pin["strategy_id"]]


def _run(bt: Container, client: Any, me: support.User, answer: httpx.Response, params: dict) -> dict:
    assert answer.status_code == 201, answer.text
    backtest = answer.json()["backtest"]
    response = support.submit(client, me, backtest, params)
    assert response.status_code == 201, response.text
    [run_id] = response.json()["run_ids"]
    job_id = uuid.UUID(support.read_run(client, me, run_id)["job_id"])
    attempt.execute(env_of(bt).jobs, job_id, worker_name="in-process", pid=os.getpid(), kill=lambda: None)
    return support.read_run(client, me, run_id)


@when(parsers.parse("the backtest's run with weight {weight:g} succeeds"), target_fixture="run")
def _run_weight(bt: Container, client: Any, me: support.User, answer: httpx.Response, weight: float) -> dict:
    run = _run(bt, client, me, answer, {"weight": weight})
    assert run["status"] == "succeeded", run
    return run


@when(parsers.parse("the backtest's run with weight {weight:g} fails"), target_fixture="run")
def _run_fails(bt: Container, client: Any, me: support.User, answer: httpx.Response, weight: float) -> dict:
    run = _run(bt, client, me, answer, {"weight": weight})
    assert run["status"] == "failed", run
    return run


@when(parsers.parse("the backtest's run with fast {fast:d} and slow {slow:d} succeeds"), target_fixture="run")
def _run_ma(bt: Container, client: Any, me: support.User, answer: httpx.Response, fast: int, slow: int) -> dict:
    run = _run(bt, client, me, answer, {"fast": fast, "slow": slow})
    assert run["status"] == "succeeded", run
    return run


@then(parsers.parse("the orders show sells with the reason {reason}"))
def _orders_reason(client: Any, me: support.User, run: dict, reason: str) -> None:
    response = support.artifact(client, me, run["run_id"], "orders", "parquet")
    orders = pl.read_parquet(io.BytesIO(response.content))
    exits = orders.filter(pl.col("reason") == reason)
    assert exits.height > 0, orders["reason"].value_counts()
    assert set(exits["side"]) == {"sell"} and set(exits["status"]) == {"filled"}


@then(parsers.parse("the run's manifest lists the exit rules {rules}"))
def _manifest_exits(run: dict, rules: str) -> None:
    assert run["manifest"]["exits"] == json.loads(rules)
    assert run["manifest"]["engine_version"] == "0.3.0"


def _first_quarter_end(bt: Container) -> str:
    with bt.db.transaction() as session:
        sessions = market.trading_sessions(
            session,
            *(__import__("datetime").date.fromisoformat(support.WINDOW[k]) for k in ("start", "end")),
        )
    return str(sessions[len(sessions) // 4 - 1])


@then(
    parsers.parse(
        "the run's manifest reports LOOKAHEAD on the last session of the window's first quarter for \"{symbol}\""
    )
)
def _manifest_lookahead(bt: Container, run: dict, symbol: str) -> None:
    audit = run["manifest"]["lookahead"]
    assert (audit["status"], audit["code"]) == ("warning", "LOOKAHEAD")
    assert (audit["session"], audit["symbol"]) == (_first_quarter_end(bt), symbol)
    assert (audit["full"], audit["prefix"]) == (0.3, 0.0)


@then(parsers.parse('the run\'s log has the warning "{text}"'))
def _log_warning(client: Any, me: support.User, run: dict, text: str) -> None:
    response = support.artifact(client, me, run["run_id"], "logs", "parquet")
    logs = pl.read_parquet(io.BytesIO(response.content))
    warnings = logs.filter((pl.col("level") == "warning") & (pl.col("stage") == "audit"))["message"].to_list()
    assert len(warnings) == 1 and warnings[0].startswith(text), logs


@then(parsers.parse('the run\'s error is INVALID_INPUT with the code LOOKAHEAD for "{symbol}"'))
def _strict_error(bt: Container, run: dict, symbol: str) -> None:
    error = run["error"]
    assert error["code"] == "INVALID_INPUT", error
    assert error["message"].startswith("LOOKAHEAD: the targets change when later bars are added")
    details = error["details"]
    assert (details["code"], details["symbol"], details["session"]) == ("LOOKAHEAD", symbol, _first_quarter_end(bt))
    assert run["stats"] is None


@then(parsers.parse("the run's manifest reports the look-ahead audit passed on {count:d} prefixes"))
def _passed(run: dict, count: int) -> None:
    audit = run["manifest"]["lookahead"]
    assert audit["status"] == "passed" and len(audit["prefix_ends"]) == count


@then(parsers.parse('the answer is the 422 INVALID_INPUT saving that code as a strategy gives, naming "{field}"'))
def _same_as_saving(client: Any, me: support.User, answer: httpx.Response, field: str) -> None:
    error = support.envelope(answer, 422, "INVALID_INPUT")
    source = IMPORTS.format(module="os")
    saved = client.post("/api/strategies", json={"name": "probe", "source": source}, headers=me.headers)
    expected = support.envelope(saved, 422, "INVALID_INPUT")
    assert error["message"] == expected["message"]
    assert error["details"] == {**expected["details"], "field": field}


@then("the user has no backtest and no strategy")
def _nothing(client: Any, me: support.User) -> None:
    assert client.get("/api/backtests", headers=me.headers).json()["total"] == 0
    assert client.get("/api/strategies", headers=me.headers).json()["total"] == 0


@when(parsers.parse('the user sweeps it over weight "{weights}" and its batches run'), target_fixture="sweep")
def _sweep(bt: Container, client: Any, me: support.User, answer: httpx.Response, weights: str) -> dict:
    assert answer.status_code == 201, answer.text
    backtest = answer.json()["backtest"]
    body = {"mode": "grid", "gridSpec": {"weight": [float(w) for w in weights.split(",")]}}
    submitted = client.post(f"/api/backtests/{backtest['id']}/runs", json=body, headers=me.headers)
    assert submitted.status_code == 201, submitted.text
    opt_id = submitted.json()["optimization_id"]
    while True:
        opt = client.get(f"/api/optimizations/{opt_id}", headers=me.headers).json()
        queued = [b for b in opt["batches"] if b["status"] == "queued"]
        if not queued or opt["status"] in support.TERMINAL:
            break
        attempt.execute(env_of(bt).jobs, uuid.UUID(queued[0]["job_id"]), worker_name="in-process", pid=os.getpid(),
                        kill=lambda: None)  # fmt: skip
    assert opt["status"] == "succeeded", opt
    rows = client.get(f"/api/optimizations/{opt_id}/results", params={"limit": 10}, headers=me.headers).json()
    return {"backtest": backtest, "rows": rows["items"]}


@then("each result row's total return equals a single run with its weight, whose orders show STOP_LOSS exits")
def _rows_equal_runs(bt: Container, client: Any, me: support.User, answer: httpx.Response, sweep: dict) -> None:
    assert len(sweep["rows"]) == 2
    for row in sweep["rows"]:
        run = _run_weight(bt, client, me, answer, row["params"]["weight"])
        assert row["metrics"]["total_return"] == pytest.approx(run["stats"]["total_return"], rel=1e-12, abs=1e-15)
        _orders_reason(client, me, run, "STOP_LOSS")


@when("the user creates a backtest with a pasted JoinQuant-style stop-loss strategy", target_fixture="answer")
def _create_joinquant(client: Any, me: support.User) -> httpx.Response:
    return _create(client, me, {"code": JOINQUANT_STOP, "name": f"jq-{uuid.uuid4().hex[:6]}"})


@when(
    "the user creates a backtest with a pasted event-driven strategy holding every symbol with a 3% stop-loss",
    target_fixture="answer",
)
def _create_event_stop(client: Any, me: support.User) -> httpx.Response:
    return _create(client, me, {"code": EVENT_HOLD_WITH_STOP, "name": f"ev-{uuid.uuid4().hex[:6]}"})


@when(parsers.parse("the backtest's run with stop_loss {stop:g} succeeds"), target_fixture="run")
def _run_stop(bt: Container, client: Any, me: support.User, answer: httpx.Response, stop: float) -> dict:
    run = _run(bt, client, me, answer, {"stop_loss": stop})
    assert run["status"] == "succeeded", run
    return run


def _orders(client: Any, me: support.User, run: dict) -> pl.DataFrame:
    response = support.artifact(client, me, run["run_id"], "orders", "parquet")
    assert response.status_code == 200, response.text
    return pl.read_parquet(io.BytesIO(response.content))


def _tagged_stop_exits(client: Any, me: support.User, run: dict) -> pl.DataFrame:
    orders = _orders(client, me, run)
    assert "tag" in orders.columns, orders.columns
    stops = orders.filter(pl.col("tag") == "STOP_LOSS")
    assert stops.height > 0, orders["tag"].value_counts()
    assert set(stops["side"]) == {"sell"} and set(orders.filter(pl.col("tag") == "ENTRY")["side"]) == {"buy"}
    return stops


@then(
    parsers.parse(
        "the orders show filled sells tagged STOP_LOSS, each at least {pct:d}% below the position's average cost"
    )
)
def _stops_below_cost(client: Any, me: support.User, run: dict, pct: int) -> None:
    orders = _orders(client, me, run)
    stops = _tagged_stop_exits(client, me, run).filter(pl.col("status") == "filled")
    response = support.artifact(client, me, run["run_id"], "positions", "parquet")
    positions = pl.read_parquet(io.BytesIO(response.content))
    assert stops.height > 0
    for stop in stops.iter_rows(named=True):
        # decided on the previous session's close, at or below the average cost × (1 − stop_loss)
        held = positions.filter((pl.col("symbol") == stop["symbol"]) & (pl.col("date") < stop["date"])).sort("date")
        before = held.row(-1, named=True)
        entry = orders.filter(
            (pl.col("symbol") == stop["symbol"]) & (pl.col("side") == "buy") & (pl.col("filled_qty") > 0)
        ).filter(pl.col("ts") < stop["ts"])[-1]  # one entry buy per position (an order_value); cost incl. fees
        cost = (entry["value"][0] + entry["fees"][0]) / entry["filled_qty"][0]
        assert before["close"] <= cost * (1 - pct / 100), (stop, before, cost)
        assert stop["filled_qty"] == before["shares"] == entry["filled_qty"][0]  # the whole position (T+1 passed)
    # every filled sell of this strategy is a stop exit
    assert stops.height == orders.filter((pl.col("side") == "sell") & (pl.col("status") == "filled")).height


@then(parsers.parse("the run's orders page shows the tag {tag}"))
def _page_tag(client: Any, me: support.User, run: dict, tag: str) -> None:
    response = client.get(
        f"/api/runs/{run['run_id']}/orders", params={"limit": 200, "side": "sell"}, headers=me.headers
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert any(item.get("tag") == tag and item["side"] == "sell" for item in items), items[:3]
    csv = client.get(
        f"/api/runs/{run['run_id']}/artifacts/orders", params={"format": "csv", "headers": "zh"}, headers=me.headers
    )
    assert csv.status_code == 200, csv.text
    header, *rows = csv.text.splitlines()
    assert "标签" in header.split(",") and any(row.endswith(f",{tag}") or f",{tag}," in row for row in rows)


@when(parsers.parse('the user sweeps it over stop_loss "{stops}" and its batches run'), target_fixture="sweep")
def _sweep_stop(bt: Container, client: Any, me: support.User, answer: httpx.Response, stops: str) -> dict:
    assert answer.status_code == 201, answer.text
    backtest = answer.json()["backtest"]
    body = {"mode": "grid", "gridSpec": {"stop_loss": [float(x) for x in stops.split(",")]}}
    submitted = client.post(f"/api/backtests/{backtest['id']}/runs", json=body, headers=me.headers)
    assert submitted.status_code == 201, submitted.text
    opt_id = submitted.json()["optimization_id"]
    while True:
        opt = client.get(f"/api/optimizations/{opt_id}", headers=me.headers).json()
        queued = [b for b in opt["batches"] if b["status"] == "queued"]
        if not queued or opt["status"] in support.TERMINAL:
            break
        attempt.execute(env_of(bt).jobs, uuid.UUID(queued[0]["job_id"]), worker_name="in-process", pid=os.getpid(),
                        kill=lambda: None)  # fmt: skip
    assert opt["status"] == "succeeded", opt
    rows = client.get(f"/api/optimizations/{opt_id}/results", params={"limit": 10}, headers=me.headers).json()
    return {"backtest": backtest, "rows": rows["items"]}


@then("each result row's total return equals a single run with its stop_loss, whose orders show sells tagged STOP_LOSS")
def _stop_rows_equal_runs(bt: Container, client: Any, me: support.User, answer: httpx.Response, sweep: dict) -> None:
    assert sorted(row["params"]["stop_loss"] for row in sweep["rows"]) == [0.03, 0.05]
    assert all(row.get("error") is None for row in sweep["rows"]), sweep["rows"]
    for row in sweep["rows"]:
        run = _run_stop(bt, client, me, answer, row["params"]["stop_loss"])
        assert row["metrics"]["total_return"] == pytest.approx(run["stats"]["total_return"], rel=1e-12, abs=1e-15)
        _tagged_stop_exits(client, me, run)


@then(parsers.parse("the run's report counts its filled sells tagged {tag}"))
def _report_tag(client: Any, me: support.User, run: dict, tag: str) -> None:
    orders = _orders(client, me, run)
    count = orders.filter((pl.col("tag") == tag) & (pl.col("side") == "sell") & (pl.col("status") == "filled")).height
    answer = support.artifact(client, me, run["run_id"], "report", "html")
    assert answer.status_code == 200, answer.text
    html = answer.text
    table = html[html.index('id="orders-by-tag"') : html.index("</table>", html.index('id="orders-by-tag"'))]
    assert f"<tr><td>{tag}</td><td>sell</td><td>filled</td><td>{count}</td></tr>" in table, table
