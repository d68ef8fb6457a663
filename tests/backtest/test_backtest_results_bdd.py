"""BDD without workers: studying results (results.feature) through the API and the CLI in this process.

Real runs are executed in this process by job_orchestration's attempt (the attempt a worker would make).
The hand-computed curves are runs of the user whose artifacts are written to the real artifact store from
the feature's tables (their jobs are cancelled first, so no worker ever runs them)."""

from __future__ import annotations

import io
import json
import math
import os
import uuid
from datetime import date, datetime, time
from typing import Any

import httpx
import numpy as np
import polars as pl
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from backtest import repository as repo
from backtest import service
from backtest.artifacts import artifact_key
from backtest.config import env_of
from backtest.domain import parquet_bytes
from backtest.schemas import RunCreate
from huice.bootstrap import Container
from job_orchestration import attempt
from quant.results import TRADE_SCHEMA
from tests.backtest import support

scenarios("backtest/features/results.feature")

APPROX = {"rel": 1e-5, "abs": 1e-6}


# --- runs ----------------------------------------------------------------------------------------------


@given("the sample data", target_fixture="snapshot_id")
def _sample_data(bt: Container) -> str:
    from market_data import service as market

    with bt.db.transaction() as session:
        return market.latest_snapshot(session).id


def _execute(bt: Container, client: Any, user: support.User, run_id: str) -> dict[str, Any]:
    job_id = uuid.UUID(support.read_run(client, user, run_id)["job_id"])
    outcome = attempt.execute(env_of(bt).jobs, job_id, worker_name="in-process", pid=os.getpid(), kill=lambda: None)
    run = support.read_run(client, user, run_id)
    assert (outcome, run["status"]) == ("succeeded", "succeeded"), run
    return run


def _real_run(bt: Container, client: Any, user: support.User, backtest: dict, params: dict) -> dict[str, Any]:
    response = support.submit(client, user, backtest, params)
    assert response.status_code == 201, response.text
    return _execute(bt, client, user, response.json()["run_ids"][0])


@given(parsers.parse("a succeeded run with fast {fast:d} and slow {slow:d}"), target_fixture="run")
def _succeeded_run(bt: Container, client: Any, me: support.User, backtest: dict, fast: int, slow: int) -> dict:
    return _real_run(bt, client, me, backtest, {"fast": fast, "slow": slow})


@given("its rerun has succeeded", target_fixture="rerun")
def _rerun(bt: Container, client: Any, me: support.User, run: dict) -> dict:
    response = client.post(f"/api/backtests/{run['backtest_id']}/runs/{run['run_id']}:rerun", headers=me.headers)
    assert response.status_code == 201, response.text
    return _execute(bt, client, me, response.json()["run_ids"][0])


@given(parsers.parse('a succeeded run with fast {fast:d} and slow {slow:d} named "{name}"'), target_fixture="named")
def _named_run(bt: Container, client: Any, me: support.User, backtest: dict, fast: int, slow: int, name: str) -> dict:
    return {name: _real_run(bt, client, me, backtest, {"fast": fast, "slow": slow})}


