"""The confined child's engine configuration (`quant.config_light.LightConfig`): the same values, rules and
exits as the `EngineConfig` it was dumped from, the same order streams, and an event-driven run that imports
neither pydantic nor `quant.engine`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys

import pytest

from quant import EngineConfig
from quant.config_light import LightConfig
from quant.strategy import compute_targets_grid
from quant.synthetic import gbm_bars
from quant.templates import load_template

CONFIGS = [
    EngineConfig(),
    EngineConfig(preset="plain", shares="fractional", fill="same_close", slippage_bps=7, commission_rate=0.001),
    EngineConfig(
        stop_loss=0.05,
        take_profit=0.2,
        trailing_stop=0.04,
        volume_cap=0.1,
        limit_policy="locked",
        initial_cash=50_000,
        benchmark_symbol="000300.SH",
        stamp_duty_schedule=[(dt.date(2008, 9, 19), 0.001, "sell"), (dt.date(2023, 8, 28), 0.0005, "sell")],
        transfer_fee_schedule=[(dt.date(2015, 8, 1), 0.00002)],
        price_basis="adjusted",
    ),
]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("mode", ["json", "python"])
def test_a_light_config_has_the_values_of_the_engine_config_it_was_dumped_from(config, mode: str) -> None:
    light = LightConfig.from_dump(config.model_dump(mode=mode))
    for field in dataclasses.fields(LightConfig):
        assert getattr(light, field.name) == getattr(config, field.name), field.name
    assert {f.name for f in dataclasses.fields(LightConfig)} == set(EngineConfig.model_fields)
    assert light.rules() == config.rules() and light.exits == config.exits and light.optimistic == config.optimistic


def test_a_light_config_refuses_a_key_the_engine_config_has_not() -> None:
    with pytest.raises(ValueError, match="unknown engine configuration keys"):
        LightConfig.from_dump({"preset": "a-share", "leverage": 2})


@pytest.mark.parametrize("config", CONFIGS)
def test_the_order_streams_are_the_same_with_the_dump(config) -> None:
    bars = gbm_bars(("600000.SH", "000001.SZ"), sessions=300, seed=4)
    spec = load_template("ma_cross_event")
    [a] = compute_targets_grid(spec, bars, [{}], config)
    [b] = compute_targets_grid(spec, bars, [{}], config.model_dump(mode="json"))
    assert a.height > 0 and a.equals(b)


def test_the_child_path_of_an_event_run_imports_neither_pydantic_nor_the_engine() -> None:
    code = """
import sys
import polars as pl
from quant.strategy import compute_targets_grid
from quant.templates import load_template
days = pl.date_range(pl.date(2024, 1, 1), pl.date(2024, 12, 31), eager=True)
close = [10 + (i % 17) * 0.1 for i in range(days.len())]
bars = pl.DataFrame({"ts": days.cast(pl.Datetime("us")), "symbol": "600000.SH", "open": close, "high": close,
                     "low": close, "close": close, "volume": 1e6})
[stream] = compute_targets_grid(load_template("ma_cross_event"), bars, [{}], {"preset": "a-share", "stop_loss": 0.05})
assert stream.height > 0
print(sorted(m for m in sys.modules if m == "pydantic" or m.startswith("quant.engine") or m == "quant.config"))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
