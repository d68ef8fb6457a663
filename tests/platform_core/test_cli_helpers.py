"""The one `--param` parser and the one pydantic-error translation every face uses."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from platform_core.cli import emit, flatten, format_value, parse_model, parse_params
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