def _crafted_run(
    bt: Container,
    user: support.User,
    backtest: dict,
    equity: list[tuple[date, float, float | None]],
    *,
    initial: float = 1_000_000.0,
    pnl: list[float] | None = None,
    metrics: dict[str, Any] | None = None,
) -> str:
    """A run of `user` whose artifacts are the given curve (and round trips), written to the artifact store;
    its job is cancelled first, so no worker runs it."""
    env = env_of(bt)
    with bt.db.transaction() as session:
        [run_id] = service.submit_runs(session, env, user.principal, uuid.UUID(backtest["id"]), RunCreate()).run_ids
    with bt.db.transaction() as session:
        service.cancel_run(session, env, user.principal, run_id)
    values = np.array([e for _, e, _ in equity])
    bench = [b for _, _, b in equity]
    peak = np.maximum.accumulate(np.maximum(values, initial))
    frames = {
        "equity": pl.DataFrame(
            {
                "ts": [datetime.combine(d, time(15)) for d, _, _ in equity],
                "date": [d for d, _, _ in equity],
                "cash": values,
                "market_value": np.zeros(values.size),
                "equity": values,
                "returns": values / np.append(initial, values[:-1]) - 1,
                "drawdown": values / peak - 1,
                "benchmark_equity": [np.nan if b is None else float(b) for b in bench],
            }
        ),
        "trades": pl.DataFrame(
            {
                "symbol": ["600010.SH"] * len(pnl or []),
                "entry_date": [equity[0][0]] * len(pnl or []),
                "exit_date": [equity[min(i, len(equity) - 1)][0] for i in range(len(pnl or []))],
                "quantity": [100.0] * len(pnl or []),
                "entry_price": [10.0] * len(pnl or []),
                "exit_price": [10.0 + p / 100 for p in pnl or []],
                "pnl": pnl or [],
                "return": [p / 1000 for p in pnl or []],
                "holding_sessions": list(range(len(pnl or []))),
                "dividends": [0.0] * len(pnl or []),
            },
            schema=TRADE_SCHEMA,
        ),
    }
    refs = {}
    for kind, frame in frames.items():
        stored = env.store.put(artifact_key(user.id, run_id, kind), parquet_bytes(frame))
        refs[kind] = {"key": stored.key, "rows": frame.height, "bytes": stored.bytes, "sha256": stored.sha256}
    with bt.db.transaction() as session:
        row = repo.get_run(session, user.id, run_id, for_update=True)
        row.artifacts = refs
        row.metrics = {"initial_cash": initial, **(metrics or {})}
    return str(run_id)


def _rows(datatable: list[list[str]]) -> list[dict[str, str]]:
    header, *rows = datatable
    return [dict(zip(header, row, strict=True)) for row in rows]


@given("a run of the user whose sessions end at these equities:", target_fixture="crafted")
def _crafted_curve(datatable: list[list[str]]) -> dict[str, Any]:
    rows = _rows(datatable)
    return {"equity": [(date.fromisoformat(r["date"]), float(r["equity"]), float(r["benchmark"])) for r in rows]}


@given(parsers.parse("whose round trips closed in this order with the P&L {values}"), target_fixture="run")
def _crafted_trades(bt: Container, me: support.User, backtest: dict, crafted: dict, values: str) -> dict:
    pnl = [float(v) for v in values.split(",")]
    return {"run_id": _crafted_run(bt, me, backtest, crafted["equity"], pnl=pnl)}


# --- study ---------------------------------------------------------------------------------------------


def _get(client: Any, user: support.User, path: str, run: dict | None = None, **names: str) -> httpx.Response:
    url = path.format(run=run["run_id"] if run else "", **names) if "{" in path else path
    return client.get(url, headers=user.headers)


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


@when("the user asks for the run's study", target_fixture="study")
def _study(client: Any, me: support.User, run: dict) -> dict:
    return _ok(_get(client, me, "/api/runs/{run}/study", run))


def _cell(value: str) -> Any:
    return None if value == "" else float(value) if value[0] in "-0123456789" and "-" not in value[1:] else value


def _matches(got: dict, want: dict[str, str]) -> None:
    for key, text in want.items():
        value = _cell(text)
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, **APPROX), (key, got)
        else:
            assert got[key] == value, (key, got)


@then("the drawdown periods, deepest first, are:")
def _periods(study: dict, datatable: list[list[str]]) -> None:
    want = _rows(datatable)
    assert len(study["drawdown_periods"]) == len(want)
    for got, row in zip(study["drawdown_periods"], want, strict=True):
        _matches(got, row)


@then("the monthly returns are:")
def _monthly(study: dict, datatable: list[list[str]]) -> None:
    want = _rows(datatable)
    assert [g["period"] for g in study["monthly"]] == [w["period"] for w in want]
    for got, row in zip(study["monthly"], want, strict=True):
        _matches(got, {k: v for k, v in row.items() if k != "period"})


@then("the yearly returns are:")
def _yearly(study: dict, datatable: list[list[str]]) -> None:
    want = _rows(datatable)
    assert [g["period"] for g in study["yearly"]] == [w["period"] for w in want]
    for got, row in zip(study["yearly"], want, strict=True):
        _matches(got, {k: v for k, v in row.items() if k != "period"})


