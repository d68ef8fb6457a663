"""`huice backtest local`: JSON output, artifacts, grids and the error envelope."""

from __future__ import annotations

import json

import polars as pl
from typer.testing import CliRunner

from backtest.cli import app

runner = CliRunner()


def test_local_json_and_artifacts(tmp_path) -> None:
    res = runner.invoke(app, ["local", "ma_cross", "--sample", "--param", "fast=5", "--json", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["manifest"]["params"] == {"fast": 5, "slow": 30}
    assert {"final_equity", "trade_count"} <= set(payload["metrics"])
    assert (tmp_path / "fills.parquet").exists() and (tmp_path / "manifest.json").exists()
    # the CSVs as people read them: whole share counts, no 15:00 on next-open fills of daily bars
    fills = (tmp_path / "fills.csv").read_text(encoding="utf-8-sig").splitlines()
    assert fills[0].split(",")[:5] == ["date", "symbol", "side", "qty", "price"]
    assert all(line.split(",")[3].isdigit() for line in fills[1:])
    assert pl.read_parquet(tmp_path / "fills.parquet").columns[0] == "ts"  # the frame itself is unchanged


def test_local_grid_from_csv(tmp_path) -> None:
    csv = tmp_path / "bars.csv"
    from quant.synthetic import gbm_bars

    gbm_bars(sessions=200).select("date", "open", "high", "low", "close", "volume").write_csv(csv)
    args = ["local", "ma_cross", "--data", str(csv), "--grid", "fast=5:15:5", "--grid", "slow=20,40", "--json"]
    res = runner.invoke(app, [*args, "--preset", "plain", "--shares", "fractional"])
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["summary"]) == 6


def test_invalid_param_prints_the_error_envelope() -> None:
    res = runner.invoke(app, ["local", "ma_cross", "--sample", "--param", "fast=500", "--json"])
    assert res.exit_code == 2
    assert json.loads(res.stderr) == {
        "error": {"code": "INVALID_INPUT", "message": "fast: must be <= 200", "details": {"field": "fast"}}
    }
    human = runner.invoke(app, ["local", "ma_cross", "--sample", "--param", "fast=500"])
    assert human.exit_code == 2
    assert human.stderr == "error: fast: must be <= 200 (INVALID_INPUT) — hint: see the command's --help\n"
    typo = runner.invoke(app, ["local", "ma_cross", "--sample", "--param", "fsat=5"])
    assert (
        typo.exit_code == 2 and typo.stderr == "error: fsat: unknown parameter; did you mean 'fast'? (INVALID_INPUT)\n"
    )


def test_local_grid_table_ranks_combinations_by_sharpe() -> None:
    res = runner.invoke(
        app,
        ["local", "ma_cross", "--sample", "--grid", "fast=5:50:5", "--grid", "slow=20:200:20"],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    assert "top 20 of 90 combinations by Sharpe" in res.stdout
    header = next(line for line in res.stdout.splitlines() if "sharpe" in line)
    assert [c.strip() for c in header.strip("┃ ").split("┃")][:3] == ["fast", "slow", "total_return"]


RANGE_SOURCE = """
\"\"\"Hold between two bar counts (a and b index the session).\"\"\"
import polars as pl
from quant.sdk import ParamError, param

PARAMS = [param("a", int, default=1, min=0, max=100), param("b", int, default=5, min=0, max=100)]


def check_params(params):
    if params["b"] - params["a"] < 2:
        raise ParamError("b", "must be at least a + 2")


def generate(bars, params):
    n = pl.int_range(pl.len()).over("symbol")
    return bars.select("ts", "symbol", ((n >= params["a"]) & (n < params["b"])).cast(pl.Float64).alias("weight"))
"""


def test_a_strategy_file_declares_its_own_constraints(tmp_path) -> None:
    path = tmp_path / "window.py"
    path.write_text(RANGE_SOURCE)
    res = runner.invoke(app, ["local", str(path), "--sample", "--grid", "a=0:4:1", "--grid", "b=3,5", "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert sorted((r["a"], r["b"]) for r in payload["summary"]) == [(0, 3), (0, 5), (1, 3), (1, 5), (2, 5), (3, 5)]
    assert [s["params"] for s in payload["skipped"]] == [
        {"a": 2, "b": 3},
        {"a": 3, "b": 3},
        {"a": 4, "b": 3},
        {"a": 4, "b": 5},
    ]
    single = runner.invoke(app, ["local", str(path), "--sample", "--param", "a=4", "--param", "b=5", "--json"])
    assert single.exit_code == 2
    assert json.loads(single.stderr)["error"]["details"] == {"field": "b"}


BROKEN = """from backtest.engine.sdk import Param

PARAMS = [Param("n", int, 5, 1, 50)]


def generate(bars, params):
    return bars.select(undefined_name)
"""


def test_a_bug_in_the_users_strategy_is_their_error_with_their_line(tmp_path) -> None:
    path = tmp_path / "broken.py"
    path.write_text(BROKEN, encoding="utf-8")
    res = runner.invoke(app, ["local", str(path), "--sample", "--json"])
    assert res.exit_code == 2, res.output  # the user's input, not an internal error (exit 1)
    error = json.loads(res.stderr)["error"]
    assert error["code"] == "INVALID_INPUT"
    assert error["message"] == (
        "the strategy failed: NameError: name 'undefined_name' is not defined "
        "(line 7 of the strategy: return bars.select(undefined_name))"
    )
    assert "Traceback" not in res.stderr and "quant/" not in res.stderr
