"""Steps of the universes feature: backtests on a point-in-time selection over the backtest database's
sample slice (600010.SH, 000010.SZ, 300010.SZ and the CSI 300 index, 2023-01..2024-06), run in process by
the job runtime's own runner."""

from __future__ import annotations

import json
import os
import uuid
from datetime import date
from typing import Any

import httpx
import polars as pl
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from backtest.config import env_of
from huice.bootstrap import Container
from job_orchestration import attempt
from market_data import service as market
from market_data.config import env_of as market_env_of
from quant.templates import get_template
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


@given(
    parsers.parse(
        'a backtest of inline momentum_rotation code holding {n:d} stocks on the CSI 300 members from "{start}" to '
        '"{end}"'
    ),
    target_fixture="created",
)
def _inline_index_backtest(client: Any, me: support.User, n: int, start: str, end: str) -> dict:
    code = get_template("momentum_rotation").source + "\n# user code: runs in the confined runner\n"
    body = support.backtest_body(
        strategyRef={"code": code, "params": {"top_n": n, "lookback": 5, "rebalance": 5}},
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
        "index": "000300.SH", "all": False, "boards": None, "exclude_st": False, "min_listed_sessions": 0,
        "min_float_value": None, "min_turnover": None,
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


@then(
    parsers.parse(
        "from the first fill on it holds {n:d} stocks on every session, each a CSI 300 member on that session"
    )
)
def _holds_n_members(bt: Container, client: Any, me: support.User, run: dict, n: int) -> None:
    positions = _positions(client, me, run)
    days = sorted({d for d, _ in positions})
    with bt.db.transaction() as session:
        members = market.universe_membership(session, index="000300.SH", start=days[0], end=days[-1])
    inside = set(members.select("date", "symbol").iter_rows())
    held = {d: sorted(s for e, s in positions if e == d) for d in days}
    assert [d for d in days if len(held[d]) != n] == [], {d: held[d] for d in days if len(held[d]) != n}
    assert [(d, s) for d, s in positions if (d, s) not in inside] == []


@then("on these rebalance sessions the 5-session returns and the stocks held after the next open are")
def _momentum_picks(bt: Container, client: Any, me: support.User, run: dict, datatable: list[list[str]]) -> None:
    header, *rows = datatable
    codes = header[2:5]
    with bt.db.transaction() as session:
        closes = market.get_bars(
            session, market_env_of(bt), symbols=codes, freq="1d", start=date(2023, 2, 1), end=date(2024, 6, 28),
            adjust="hfq",
        ).select("symbol", pl.col("ts").dt.date().alias("date"), "close")  # fmt: skip
    back = closes.with_columns((pl.col("close") / pl.col("close").shift(5).over("symbol") - 1).alias("ret"))
    positions = _positions(client, me, run)
    for row in rows:
        day, after = date.fromisoformat(row[0]), date.fromisoformat(row[1])
        rets = dict(back.filter(pl.col("date") == day).select("symbol", pl.col("ret").round(4)).rows())
        assert rets == {c: float(v) for c, v in zip(codes, row[2:5], strict=True)}, day
        held = sorted(s for d, s in positions if d == after)
        assert held == row[5].split(","), (after, held)


@when(parsers.parse("the user creates a backtest on the universe {universe}"), target_fixture="answer")
def _create_on(client: Any, me: support.User, universe: str) -> httpx.Response:
    return client.post("/api/backtests", json=support.backtest_body(universe=json.loads(universe)), headers=me.headers)


def _ints(values: str) -> list[int]:
    return [int(v) for v in values.split(",")]


def _sweep_and_run(bt: Container, client: Any, me: support.User, created: dict, body: dict) -> dict:
    """Submit a sweep, run its batch jobs in process until none is queued, and read it and its results."""
    answer = client.post(f"/api/backtests/{created['backtest_id']}/runs", json=body, headers=me.headers)
    assert answer.status_code == 201, answer.text
    opt_id = answer.json()["optimization_id"]
    for _ in range(20):
        opt = client.get(f"/api/optimizations/{opt_id}", headers=me.headers).json()
        queued = [b for b in opt["batches"] if b["status"] == "queued"]
        if not queued:
            break
        _run_job(bt, queued[0]["job_id"])
    opt = client.get(f"/api/optimizations/{opt_id}", headers=me.headers).json()
    rows = client.get(f"/api/optimizations/{opt_id}/results", params={"limit": 50}, headers=me.headers).json()
    return {"opt": opt, "rows": rows["items"]}


@when(
    parsers.parse(
        'the user submits a grid sweep of top_n "{top}" and lookback "{lookback}" in batches of {size:d} '
        "and its batches run"
    ),
    target_fixture="swept",
)
def _selection_sweep(bt: Container, client: Any, me: support.User, created: dict, top: str, lookback: str, size: int):
    grid = {"top_n": _ints(top), "lookback": _ints(lookback)}
    return _sweep_and_run(bt, client, me, created, {"mode": "grid", "gridSpec": grid, "batch_size": size})


@then(parsers.parse("every one of the {count:d} combinations succeeded and they do not all have the same total return"))
def _all_succeeded(swept: dict, count: int) -> None:
    rows = swept["rows"]
    assert swept["opt"]["status"] == "succeeded", swept["opt"]
    assert len(rows) == count and all(r["status"] == "succeeded" for r in rows), rows
    assert len({r["metrics"]["total_return"] for r in rows}) > 1


@when(
    parsers.parse(
        "the user submits a Bayesian sweep of top_n from {top_low:d} to {top_high:d} and lookback from {lb_low:d} to "
        "{lb_high:d} with {n:d} evaluations and its batches run"
    ),
    target_fixture="swept",
)
def _bayes_sweep(
    bt: Container, client: Any, me: support.User, created: dict, top_low: int, top_high: int, lb_low: int,
    lb_high: int, n: int,
) -> dict:  # fmt: skip
    space = {
        "top_n": {"type": "int", "low": top_low, "high": top_high},
        "lookback": {"type": "int", "low": lb_low, "high": lb_high},
    }
    return _sweep_and_run(bt, client, me, created, {"mode": "bayes", "space": space, "n": n, "seed": 7})


@then(parsers.parse("every one of the {count:d} evaluations succeeded"))
def _evaluations_succeeded(swept: dict, count: int) -> None:
    assert (swept["opt"]["status"], swept["opt"]["evaluated"]) == ("succeeded", count), swept["opt"]
    assert len(swept["rows"]) == count and all(r["status"] == "succeeded" for r in swept["rows"]), swept["rows"]


@when("the user promotes the best combination and its run succeeds", target_fixture="run")
def _promote_best(bt: Container, client: Any, me: support.User, swept: dict) -> dict:
    best = swept["rows"][0]  # the first page is sorted best first
    assert best["index"] == swept["opt"]["best"]["index"]
    answer = client.post(
        f"/api/optimizations/{swept['opt']['optimization_id']}/results/{best['index']}:promote", headers=me.headers
    )
    assert answer.status_code == 201, answer.text
    [run_id] = answer.json()["run_ids"]
    _run_job(bt, support.read_run(client, me, run_id)["job_id"])
    run = support.read_run(client, me, run_id)
    assert run["status"] == "succeeded" and run["params"] == best["params"], run
    return run


@then("the run has the metrics of the sweep's best combination")
def _same_metrics(run: dict, swept: dict) -> None:
    best = swept["rows"][0]["metrics"]
    shared = [k for k in best if k in run["stats"] and isinstance(best[k], int | float)]
    assert {"total_return", "sharpe", "max_drawdown", "alpha"} <= set(shared), (sorted(best), sorted(run["stats"]))
    for key in shared:
        assert run["stats"][key] == pytest.approx(best[key], rel=1e-9, abs=1e-12), key


@when(
    parsers.parse(
        'the user submits a grid sweep of top_n "{top}" with a walk-forward of {train} training and {test} test '
        "and its batches run"
    ),
    target_fixture="swept",
)
def _walk_forward_sweep(bt: Container, client: Any, me: support.User, created: dict, top: str, train: str, test: str):
    body = {
        "mode": "grid",
        "gridSpec": {"top_n": _ints(top)},
        "validation": {"walk_forward": {"train": train, "test": test}},
    }
    return _sweep_and_run(bt, client, me, created, body)


@then(parsers.parse("the validation has {count:d} folds, each with its best combination and an out-of-sample result"))
def _validated(swept: dict, count: int) -> None:
    validation = swept["opt"]["validation"]
    assert validation is not None and "error" not in validation, validation
    folds = validation["folds"]
    assert len(folds) == count, folds
    for fold in folds:
        assert fold["best_params"]["top_n"] in (1, 2) and fold.get("error") is None, fold
        assert isinstance(fold["out_of_sample"], float), fold
    assert validation["out_of_sample"]["equity"], validation


@then(parsers.parse('the answer is 422 INVALID_INPUT naming "{field}"'))
def _invalid(answer: httpx.Response, field: str) -> None:
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "INVALID_INPUT" and field in (error["details"].get("field") or ""), error


VALUE_CODE = (
    "import polars as pl\nfrom quant.sdk import param, top_n\n"
    "FIELDS = {fields}\nPARAMS = [param('n', int, default=1, min=1, max=5)]\n"
    "def generate(bars, params):\n    return bars.select('ts', 'symbol', top_n('pb', params['n']).alias('weight'))\n"
)


@given(
    parsers.parse('a backtest of value_rotation holding {n:d} stocks on the CSI 800 members from "{start}" to "{end}"'),
    target_fixture="created",
)
def _value_backtest(client: Any, me: support.User, n: int, start: str, end: str) -> dict:
    body = support.backtest_body(
        strategyRef={"template": "value_rotation", "params": {"n": n}},
        universe={"index": "000906.SH"},
        window={"start": start, "end": end},
    )
    answer = client.post("/api/backtests", json=body, headers=me.headers)
    assert answer.status_code == 201, answer.text
    assert answer.json()["backtest"]["context"]["universe"] == ["000010.SZ", "300010.SZ", "600010.SH"]
    return answer.json()


@then("on each rebalance session the stored PB and the stocks held after the next open are")
def _value_picks(bt: Container, client: Any, me: support.User, run: dict, datatable: list[list[str]]) -> None:
    header, *rows = datatable
    codes = header[2:5]
    with bt.db.transaction() as session:
        stored = market.fundamentals(session, codes, date(2023, 10, 1), date(2024, 6, 28))
    positions = _positions(client, me, run)
    for row in rows:
        day, after = date.fromisoformat(row[0]), date.fromisoformat(row[1])
        pbs = stored.filter(pl.col("date") == day).select("symbol", "pb").rows()
        assert dict(pbs) == {c: float(v) for c, v in zip(codes, row[2:5], strict=True)}, day
        held = sorted(s for d, s in positions if d == after)
        assert held == row[5].split(","), (after, held)


def _positions(client: Any, me: support.User, run: dict) -> set[tuple[date, str]]:
    answer = support.artifact(client, me, run["run_id"], "positions", "json")
    assert answer.status_code == 200, answer.text
    rows = answer.json()
    rows = rows["rows"] if isinstance(rows, dict) and "rows" in rows else rows
    return {(date.fromisoformat(str(r["date"])[:10]), r["symbol"]) for r in rows if (r.get("shares") or 0) > 0}


@when(parsers.parse("the user creates a backtest of inline code declaring FIELDS = {fields}"), target_fixture="answer")
def _unknown_field(client: Any, me: support.User, fields: str) -> httpx.Response:
    body = support.backtest_body(strategyRef={"code": VALUE_CODE.format(fields=fields), "params": {}})
    return client.post("/api/backtests", json=body, headers=me.headers)


@then(parsers.parse('the error names the unknown field "{name}"'))
def _names_field(answer: httpx.Response, name: str) -> None:
    error = answer.json()["error"]
    assert error["details"].get("unknown_field") == name, error
    assert f"unknown field '{name}' in FIELDS" in error["message"]


@when(
    parsers.parse(
        'the CSI 300 members from "{start}" to "{end}" are selected with a float value of at least {minimum:d} CNY'
    ),
    target_fixture="selected",
)
def _selected_by_float(bt: Container, start: str, end: str, minimum: int) -> dict:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    with bt.db.transaction() as session:
        plain = market.universe_membership(session, index="000300.SH", start=first, end=last)
        kept = market.universe_membership(
            session, index="000300.SH", start=first, end=last, min_float_value=float(minimum)
        )
        stored = market.fundamentals(session, support.SYMBOLS, first, last)
    return {"plain": plain, "kept": kept, "stored": stored}


def _sessions_of(frame: pl.DataFrame, symbol: str) -> list[date]:
    return sorted(frame.filter(pl.col("symbol") == symbol)["date"].to_list())


@then(parsers.parse('"{a}" and "{b}" are selected on every session'))
def _every_session(selected: dict, a: str, b: str) -> None:
    sessions = sorted(selected["plain"]["date"].unique().to_list())
    assert _sessions_of(selected["kept"], a) == sessions and _sessions_of(selected["kept"], b) == sessions


@then(
    parsers.parse(
        '"{symbol}" is selected on exactly the sessions its stored circ_mv is at least {minimum:d} (10,000 CNY), '
        "some but not all"
    )
)
def _float_sessions(selected: dict, symbol: str, minimum: int) -> None:
    stored = selected["stored"].filter((pl.col("symbol") == symbol) & (pl.col("circ_mv") >= minimum))
    expected = sorted(stored["date"].to_list())
    assert _sessions_of(selected["kept"], symbol) == expected
    assert 0 < len(expected) < len(_sessions_of(selected["plain"], symbol))


@then("the members without daily_basic rows are never selected")
def _no_rows_no_selection(selected: dict) -> None:
    assert set(selected["kept"]["symbol"].unique().to_list()) == set(support.SYMBOLS)
    assert set(selected["plain"]["symbol"].unique().to_list()) > set(support.SYMBOLS)


@given(
    parsers.parse(
        'a backtest of value_rotation holding {n:d} stocks on the three sample stocks from "{start}" to "{end}"'
    ),
    target_fixture="created",
)
def _value_list_backtest(client: Any, me: support.User, n: int, start: str, end: str) -> dict:
    body = support.backtest_body(
        strategyRef={"template": "value_rotation", "params": {"n": n}}, window={"start": start, "end": end}
    )
    answer = client.post("/api/backtests", json=body, headers=me.headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _run_job(bt: Container, job_id: str) -> None:
    attempt.execute(env_of(bt).jobs, uuid.UUID(job_id), worker_name="in-process", pid=os.getpid(), kill=lambda: None)


@when(parsers.parse('the user submits a grid sweep of n "{values}" and its batches run'), target_fixture="swept")
def _value_sweep(bt: Container, client: Any, me: support.User, created: dict, values: str) -> dict:
    return _sweep_and_run(bt, client, me, created, {"mode": "grid", "gridSpec": {"n": _ints(values)}})


@then("every combination succeeded and the one of n 1 has the total return of a single run with n 1")
def _sweep_matches(bt: Container, client: Any, me: support.User, created: dict, swept: dict) -> None:
    rows = {r["params"]["n"]: r for r in swept["rows"]}
    assert sorted(rows) == [1, 2, 3] and all(r["status"] == "succeeded" for r in rows.values()), swept
    run = _run(bt, client, me, created)
    assert rows[1]["metrics"]["total_return"] == pytest.approx(run["stats"]["total_return"], rel=1e-12)
    assert rows[1]["metrics"]["total_return"] != rows[3]["metrics"]["total_return"]


@when(
    parsers.parse(
        'the user creates a backtest of inline code declaring FIELDS = {fields} on "{codes}" from "{start}" to "{end}"'
    ),
    target_fixture="answer",
)
def _fields_backtest(client: Any, me: support.User, fields: str, codes: str, start: str, end: str) -> httpx.Response:
    body = support.backtest_body(
        strategyRef={"code": VALUE_CODE.format(fields=fields), "params": {}},
        universe=codes.split(","),
        window={"start": start, "end": end},
    )
    return client.post("/api/backtests", json=body, headers=me.headers)


def _half_known(bt: Container, warnings: list[str], field: str, window: dict) -> None:
    """The one fundamentals warning names `field` known on the sessions of one of the two codes."""
    with bt.db.transaction() as session:
        sessions = len(
            market.trading_sessions(session, date.fromisoformat(window["start"]), date.fromisoformat(window["end"]))
        )
    [warning] = [w for w in warnings if w.startswith("fundamentals missing")]
    assert f"{field} on {sessions:,} of {2 * sessions:,} (50.0%)" in warning, warning
    assert f"between {window['start']} and {window['end']}" in warning and "daily_basic" in warning


@then(
    parsers.parse("the backtest is created warning that {field} is known on half of its stock-sessions"),
    target_fixture="created",
)
def _created_with_warning(bt: Container, answer: httpx.Response, field: str) -> dict:
    assert answer.status_code == 201, answer.text
    created = answer.json()
    _half_known(bt, created["warnings"], field, created["backtest"]["context"]["window"])
    return created


@then(parsers.parse("the run's log and manifest carry the warning that {field} is known on half of its stock-sessions"))
def _run_warned(bt: Container, client: Any, me: support.User, run: dict, created: dict, field: str) -> None:
    window = created["backtest"]["context"]["window"]
    _half_known(bt, run["manifest"]["warnings"], field, window)
    answer = support.artifact(client, me, run["run_id"], "logs", "json")
    assert answer.status_code == 200, answer.text
    rows = answer.json()
    rows = rows["rows"] if isinstance(rows, dict) and "rows" in rows else rows
    lines = [r["message"] for r in rows if r["level"] == "warning" and r["stage"] == "data"]
    _half_known(bt, lines, field, window)


@then(parsers.parse('the error names the missing fields "{names}"'))
def _names_missing(answer: httpx.Response, names: str) -> None:
    error = answer.json()["error"]
    assert error["details"]["missing_fields"] == names.split(","), error
    assert "holds no " + ", ".join(names.split(",")) + " (daily_basic)" in error["message"], error