@then("the statistics are:")
def _statistics(study: dict, datatable: list[list[str]]) -> None:
    for row in _rows(datatable):
        assert study["statistics"][row["statistic"]] == pytest.approx(float(row["value"]), **APPROX), row


@then(parsers.parse('the same periods and tables answer "{drawdowns}" and "{returns}"'))
def _same_routes(client: Any, me: support.User, run: dict, study: dict, drawdowns: str, returns: str) -> None:
    assert _ok(_get(client, me, drawdowns, run)) == study["drawdown_periods"][:2]
    tables = _ok(_get(client, me, returns, run))
    assert (tables["monthly"], tables["yearly"]) == (study["monthly"], study["yearly"])


# --- pages ---------------------------------------------------------------------------------------------


def _download(client: Any, user: support.User, run: dict, kind: str) -> pl.DataFrame:
    response = support.artifact(client, user, run["run_id"], kind, "parquet")
    assert response.status_code == 200
    return pl.read_parquet(io.BytesIO(response.content))


def _fen(rows: list[dict]) -> list[dict]:
    return [
        {k: (round(v, 2) if k in {"pnl", "value", "fees", "commission"} else v) for k, v in r.items()} for r in rows
    ]


def _same_rows(items: list[dict], frame: pl.DataFrame, keys: list[str]) -> None:
    want = json.loads(json.dumps(frame.select(keys).to_dicts(), default=str))
    got = [{k: item[k] for k in keys} for item in items]
    for g, w in zip(got, want, strict=True):
        for k in keys:
            if isinstance(w[k], float):
                assert g[k] == pytest.approx(w[k], abs=0.006), (k, g, w)
            else:
                assert g[k] == w[k], (k, g, w)
    assert len(got) == len(want)


@then(parsers.parse('"{path}" is the 5 best round trips of the trades download, of all of them'))
def _best_trades(client: Any, me: support.User, run: dict, path: str) -> None:
    page = _ok(_get(client, me, path, run))
    trades = _download(client, me, run, "trades")
    assert (page["total"], page["limit"], page["offset"]) == (trades.height, 5, 0)
    best = trades.sort("pnl", descending=True, maintain_order=True).head(5)
    _same_rows(page["items"], best, ["symbol", "entry_date", "exit_date", "pnl", "return"])


@then(parsers.parse('"{path}" holds exactly that symbol\'s round trips, worst first'))
def _symbol_trades(client: Any, me: support.User, run: dict, path: str) -> None:
    page = _ok(_get(client, me, path, run))
    trades = _download(client, me, run, "trades").filter(pl.col("symbol") == "600010.SH")
    assert page["total"] == trades.height > 0
    _same_rows(page["items"], trades.sort("pnl", "entry_date", maintain_order=True), ["symbol", "entry_date", "pnl"])


@then(parsers.parse('"{path}" holds exactly the orders download\'s partial fills for cash'))
def _partial_orders(client: Any, me: support.User, run: dict, path: str) -> None:
    page = _ok(_get(client, me, path, run))
    orders = _download(client, me, run, "orders")
    want = orders.filter((pl.col("status") == "partial") & (pl.col("reason") == "INSUFFICIENT_CASH"))
    assert page["total"] == want.height > 0
    _same_rows(page["items"], want, ["date", "symbol", "side", "filled_qty", "status", "reason"])


@then(parsers.parse('"{path}" is the 2nd to 4th most expensive fills of the download'))
def _fills(client: Any, me: support.User, run: dict, path: str) -> None:
    page = _ok(_get(client, me, path, run))
    fills = _download(client, me, run, "fills")
    assert (page["total"], len(page["items"])) == (fills.height, 3)
    want = fills.sort("fees", descending=True, maintain_order=True).slice(1, 3)
    _same_rows(page["items"], want, ["date", "symbol", "side", "qty", "fees", "commission", "stamp_duty"])


@then(parsers.parse('"{path}" holds exactly the round trips that closed in that range'))
def _range_trades(client: Any, me: support.User, run: dict, path: str) -> None:
    page = _ok(_get(client, me, path, run))
    trades = _download(client, me, run, "trades")
    want = trades.filter(pl.col("exit_date").is_between(date(2023, 6, 1), date(2023, 12, 31)))
    assert page["total"] == want.height > 0
    _same_rows(page["items"], want, ["symbol", "entry_date", "exit_date", "pnl"])


