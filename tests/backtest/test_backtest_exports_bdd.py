"""BDD without workers: the run exports (exports.feature) through the API and the CLI in this process; the
run is executed here by job_orchestration's attempt (the attempt a worker would make)."""

from __future__ import annotations

import io
import json
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import polars as pl
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from backtest.config import env_of
from huice.bootstrap import Container
from job_orchestration import attempt
from tests.backtest import support

scenarios("backtest/features/exports.feature")


@given("the sample data", target_fixture="snapshot_id")
def _sample_data(bt: Container) -> str:
    from market_data import service as market

    with bt.db.transaction() as session:
        return market.latest_snapshot(session).id


@given(parsers.parse("a succeeded run with fast {fast:d} and slow {slow:d}"), target_fixture="run")
def _succeeded_run(bt: Container, client: Any, me: support.User, backtest: dict, fast: int, slow: int) -> dict:
    response = support.submit(client, me, backtest, {"fast": fast, "slow": slow})
    assert response.status_code == 201, response.text
    run_id = response.json()["run_ids"][0]
    job_id = uuid.UUID(support.read_run(client, me, run_id)["job_id"])
    outcome = attempt.execute(env_of(bt).jobs, job_id, worker_name="in-process", pid=os.getpid(), kill=lambda: None)
    run = support.read_run(client, me, run_id)
    assert (outcome, run["status"]) == ("succeeded", "succeeded"), run
    return run


@when(parsers.parse('the user downloads the run\'s "{kind}" as "{fmt}"'), target_fixture="answer")
def _download(client: Any, me: support.User, run: dict, kind: str, fmt: str) -> httpx.Response:
    return support.artifact(client, me, run["run_id"], kind, fmt)


@when(
    parsers.parse('the user downloads the run\'s "{kind}" as "{fmt}" with "{headers}" headers'), target_fixture="answer"
)
def _download_with(client: Any, me: support.User, run: dict, kind: str, fmt: str, headers: str) -> httpx.Response:
    params = {"format": fmt, "headers": headers}
    return client.get(f"/api/runs/{run['run_id']}/artifacts/{kind}", params=params, headers=me.headers)


def _sheet(content: bytes) -> list[tuple[Any, ...]]:
    return list(openpyxl.load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.replace(" and ", ", ").split(",")]


@then(parsers.parse("the answer is an xlsx workbook whose header row starts with {names}"), target_fixture="rows")
def _workbook(answer: httpx.Response, names: str) -> list[tuple[Any, ...]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert answer.headers["content-disposition"].endswith('.xlsx"')
    rows = _sheet(answer.content)
    expected = _names(names)
    assert list(rows[0][: len(expected)]) == expected
    return rows


@then("in its rows the dates are dates, the quantities integers and the prices and P&L numbers")
def _typed(rows: list[tuple[Any, ...]]) -> None:
    header, body = rows[0], rows[1:]
    assert body
    col = {name: i for i, name in enumerate(header)}
    for row in body:
        assert isinstance(row[col["代码"]], str)
        assert isinstance(row[col["买入日期"]], datetime) and isinstance(row[col["卖出日期"]], datetime)
        assert type(row[col["数量"]]) is int and row[col["数量"]] % 100 == 0  # whole lots of 100 shares
        assert type(row[col["持有交易日"]]) is int
        assert isinstance(row[col["买入价格"]], float) and isinstance(row[col["盈亏"]], int | float)


@then(parsers.parse("the CSV starts with a byte-order mark and its header is {names}"), target_fixture="table")
def _csv(answer: httpx.Response, names: str) -> str:
    assert answer.status_code == 200, answer.text
    assert answer.content.startswith(b"\xef\xbb\xbf")
    text = answer.content.decode("utf-8-sig")
    assert text.splitlines()[0].split(",") == _names(names)
    return text


@then(parsers.parse('every "{column}" in it is a whole number written without a decimal point'))
def _whole(table: str, column: str) -> None:
    lines = table.splitlines()
    index = lines[0].split(",").index(column)
    values = [line.split(",")[index] for line in lines[1:]]
    assert values and all(v.isdigit() for v in values), values[:5]


@then(parsers.parse('no row has a "{column}" and every "{quantity}" is an integer'))
def _json_rows(answer: httpx.Response, column: str, quantity: str) -> None:
    rows = json.loads(answer.content)
    assert rows and all(column not in r for r in rows)
    assert all(type(r[quantity]) is int for r in rows)


@then(parsers.parse('the stored table still has the engine\'s "{column}" column'))
def _stored(answer: httpx.Response, column: str) -> None:
    frame = pl.read_parquet(io.BytesIO(answer.content))
    assert column in frame.columns and frame.schema["filled_qty"] == pl.Float64


@then(parsers.parse("its first rows are {names} with the run's figures"))
def _metric_rows(rows: list[tuple[Any, ...]], run: dict, names: str) -> None:
    expected = _names(names)
    assert [r[0] for r in rows[1 : 1 + len(expected)]] == expected
    stats = run["stats"]
    assert [r[1] for r in rows[1:4]] == pytest.approx(
        [stats["total_return"], stats["annual_return"], stats["volatility"]]
    )


@then(parsers.parse('the answer is {status:d} INVALID_INPUT naming "{field}"'))
def _refused(answer: httpx.Response, status: int, field: str) -> None:
    assert answer.status_code == status
    error = answer.json()["error"]
    assert (error["code"], error["details"]["field"]) == ("INVALID_INPUT", field)


@given("a signed-in user of the CLI", target_fixture="cli_env")
def _cli_env(bt: Container, me: support.User, run: dict, tmp_path: Path) -> dict[str, Any]:
    env = support.worker_env(bt)
    env["HUICE_API_KEY"] = support.api_key_for(bt, me)
    return {"env": env, "names": {"dir": str(tmp_path), "run": run["run_id"]}}


@then(parsers.parse('the file "{name}" is an xlsx workbook whose header row starts with {names}'))
def _file(result: Any, cli_env: dict, name: str, names: str) -> None:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    rows = _sheet((Path(cli_env["names"]["dir"]) / name).read_bytes())
    expected = _names(names)
    assert list(rows[0][: len(expected)]) == expected
    assert type(rows[1][2]) is int and isinstance(rows[1][0], datetime)
