"""The one `--param` parser and the one pydantic-error translation every face uses."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from platform_core.cli import parse_model, parse_params
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