@then(parsers.parse('every position of "{path}" has its average cost, unrealised P&L and weight'))
def _positions(client: Any, me: support.User, run: dict, path: str) -> None:
    page = _ok(_get(client, me, path, run))
    assert page["total"] == run["artifacts"]["positions"]["rows"]
    fills = _download(client, me, run, "fills")
    equity = _download(client, me, run, "equity")
    for item in page["items"]:
        # average cost: the value-weighted buy price since the symbol was last flat, from the fills
        legs = fills.filter((pl.col("symbol") == item["symbol"]) & (pl.col("date") <= date.fromisoformat(item["date"])))
        held, paid, bought = 0.0, 0.0, 0.0
        for leg in legs.iter_rows(named=True):
            if held <= 1e-9:
                paid = bought = 0.0
            if leg["side"] == "buy":
                paid, bought, held = paid + leg["value"], bought + leg["qty"], held + leg["qty"]
            else:
                held -= leg["qty"]
        assert held == pytest.approx(item["shares"])
        assert item["avg_cost"] == pytest.approx(paid / bought)
        assert item["unrealised_pnl"] == pytest.approx((item["close"] - paid / bought) * item["shares"], abs=0.01)
        day = equity.filter(pl.col("date") == date.fromisoformat(item["date"]))["equity"][-1]
        assert item["weight"] == pytest.approx(item["market_value"] / day, abs=1e-4)
        assert 0 < item["weight"] <= 1


@then("the stats add absolute P&L, streaks and return tables without changing the summary metrics")
def _added_stats(client: Any, me: support.User, run: dict) -> None:
    stats = run["stats"]
    initial, final = stats["initial_cash"], stats["final_equity"]
    assert stats["total_return"] == pytest.approx(final / initial - 1, rel=1e-12)
    assert stats["absolute_pnl"] == pytest.approx(final - initial, rel=1e-12)
    assert math.prod(1 + m["strategy"] for m in stats["monthly_returns"].values()) - 1 == pytest.approx(
        stats["total_return"], rel=1e-9
    )
    bench = stats["yearly_returns"]
    assert math.prod(1 + y["benchmark"] for y in bench.values()) - 1 == pytest.approx(stats["benchmark_return"])
    pnl = _download(client, me, run, "trades").sort("exit_date", "entry_date", maintain_order=True)["pnl"].to_list()
    longest, current = 0, 0
    for p in pnl:
        current = current + 1 if p > 0 else 0
        longest = max(longest, current)
    assert stats["max_consecutive_wins"] == longest
    assert (stats["best_trade"], stats["worst_trade"]) == (max(pnl), min(pnl))
    assert stats["trade_count"] == len(pnl)


# --- curves --------------------------------------------------------------------------------------------


@when(parsers.parse('the user asks for "{path}"'), target_fixture="curves")
def _curves(client: Any, me: support.User, run: dict, path: str) -> dict:
    return _ok(_get(client, me, path, run))


@then("about 50 points come back by MinMaxLTTB, from the first to the last session of the equity download")
def _about_50(client: Any, me: support.User, run: dict, curves: dict) -> None:
    equity = _download(client, me, run, "equity")
    assert curves["method"] == "MinMaxLTTB" and curves["rows"] == equity.height
    assert 50 <= curves["points"] <= 54 and len(curves["ts"]) == len(curves["equity"]) == curves["points"]
    assert len(curves["benchmark"]) == len(curves["drawdown"]) == len(curves["cash"]) == curves["points"]
    assert (curves["start"], curves["end"]) == (str(equity["date"][0]), str(equity["date"][-1]))
    assert curves["ts"][0] == equity["ts"][0].isoformat() and curves["ts"][-1] == equity["ts"][-1].isoformat()
    assert curves["ts"] == sorted(curves["ts"])


@then("they keep the deepest drawdown and the highest equity of the equity download")
def _extremes(client: Any, me: support.User, run: dict, curves: dict) -> None:
    equity = _download(client, me, run, "equity")
    assert min(curves["drawdown"]) == equity["drawdown"].min()
    assert max(curves["equity"]) == equity["equity"].max()
    assert min(curves["equity"]) == equity["equity"].min()


