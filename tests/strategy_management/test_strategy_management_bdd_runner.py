"""Steps of `confined_runner.feature`: outcomes come from the session's real runs (`outcomes` fixture)."""

from __future__ import annotations

from typing import Any

from pytest_bdd import given, parsers, scenarios, then, when

from strategy_management.confined_runner import StrategyRuntimeError
from tests.strategy_management.attacks import BY_NAME, SECRET

scenarios("strategy_management/features/confined_runner.feature")


@given(parsers.parse('the attack "{name}" as strategy code'), target_fixture="subject")
def attack(name: str) -> str:
    assert name in BY_NAME
    return name


@given(parsers.parse('the attack "{name}" inside an event-driven strategy\'s handle_bar'), target_fixture="subject")
def event_attack(name: str) -> str:
    assert name in BY_NAME
    return f"event:{name}"


@given(parsers.parse('the template "{name}"'), target_fixture="subject")
def template(name: str) -> str:
    return f"template:{name}"


@when("it runs in the confined runner", target_fixture="result")
def run_full(subject: str, outcomes: dict[str, Any]) -> tuple[str, Any]:
    key = subject if subject.startswith("template:") else _key("full", subject)
    return key, outcomes[key]


def _key(mode: str, subject: str) -> str:
    """The outcome of `subject` in `mode` ("event:<attack>": the attack run from `handle_bar`)."""
    return f"event-{mode}:{subject[6:]}" if subject.startswith("event:") else f"{mode}:{subject}"


@when("it runs in the confined runner without the Python guards", target_fixture="result")
def run_kernel(subject: str, outcomes: dict[str, Any]) -> tuple[str, Any]:
    return _key("kernel", subject), outcomes[_key("kernel", subject)]


@when("it runs in the confined runner without the Python guards and without Landlock", target_fixture="result")
def run_seccomp_only(subject: str, outcomes: dict[str, Any]) -> tuple[str, Any]:
    return f"strict:{subject}", outcomes[f"strict:{subject}"]


@then("the process it aimed at is still alive")
def target_alive(result: tuple[str, Any], outcomes: dict[str, Any]) -> None:
    key, _ = result
    assert outcomes["_targets_alive"][key] is True


@then(parsers.parse('it is stopped as "{kind}"'))
def stopped(result: tuple[str, Any], kind: str) -> None:
    _, outcome = result
    assert isinstance(outcome, StrategyRuntimeError)
    assert outcome.code == "INVALID_INPUT" and outcome.details["kind"] == kind
    assert outcome.message.startswith("the strategy ")


@then("no file was written, no connection was made and no secret leaked")
def no_effects(result: tuple[str, Any], outcomes: dict[str, Any]) -> None:
    key, outcome = result
    assert not outcomes["_markers"][key].exists()
    assert outcomes["_connected"] is False
    text = outcome.message + " ".join(outcome.details["traceback"])
    assert SECRET not in text and "root:x:0:0" not in text


@then("a process outside the sandbox, started before the attack, is still alive")
def sentinel_alive(result: tuple[str, Any], outcomes: dict[str, Any]) -> None:
    key, _ = result
    assert outcomes["_sentinel"].poll() is None
    assert outcomes["_targets_alive"].get(key, True) is True  # the signal attacks' own target process


@then("it returns target weights for the sample bars")
def weights(result: tuple[str, Any]) -> None:
    _, outcome = result
    [frame] = outcome.frames
    assert frame.columns == ["ts", "symbol", "weight"] and frame.height > 0


@then("it returns its order stream for the sample bars")
def order_stream(result: tuple[str, Any]) -> None:
    _, outcome = result
    [frame] = outcome.frames
    assert frame.columns == ["ts", "symbol", "amount", "order", "limit_price", "tag"] and frame.height > 0
