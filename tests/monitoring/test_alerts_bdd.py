"""Steps of `features/alerts.feature`: the rules evaluated by the service, over the test's container."""

from __future__ import annotations

import json

from pytest_bdd import given as given_
from pytest_bdd import parsers, scenarios, then, when

from monitoring import service
from monitoring.config import env_of
from tests.monitoring.conftest import World, cli_json, cli_runner, mailbox_subjects, set_monitoring

scenarios("monitoring/features/alerts.feature")


@given_(parsers.parse("the failure-rate threshold is {rate:g} once {jobs:d} jobs have finished"))
def failure_threshold(container, rate: float, jobs: int) -> None:
    set_monitoring(container, alert_failure_rate=rate, alert_failure_min_jobs=jobs)


@given_(parsers.parse("the queue-wait p95 threshold is {seconds:g} s"))
def wait_threshold(container, seconds: float) -> None:
    set_monitoring(container, alert_queue_wait_p95_s=seconds)


@given_(parsers.parse("the disk threshold is {pct:g} %"))
def disk_threshold(container, pct: float) -> None:
    set_monitoring(container, alert_disk_used_pct=pct)


@when("the alerts are evaluated")
def evaluate(world: World, session, container) -> None:
    world.extra["report"] = service.evaluate_alerts(session, env_of(container))
    session.flush()


def _state(api, world: World, rule: str) -> dict:
    body = api.get("/api/monitor/alerts", headers=world.admin_headers).json()
    world.extra["alerts"] = body
    [state] = [s for s in body["states"] if s["rule"] == rule]
    return state


@then(parsers.re(r"the alert \"(?P<rule>\w+)\" is (?P<state>firing|ok)$"))
def alert_state(world: World, api, rule: str, state: str) -> None:
    assert _state(api, world, rule)["state"] == state


@then(parsers.parse('the alert "{rule}" is firing with the value {value:g}'))
def alert_value(world: World, api, rule: str, value: float) -> None:
    current = _state(api, world, rule)
    assert current["state"] == "firing" and current["value"] == value, current


@then(parsers.parse('the summary lists "{rule}" among the firing alerts'))
def summary_lists(world: World, api, rule: str) -> None:
    body = api.get("/api/monitor/summary", headers=world.admin_headers).json()
    assert rule in [a["rule"] for a in body["alerts_firing"]]


@then(parsers.parse('the admin mailbox has a message about "{text}"'))
def mailbox_has(world: World, session, text: str) -> None:
    assert any(text in subject for subject in mailbox_subjects(session, world.admin.email))


@then(parsers.parse('the transitions of "{rule}" are "{expected}"'))
def transitions(world: World, api, rule: str, expected: str) -> None:
    body = api.get("/api/monitor/alerts", headers=world.admin_headers).json()
    seen = [e["transition"] for e in reversed(body["events"]) if e["rule"] == rule]
    assert seen == expected.split(", ")


@then(parsers.parse('"huice monitor alerts" lists "{rule}" as firing'))
def cli_lists(world: World, container, monkeypatch, rule: str) -> None:
    invoke = cli_runner(container, world.admin, monkeypatch)
    body = cli_json(invoke("monitor", "alerts", "--json"))
    assert {s["rule"]: s["state"] for s in body["states"]}[rule] == "firing"
    table = invoke("monitor", "alerts")
    assert table.exit_code == 0 and rule in table.stdout
    _ = json


@then("the admin mailbox has no new message")
def no_mail(world: World, session) -> None:
    assert mailbox_subjects(session, world.admin.email) == []