@then("the benchmark ends at the initial cash grown by the run's benchmark return")
def _benchmark(run: dict, curves: dict) -> None:
    stats = run["stats"]
    assert curves["benchmark"][-1] == pytest.approx(stats["initial_cash"] * (1 + stats["benchmark_return"]))
    assert curves["benchmark"][0] == pytest.approx(stats["initial_cash"])


@then("every session of June 2023 comes back, not downsampled")
def _june(client: Any, me: support.User, run: dict, curves: dict) -> None:
    equity = _download(client, me, run, "equity")
    june = equity.filter(pl.col("date").is_between(date(2023, 6, 1), date(2023, 6, 30)))
    assert (curves["method"], curves["points"], curves["rows"]) == ("none", june.height, june.height)
    assert curves["equity"] == june["equity"].to_list()


# --- comparison ------------------------------------------------------------------------------------------


@given(parsers.parse('a run "{name}" of the user with an initial cash of {initial:d} whose sessions end at:'))
def _named_curve(
    bt: Container, me: support.User, backtest: dict, runs: dict, name: str, initial: int, datatable: list[list[str]]
) -> None:
    rows = [(date.fromisoformat(r["date"]), float(r["equity"]), None) for r in _rows(datatable)]
    final = rows[-1][1]
    metrics = {"total_return": final / initial - 1, "final_equity": final}
    run_id = _crafted_run(bt, me, backtest, rows, initial=float(initial), metrics=metrics)
    runs[name] = {"run_id": run_id, "equity": rows, "initial": initial}


@pytest.fixture
def runs() -> dict[str, dict]:
    return {}


@when(parsers.parse('the user compares the runs "{a}" and "{b}"'), target_fixture="comparison")
def _compare(client: Any, me: support.User, runs: dict, a: str, b: str) -> dict:
    body = {"run_ids": [runs[a]["run_id"], runs[b]["run_id"]]}
    return _ok(client.post("/api/compare", json=body, headers=me.headers))


@then(parsers.parse("the calendar is the {count:d} sessions from {start} to {end}"))
def _calendar(comparison: dict, count: int, start: str, end: str) -> None:
    assert (len(comparison["dates"]), comparison["dates"][0], comparison["dates"][-1]) == (count, start, end)


@then(parsers.parse('the curve of "{name}" is {values}'))
def _curve_of(comparison: dict, runs: dict, name: str, values: str) -> None:
    want = [None if v.strip() == "none" else float(v) for v in values.split(",")]
    got = comparison["curves"][runs[name]["run_id"]]
    assert [None if g is None else pytest.approx(g) for g in got] == [
        None if w is None else pytest.approx(w) for w in want
    ]


@then(parsers.parse("the intersection window is {start} to {end}"))
def _window(comparison: dict, start: str, end: str) -> None:
    assert comparison["window"] == {"start": start, "end": end}


@then(parsers.parse('the correlation of "{a}" and "{b}" is that of their daily returns from {start} to {end}'))
def _correlation(comparison: dict, runs: dict, a: str, b: str, start: str, end: str) -> None:
    def returns(name: str) -> list[float]:
        run = runs[name]
        values = [run["initial"]] + [e for _, e, _ in run["equity"]]
        days = [d for d, _, _ in run["equity"]]
        return [
            values[i + 1] / values[i] - 1
            for i, d in enumerate(days)
            if date.fromisoformat(start) <= d <= date.fromisoformat(end)
        ]

    want = float(np.corrcoef(returns(a), returns(b))[0, 1])
    matrix = comparison["correlation"]
    assert matrix[0][0] == pytest.approx(1.0) and matrix[1][1] == pytest.approx(1.0)
    assert matrix[0][1] == matrix[1][0] == pytest.approx(want)


@then("the metrics of both runs stand side by side")
def _side_by_side(comparison: dict, runs: dict) -> None:
    total = comparison["metrics"]["total_return"]
    assert total == {
        runs["A"]["run_id"]: pytest.approx(0.1),
        runs["B"]["run_id"]: pytest.approx(0.1),
    }
    assert [r["start"] for r in comparison["runs"]] == ["2024-01-29", "2024-01-31"]


