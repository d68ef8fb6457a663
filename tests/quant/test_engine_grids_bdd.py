"""Steps for the local-grid and local-bars features: `huice backtest local` through its Typer app."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from pytest_bdd import given, parsers, scenarios, then, when
from typer.testing import CliRunner

from backtest.cli import app

scenarios("quant/features/local_grids.feature")
scenarios("quant/features/local_bars.feature")

BAR = {"date": "2024-01-02", "symbol": "000001.SZ", "open": "10.0", "high": "10.5", "low": "9.8", "close": "10.2",
       "volume": "1000"}  # fmt: skip


@given(parsers.parse('a bars file "{name}" where {count:d} row has no "{column}"'))
@given(parsers.parse('a bars file "{name}" where {count:d} rows have no "{column}"'))
def bars_file(tmp_path: Path, name: str, count: int, column: str) -> None:
    """Five sessions of one symbol; the last `count` rows leave `column` empty."""
    rows = [{**BAR, "date": f"2024-01-0{day}"} for day in range(2, 7)]
    for row in rows[-count:]:
        row[column] = ""
    lines = [",".join(BAR), *(",".join(row[key] for key in BAR) for row in rows)]
    (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


@when(parsers.parse('the quant runs "{command}"'), target_fixture="result")
def run_command(command: str, tmp_path: Path):
    argv = shlex.split(command.removeprefix("backtest ").replace("{dir}", str(tmp_path)))
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


@then(parsers.re(r'the command exits (?P<code>\d+) with INVALID_INPUT "(?P<message>[^"]+)"$'), converters={"code": int})
def refused_input(result, code: int, message: str) -> None:
    assert result.exit_code == code, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {message} (INVALID_INPUT")
    again = CliRunner().invoke(app, [*result.argv, "--json"])
    assert again.exit_code == code
    assert json.loads(again.stderr) == {"error": {"code": "INVALID_INPUT", "message": message, "details": {}}}
