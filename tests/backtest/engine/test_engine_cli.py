"""`huice backtest local`: JSON output, artifacts, grids and the error envelope."""

from __future__ import annotations

import json

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


def test_local_grid_from_csv(tmp_path) -> None:
    csv = tmp_path / "bars.csv"
    from backtest.engine.synthetic import gbm_bars

    gbm_bars(sessions=200).select("date", "open", "high", "low", "close", "volume").write_csv(csv)
    args = ["local", "ma_cross", "--data", str(csv), "--grid", "fast=5:15:5", "--grid", "slow=20,40", "--json"]
    res = runner.invoke(app, [*args, "--preset", "plain", "--shares", "fractional"])
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["summary"]) == 6


def test_invalid_param_prints_the_error_envelope() -> None:
    res = runner.invoke(app, ["local", "ma_cross", "--sample", "--param", "fast=500"])
    assert res.exit_code == 2
    assert json.loads(res.stderr) == {
        "error": {"code": "INVALID_INPUT", "message": "fast: must be <= 200", "details": {"field": "fast"}}
    }


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