@then("the comparison downloads as CSV with a header of the date and both run ids and 6 rows")
def _compare_csv(client: Any, me: support.User, runs: dict) -> None:
    ids = [runs["A"]["run_id"], runs["B"]["run_id"]]
    response = client.post("/api/compare?format=csv", json={"run_ids": ids}, headers=me.headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0] == f"date,{ids[0]},{ids[1]}"
    assert len(lines) == 7 and lines[1].startswith("2024-01-29,1.05,")


# --- run lists ---------------------------------------------------------------------------------------------


@given(parsers.parse("runs of the user with the Sharpe ratios {values}"), target_fixture="sharpes")
def _sharpe_runs(bt: Container, me: support.User, backtest: dict, values: str) -> dict[float, str]:
    curve = [(date(2024, 1, 29), 1_000_000.0, None)]
    sharpes = [float(v) for v in values.replace(" and ", ",").split(",")]
    return {s: _crafted_run(bt, me, backtest, curve, metrics={"sharpe": s}) for s in sharpes}


@then(parsers.parse('"{path}" lists them by Sharpe {values}'))
def _by_sharpe(client: Any, me: support.User, backtest: dict, path: str, values: str) -> None:
    page = _ok(_get(client, me, path, strategy=backtest["strategy"]["strategy_id"]))
    assert [r["stats"]["sharpe"] for r in page["items"]] == [float(v) for v in values.split(",")]


@then(parsers.parse('"{path}" lists the Sharpe ratio {value:g} of {total:d} runs'))
def _first_sharpe(client: Any, me: support.User, path: str, value: float, total: int) -> None:
    page = _ok(_get(client, me, path))
    assert ([r["stats"]["sharpe"] for r in page["items"]], page["total"]) == ([value], total)


@then(parsers.parse('"{path}" lists {count:d} runs and "{other}" none'))
def _by_status(client: Any, me: support.User, path: str, count: int, other: str) -> None:
    page = _ok(_get(client, me, path))
    assert (page["total"], len(page["items"])) == (count, count)
    assert {r["status"] for r in page["items"]} <= {"cancelled"}
    assert _ok(_get(client, me, other))["total"] == 0, (other, _ok(_get(client, me, other)))


# --- diff --------------------------------------------------------------------------------------------------------


def _diff(client: Any, user: support.User, a: str, b: str) -> dict:
    return _ok(client.get(f"/api/runs/{a}/diff/{b}", headers=user.headers))


@then(parsers.parse('the diff of the run and its rerun is "{status}" without differences'))
def _identical(client: Any, me: support.User, run: dict, rerun: dict, status: str) -> None:
    diff = _diff(client, me, run["run_id"], rerun["run_id"])
    assert (diff["status"], diff["manifest"], diff["first_difference"], diff["source_diff"]) == (status, [], None, None)
    assert all(d["delta"] in (0, 0.0, None) and d["a"] == d["b"] for d in diff["metrics"].values())


@then(
    parsers.parse(
        'the diff of the run and "{name}" names the parameters fast {f1:d} to {f2:d} and slow {s1:d} to {s2:d}'
    )
)
def _different(
    client: Any, me: support.User, run: dict, named: dict, name: str, f1: int, f2: int, s1: int, s2: int
) -> None:
    diff = _diff(client, me, run["run_id"], named[name]["run_id"])
    assert diff["status"] == "different"
    changes = {c["path"]: (c["a"], c["b"]) for c in diff["manifest"]}
    assert changes["params.fast"] == (f1, f2) and changes["params.slow"] == (s1, s2)
    assert "data.snapshot_id" not in changes and "engine_version" not in changes
    named["diff"] = diff


@then("that diff has a first differing session and the deltas of total_return and sharpe")
def _deltas(client: Any, me: support.User, run: dict, named: dict) -> None:
    diff, other = named["diff"], named["other"]
    assert diff["first_difference"] is not None
    a = _download(client, me, run, "equity")
    b = _download(client, me, other, "equity")
    joined = a.select("date", "equity").join(b.select("date", pl.col("equity").alias("b")), on="date")
    first = joined.filter((pl.col("equity") - pl.col("b")).abs() > 1e-6)["date"][0]
    assert diff["first_difference"] == first.isoformat()
    for name in ("total_return", "sharpe"):
        want = other["stats"][name] - run["stats"][name]
        assert diff["metrics"][name]["delta"] == pytest.approx(want)


