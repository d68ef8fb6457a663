"""Steps of `features/maintenance.feature`: the schedule tick and retention over the test's container."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from pydantic import SecretStr
from pytest_bdd import given, parsers, scenarios, then, when

from backtest import repository as bt_repo
from job_orchestration import repository as jobs_repo
from monitoring import service
from monitoring.config import env_of
from platform_core.ids import new_id, utcnow
from tests.monitoring import support
from tests.monitoring.conftest import World

scenarios("monitoring/features/maintenance.feature")


def _tick(world: World, session, container, at=None) -> None:
    world.extra["submitted"] = service.run_due(session, env_of(container), at)
    session.flush()


@when("the schedule tick runs")
@when("the schedule tick runs again at once")
def tick(world: World, session, container) -> None:
    _tick(world, session, container)


@when("the process restarts and the schedule tick runs")
def restart_tick(world: World, session, container) -> None:
    from huice.contexts import wire_monitoring

    wire_monitoring(container)  # a fresh env, as a new process builds it: only the database remembers
    _tick(world, session, container)


@when("the schedule tick runs after the alert interval")
def later_tick(world: World, session, container) -> None:
    later = utcnow() + timedelta(seconds=env_of(container).settings.alert_interval_s + 1)
    _tick(world, session, container, later)


@then(parsers.parse('jobs of the kinds "{kinds}" were submitted'))
def submitted(world: World, kinds: str) -> None:
    assert sorted(j.kind for j in world.extra["submitted"]) == sorted(kinds.split(", "))


@then("no job was submitted")
def none_submitted(world: World) -> None:
    assert world.extra["submitted"] == []


@then("the admin sees them in /api/jobs")
def listed(world: World, api) -> None:
    body = api.get("/api/jobs", headers=world.admin_headers, params={"limit": 200}).json()
    ids = {item["id"] for item in body["items"]}
    assert {str(j.id) for j in world.extra["submitted"]} <= ids


def _schedule(api, world: World, name: str) -> dict:
    rows = api.get("/api/monitor/schedules", headers=world.admin_headers).json()
    return {r["name"]: r for r in rows}[name]


@then(parsers.parse('the schedule "{name}" is disabled'))
def disabled(world: World, api, name: str) -> None:
    assert _schedule(api, world, name)["enabled"] is False


@given("a Tushare token is configured")
def token(container) -> None:
    from market_data.config import env_of as market_env_of

    market = market_env_of(container)
    settings = market.settings.model_copy(update={"tushare_token": SecretStr("t" * 32)})
    container.extras["market_data"] = dataclasses.replace(market, settings=settings)
    env = env_of(container)
    container.extras["monitoring"] = dataclasses.replace(env, market=container.extras["market_data"])


@then(parsers.parse('the schedule "{name}" is enabled and next due at 16:30 Asia/Shanghai'))
def enabled_daily(world: World, api, name: str) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    row = _schedule(api, world, name)
    assert row["enabled"] is True and row["daily_at"] == "16:30"
    due = datetime.fromisoformat(row["next_run_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    assert (due.hour, due.minute) == (16, 30)
    assert timedelta(0) < due - utcnow() <= timedelta(days=1)
    assert "monitoring.tushare_refresh" not in [j.kind for j in world.extra["submitted"]]


@given("an idempotency key made 2 days ago and one made now")
def keys(world: World, session) -> None:
    owner = world.admin.user_id
    for key, at in (("old", utcnow() - timedelta(days=2)), ("new", utcnow())):
        session.add(bt_repo.IdempotencyRow(owner_id=owner, key=key, request_hash="h", response=None, created_at=at))
    session.flush()


@given("a job that finished 40 days ago and one that finished today, each with events")
def old_and_new_jobs(world: World, session) -> None:
    owner = world.admin.user_id
    for name, days in (("old", 40), ("new", 0)):
        at = utcnow() - timedelta(days=days, hours=1)
        job_id = support.job(session, owner, status="succeeded", submitted=at, wait_s=1, run_s=1, kind="diag.sleep")
        world.extra[name] = job_id
        for type_ in ("submitted", "started", "succeeded"):
            session.add(
                jobs_repo.JobEventRow(
                    job_id=job_id,
                    type=type_,
                    status="succeeded",
                    progress=0.0,
                    message="",
                    attempt=1,
                    data={},
                    created_at=at,
                )
            )
    session.flush()
    _ = new_id


@when("retention runs")
def retention(world: World, session, container) -> None:
    world.extra["report"] = service.run_retention(session, env_of(container))
    session.flush()


@then("1 idempotency key and the old job's events were deleted")
def deleted(world: World, session) -> None:
    report = world.extra["report"]
    assert (report.idempotency_keys, report.job_events) == (1, 3)
    assert jobs_repo.events_after(session, world.extra["old"], None) == []


@then("the new key and the new job's events remain")
def remain(world: World, session) -> None:
    keys = {r.key for r in session.query(bt_repo.IdempotencyRow).filter_by(owner_id=world.admin.user_id)}
    assert keys == {"new"}
    assert len(jobs_repo.events_after(session, world.extra["new"], None)) == 3
