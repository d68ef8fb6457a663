"""Steps for the strategy-model feature: loading source, validating parameters, constraints."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from quant import ParamError, StrategyError, StrategySpec, load_strategy, run_backtest, validate_strategy_params
from quant.synthetic import gbm_bars
from quant.templates import load_template

scenarios("quant/features/strategies.feature")

SOURCE = '''
"""Hold a fixed weight."""
import polars as pl
{import_line}

PARAMS = [param("weight", float, default=1.0, min=0, max=1, description="held fraction")]


def generate(bars, params):
    return bars.select("ts", "symbol", pl.lit(params["weight"]).alias("weight"))
'''


@pytest.fixture
def outcome() -> dict:
    return {}


@given(parsers.parse('strategy source that imports "{module}"'), target_fixture="source")
def source_importing(module: str) -> str:
    return SOURCE.format(import_line=f"import {module}\nfrom quant.sdk import param")


@given(parsers.parse('strategy source that imports the SDK as "{module}"'), target_fixture="source")
def source_with_sdk(module: str) -> str:
    return SOURCE.format(import_line=f"from {module} import param")


@given(parsers.parse('the template "{name}"'), target_fixture="spec")
def template(name: str, outcome: dict) -> StrategySpec:
    spec = load_template(name)
    real = spec.generate

    def spy(bars, params):
        outcome["generate_calls"] = outcome.get("generate_calls", 0) + 1
        return real(bars, params)

    return dataclasses.replace(spec, generate=spy, generate_arrays=None, generate_grid_arrays=None)


@when("it is loaded")
def load(source: str, outcome: dict) -> None:
    try:
        outcome["spec"] = load_strategy(source, name="user")
    except StrategyError as exc:
        outcome["error"] = exc


@when("it is loaded in a process without the backtest package")
def load_elsewhere(source: str, outcome: dict) -> None:
    program = (
        "import json, sys\n"
        "sys.modules['backtest'] = None  # as in a notebook with only the quant core installed\n"
        "from quant import load_strategy\n"
        "spec = load_strategy(sys.stdin.read(), name='legacy')\n"
        "print(json.dumps([p.name for p in spec.params]))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], input=source, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    outcome["params"] = json.loads(done.stdout)


@when(parsers.parse("the parameters {params} are validated"))
def validate(spec: StrategySpec, params: str, outcome: dict) -> None:
    try:
        validate_strategy_params(spec, json.loads(params))
    except ParamError as exc:
        outcome["error"] = exc


@when(parsers.parse("a run is asked for with the parameters {params}"))
def run(spec: StrategySpec, params: str, outcome: dict) -> None:
    try:
        run_backtest(spec, gbm_bars(sessions=120), json.loads(params))
    except ParamError as exc:
        outcome["error"] = exc


@then(parsers.parse('a strategy error names the import "{module}"'))
def strategy_error(outcome: dict, module: str) -> None:
    error = outcome.get("error")
    assert isinstance(error, StrategyError) and not isinstance(error, ParamError), outcome
    assert f"import of {module!r} is not allowed" in str(error)


@then(parsers.parse('a parameter error names the field "{field}"'))
def param_error(outcome: dict, field: str) -> None:
    error = outcome.get("error")
    assert isinstance(error, ParamError), outcome
    assert error.field == field


@then("the strategy's generate was not called")
def not_called(outcome: dict) -> None:
    assert outcome.get("generate_calls", 0) == 0


@then(parsers.parse('it loads and declares the parameter "{name}"'))
def loads(outcome: dict, name: str) -> None:
    assert outcome["params"] == [name]