EDIT = "# an edited copy: the same rules, one comment more\n"


@given(
    parsers.parse("a succeeded run of an edited copy of the strategy with fast {fast:d} and slow {slow:d}"),
    target_fixture="edited",
)
def _edited_run(bt: Container, client: Any, me: support.User, fast: int, slow: int) -> dict:
    from quant.templates import get_template

    return _version_run(bt, client, me, get_template("ma_cross").source + EDIT, {"fast": fast, "slow": slow})


def _version_run(bt: Container, client: Any, me: support.User, source: str, params: dict) -> dict:
    """A succeeded run of a new strategy of the user's with `source`."""
    from strategy_management import service as strategies
    from strategy_management.schemas import StrategyCreate

    new = StrategyCreate(name=f"copy-{uuid.uuid4().hex[:8]}", source=source)
    with bt.db.transaction() as session:
        created = strategies.create_strategy(session, env_of(bt).strategies, me.principal, new)
    body = support.backtest_body(strategyRef={"version_id": str(created.latest_version.id), "params": {}})
    response = client.post("/api/backtests", json=body, headers=me.headers)
    assert response.status_code == 201, response.text
    return _real_run(bt, client, me, response.json()["backtest"], params)


@then("the diff of the two runs names the strategy version and shows the edit as a unified diff")
def _source_diff(client: Any, me: support.User, run: dict, edited: dict) -> None:
    diff = _diff(client, me, run["run_id"], edited["run_id"])
    changes = {c["path"]: (c["a"], c["b"]) for c in diff["manifest"]}
    assert changes["strategy.version_id"] == (
        run["manifest"]["strategy"]["version_id"],
        edited["manifest"]["strategy"]["version_id"],
    )
    assert "params.fast" not in changes and "data.snapshot_id" not in changes
    lines = diff["source_diff"].splitlines()
    assert lines[0].startswith("--- a/") and lines[1].startswith("+++ b/")
    assert [line for line in lines if line.startswith("+") and not line.startswith("+++")] == ["+" + EDIT.strip()]
    assert not [line for line in lines if line.startswith("-") and not line.startswith("---")]
    assert (diff["status"], diff["first_difference"]) == ("different", None)  # the same rules, the same curve


@given(
    parsers.parse(
        "a succeeded run of a copy of the strategy that prints and logs, with fast {fast:d} and slow {slow:d}"
    ),
    target_fixture="talkative",
)
def _talkative_run(bt: Container, client: Any, me: support.User, fast: int, slow: int) -> dict:
    from quant.templates import get_template

    source = (
        get_template("ma_cross")
        .source.replace("frame_targets, param", "frame_targets, log, param")
        .replace(
            '    if params["fast"] >= params["slow"]:',
            '    print("checking", params["fast"], params["slow"])\n    log("token=abc123secret")\n'
            '    if params["fast"] >= params["slow"]:',
        )
    )
    return _version_run(bt, client, me, source, {"fast": fast, "slow": slow})


@then("the run's logs hold the strategy's lines after the strategy stage, the token masked")
def _user_lines(client: Any, me: support.User, talkative: dict) -> None:
    logs = support.artifact(client, me, talkative["run_id"], "logs", "json").json()
    stages = [line["stage"] for line in logs]
    user = [line["message"] for line in logs if line["stage"] == "user"]
    assert user[0] == "checking 5 20" and user[1].startswith("token=") and "abc123secret" not in user[1]
    assert stages.index("user") == stages.index("strategy") + 1
    assert all(line["level"] == "info" for line in logs if line["stage"] == "user")


# --- bad input and tenancy -----------------------------------------------------------------------------------------


