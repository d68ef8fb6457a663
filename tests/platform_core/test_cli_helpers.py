"""The one `--param` parser and the one pydantic-error translation every face uses."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from platform_core.cli import JsonOpt, emit, flatten, format_value, parse_model, parse_params
from platform_core.errors import InvalidInput, invalid_input_from


def test_param_values_are_typed_the_same_everywhere() -> None:
    parsed = parse_params(["fast=5", "w=0.5", "flag=true", "off=False", "name=abc", "xs=[1, 2]", 'q="5"', "n=null"])
    assert parsed == {"fast": 5, "w": 0.5, "flag": True, "off": False, "name": "abc", "xs": [1, 2], "q": "5", "n": None}
    assert isinstance(parsed["flag"], bool)


def test_a_malformed_pair_names_the_option() -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_params(["fast"], option="--param")
    assert exc.value.details["field"] == "--param"


class _Body(BaseModel):
    name: str = Field(min_length=2)
    size: int


def test_validation_errors_become_one_invalid_input_shape() -> None:
    with pytest.raises(ValidationError) as raised:
        _Body.model_validate({"name": "x", "size": "big"})
    err = invalid_input_from(raised.value, prefix="body")
    assert err.details["field"] == "body.name"
    assert [e["field"] for e in err.details["errors"]] == ["body.name", "body.size"]
    assert err.message.startswith("body.name: ")
    with pytest.raises(InvalidInput) as exc:
        parse_model(_Body, {"name": "ok", "size": "big"})
    assert exc.value.details["field"] == "size" and exc.value.details["errors"][0]["type"] == "int_parsing"


def test_human_values_read_as_percentages_cny_and_plain_words() -> None:
    assert format_value(0.0414368499389528, "total_return") == "4.14%"
    assert format_value(-0.1946, "stats.max_drawdown") == "-19.46%"  # a dotted path uses its last name
    assert format_value(1004143.684, "final_equity") == "1,004,143.68 CNY"
    assert format_value(0.40783712, "sharpe") == "0.407837"
    assert format_value(None) == "—" and format_value(True) == "yes"
    assert format_value(["600010.SH", "000010.SZ"], "symbols") == "600010.SH, 000010.SZ"
    assert format_value([{"a": 1}, {"a": 2}]) == "2 items"


def test_tables_show_nested_values_in_their_own_columns(capsys) -> None:
    assert flatten({"id": "r1", "stats": {"sharpe": 1.5, "total_return": 0.1}, "params": {}}) == {
        "id": "r1",
        "stats.sharpe": 1.5,
        "stats.total_return": 0.1,
        "params": {},
    }
    emit([{"id": "r1", "stats": {"total_return": 0.1234}}], False)
    out = capsys.readouterr().out
    assert "stats.total_return" in out and "12.34%" in out and "{" not in out


def test_an_error_reads_as_one_line_with_a_hint() -> None:
    from platform_core.cli import human_error
    from platform_core.errors import AppError, ErrorCode, NotFound, RateLimited, Unauthorized, UpstreamError

    assert human_error(Unauthorized("not logged in")) == (
        "error: not logged in (UNAUTHORIZED) — hint: run huice auth login or set HUICE_API_KEY"
    )
    assert human_error(InvalidInput("bad value", field="context.window.start")) == (
        "error: bad value (INVALID_INPUT, field: context.window.start) — hint: see the command's --help"
    )
    assert human_error(InvalidInput("fast: must be <= 200", field="fast")).startswith(
        "error: fast: must be <= 200 (INVALID_INPUT) —"
    )
    several = InvalidInput("a: missing", field="a", details={"errors": [{}, {}, {}]})
    assert human_error(several).startswith("error: a: missing (+2 more) (INVALID_INPUT)")
    symbols = InvalidInput(
        "unknown symbols: 600010", field="symbols", details={"did_you_mean": {"600010": ["600010.SH"]}}
    )
    assert human_error(symbols).endswith("— hint: did you mean 600010 → 600010.SH?")
    assert human_error(NotFound("unknown template 'x'", details={"did_you_mean": "ma_cross"})).endswith(
        "(NOT_FOUND) — hint: did you mean ma_cross?"
    )
    assert human_error(RateLimited("too many", details={"retry_after": 7})).endswith("— hint: retry in 7 s")
    upstream = UpstreamError("Tushare daily failed", details={"retry_advice": "retry later"})
    assert human_error(upstream) == "error: Tushare daily failed (UPSTREAM_ERROR) — hint: retry later"
    said = Unauthorized("not logged in: run `huice auth login` or set HUICE_API_KEY")
    assert human_error(said) == "error: not logged in: run `huice auth login` or set HUICE_API_KEY (UNAUTHORIZED)"
    multi = AppError("configuration refused:\n  HUICE_X is wrong", code=ErrorCode.INVALID_INPUT)
    assert human_error(multi).startswith("error: configuration refused:   HUICE_X is wrong (INVALID_INPUT)")
    theirs = InvalidInput("the strategy failed: NameError (line 7 of the strategy: x)", field="strategy")
    assert human_error(theirs).endswith("(INVALID_INPUT, field: strategy) — hint: the error is in your strategy's code")
    internal = AppError("internal error; see the logs", code=ErrorCode.INTERNAL_ERROR)
    assert human_error(internal).startswith("error: internal error; see the logs (INTERNAL_ERROR) — hint: huice doctor")


def test_a_command_fails_with_the_envelope_only_under_json() -> None:
    import json

    from typer.testing import CliRunner

    from platform_core.cli import AppTyper

    app = AppTyper()

    @app.command()
    def show(as_json: JsonOpt = False) -> None:
        raise InvalidInput("bad", field="x")

    @app.command()
    def crash(as_json: JsonOpt = False) -> None:
        raise RuntimeError("secret internals")

    runner = CliRunner()
    human = runner.invoke(app, ["show"])
    assert (
        human.exit_code == 2
        and human.stderr == "error: bad (INVALID_INPUT, field: x) — hint: see the command's --help\n"
    )
    machine = runner.invoke(app, ["show", "--json"])
    assert machine.exit_code == 2, machine.stderr
    assert json.loads(machine.stderr) == {
        "error": {"code": "INVALID_INPUT", "message": "bad", "details": {"field": "x"}}
    }
    crashed = runner.invoke(app, ["crash", "--json"])
    # the last line is the answer (the exception itself goes to the log, which may share stderr)
    assert crashed.exit_code == 1 and json.loads(crashed.stderr.splitlines()[-1]) == {
        "error": {"code": "INTERNAL_ERROR", "message": "internal error; see the logs", "details": {}}
    }
    assert (
        runner.invoke(app, ["crash"])
        .stderr.splitlines()[-1]
        .startswith("error: internal error; see the logs (INTERNAL_ERROR) — hint: huice doctor")
    )
