"""Steps for the local-grid feature: `huice backtest local --grid` through its Typer app."""

from __future__ import annotations

import json
import shlex

from pytest_bdd import parsers, scenarios, then, when
from typer.testing import CliRunner

from backtest.cli import app

scenarios("quant/features/local_grids.feature")


@when(parsers.parse('the quant runs "{command}"'), target_fixture="result")
def run_command(command: str):
    argv = shlex.split(command.removeprefix("backtest "))
    result = CliRunner().invoke(app, argv, env={"COLUMNS": "200"})
    result.argv = argv
    return result


@then(parsers.parse('the summary holds the fast/slow combinations "{pairs}"'))
def summary_pairs(result, pairs: str) -> None:
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["summary"]
    assert sorted(f"{r['fast']}/{r['slow']}" for r in rows) == sorted(pairs.split())


@then(parsers.parse('{count:d} combinations were skipped with field "{field}" and error "{error}"'))
def skipped(result, count: int, field: str, error: str) -> None:
    rejected = json.loads(result.stdout)["skipped"]
    assert len(rejected) == count
    assert all(
        r["field"] == field and r["error"] == error and r["params"]["fast"] >= r["params"]["slow"] for r in rejected
    )


@then(parsers.parse('the table ranks "{title}"'))
def table_title(result, title: str) -> None:
    assert result.exit_code == 0, result.output
    assert title in result.stdout


@then(parsers.parse('the command notes "{note}"'))
def note(result, note: str) -> None:
    assert note in result.stderr


@then(parsers.parse('the command exits {code:d} with INVALID_INPUT "{message}" naming "{field}"'))
def refused(result, code: int, message: str, field: str) -> None:
    assert result.exit_code == code
    [line] = result.stderr.splitlines()  # without --json: one readable line naming the field
    assert line.startswith(f"error: {message} (INVALID_INPUT") and field in line
    again = CliRunner().invoke(app, [*result.argv, "--json"])
    assert json.loads(again.stderr) == {
        "error": {"code": "INVALID_INPUT", "message": message, "details": {"field": field}}
    }