def _request(client: Any, user: support.User, text: str, run: dict) -> httpx.Response:
    method, rest = text.split(" ", 1)
    if rest.startswith("/api/compare with "):
        count = int(rest.split()[2])
        ids = [run["run_id"]] + [str(uuid.uuid4()) for _ in range(count - 1)]
        return client.post("/api/compare", json={"run_ids": ids}, headers=user.headers)
    return client.request(method, rest.format(run=run["run_id"]), headers=user.headers)


@then("these requests answer 422 INVALID_INPUT naming the field:")
def _bad_requests(client: Any, me: support.User, run: dict, datatable: list[list[str]]) -> None:
    for row in _rows(datatable):
        response = _request(client, me, row["request"], run)
        error = support.envelope(response, 422, "INVALID_INPUT")
        field = error["details"].get("field", "")
        assert field == row["field"] or field.endswith(f".{row['field']}"), (row, error)


@then("the unknown sort column's answer lists the valid columns")
def _allowed(client: Any, me: support.User, run: dict) -> None:
    error = support.envelope(_get(client, me, "/api/runs/{run}/trades?sort=-nope", run), 422, "INVALID_INPUT")
    assert error["details"]["allowed"] == list(TRADE_SCHEMA)
    error = support.envelope(_get(client, me, "/api/runs?sort=-stats.nope"), 422, "INVALID_INPUT")
    assert "stats.sharpe" in error["details"]["allowed"]


@then("every study route answers 404 NOT_FOUND to the other user:")
def _tenancy(client: Any, other: support.User, run: dict, datatable: list[list[str]]) -> None:
    for row in _rows(datatable):
        if row["method"] == "POST":  # the user's run first: it is the one not found
            ids = [run["run_id"], str(uuid.uuid4())]
            response = client.post("/api/compare", json={"run_ids": ids}, headers=other.headers)
        else:
            response = client.get(row["path"].format(run=run["run_id"]), headers=other.headers)
        support.envelope(response, 404, "NOT_FOUND")


@then("the other user's run lists sorted by Sharpe are empty")
def _other_lists(client: Any, other: support.User) -> None:
    page = _ok(client.get("/api/runs?sort=-stats.sharpe", headers=other.headers))
    assert (page["total"], page["items"]) == (0, [])


# --- CLI ------------------------------------------------------------------------------------------------------------


@given("a succeeded run of the CLI user and its rerun")
def _cli_runs(bt: Container, client: Any, me: support.User, backtest: dict, cli_env: dict) -> None:
    run = _real_run(bt, client, me, backtest, {"fast": 5, "slow": 20})
    again = client.post(f"/api/backtests/{run['backtest_id']}/runs/{run['run_id']}:rerun", headers=me.headers)
    rerun = _execute(bt, client, me, again.json()["run_ids"][0])
    cli_env["names"].update(run=run["run_id"], rerun=rerun["run_id"])
    cli_env["env"]["COLUMNS"] = "220"  # tables wide enough to show every column unabridged


def _done(result: Any) -> Any:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


@then("the command prints a page of 3 round trips sorted by P&L, best first")
def _cli_page(result: Any) -> None:
    page = json.loads(_done(result).stdout)
    pnl = [t["pnl"] for t in page["items"]]
    assert (len(pnl), page["limit"], pnl) == (3, 3, sorted(pnl, reverse=True))
    assert page["total"] > 3 and "return" in page["items"][0]


@then(parsers.parse('the command prints a table titled "{title}" with the columns {a} and {b}'))
def _cli_table(result: Any, title: str, a: str, b: str) -> None:
    out = _done(result).stdout
    assert title in out and a in out and b in out


@then(parsers.parse("the command prints a table with the columns {a}, {b} and {c}"))
def _cli_columns(result: Any, a: str, b: str, c: str) -> None:
    out = _done(result).stdout
    assert a in out and b in out and c in out


@then(parsers.parse("the command prints a table with the metric {metric}"))
def _cli_metric(result: Any, metric: str) -> None:
    assert metric in _done(result).stdout


@then(parsers.parse('the command prints the diff status "{status}"'))
def _cli_diff_json(result: Any, status: str) -> None:
    assert json.loads(_done(result).stdout)["status"] == status


@then(parsers.parse('the command prints "{text}"'))
def _cli_prints(result: Any, text: str) -> None:
    assert text in _done(result).stdout
