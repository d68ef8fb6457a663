"""A strategy's declared exit rules (`quant.stops.declared_exits`), read from its source without running it."""

from __future__ import annotations

import pytest

from quant import EngineConfig
from quant.sdk import exits
from quant.stops import ExitsError, declared_exits, with_declared


def test_exits_are_read_from_the_call_the_sdk_call_or_a_dict() -> None:
    assert declared_exits("EXITS = exits(stop_loss=0.08, trailing_stop=0.05)") == {
        "stop_loss": 0.08,
        "trailing_stop": 0.05,
    }
    assert declared_exits("from quant import sdk\nEXITS = sdk.exits(take_profit=3)") == {"take_profit": 3.0}
    assert declared_exits('EXITS = {"stop_loss": 0.1}') == {"stop_loss": 0.1}
    assert declared_exits("PARAMS = []") == {}
    assert exits(stop_loss=0.1, take_profit=None) == {"stop_loss": 0.1}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("EXITS = exits(stop_loss=1.5)", "line 1: stop_loss must be a fraction > 0 and < 1"),
        ("x = 1\nEXITS = exits(stop_loss=x)", "line 2: EXITS takes literal numbers (stop_loss is not one)"),
        ("EXITS = exits(stop=0.1)", "line 1: unknown exit rule 'stop' (stop_loss, take_profit, trailing_stop)"),
        ("EXITS = 3", "line 1: EXITS must be exits(stop_loss=..., take_profit=..., trailing_stop=...)"),
        ("EXITS = exits(take_profit=True)", "line 1: take_profit must be a number"),
    ],
)
def test_bad_declarations_are_named_with_their_line(source: str, message: str) -> None:
    with pytest.raises(ExitsError) as error:
        declared_exits(source)
    assert str(error.value) == message


def test_the_config_wins_over_the_declaration() -> None:
    source = "EXITS = exits(stop_loss=0.08, take_profit=0.2)"
    config = with_declared(EngineConfig(stop_loss=0.05), source)
    assert config.exits == {"stop_loss": 0.05, "take_profit": 0.2}
    plain = EngineConfig()
    assert with_declared(plain, "PARAMS = []") is plain and plain.exits == {}
