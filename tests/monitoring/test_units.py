"""Pure rules of monitoring (windows, rules, transitions, daily times), the route template of the request
metrics, and the maintenance job kinds run through the real attempt runner."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from huice.api import route_template
from monitoring.domain import (
    AlertRule,
    AlertState,
    Transition,
    judge_above,
    judge_no_worker,
    next_daily,
    transition,
    window_seconds,
)
from monitoring.service.schedules import SCHEDULER_OWNER
from platform_core.errors import InvalidInput


def test_windows_are_named_and_unknown_ones_refused() -> None:
    assert window_seconds("24h") == 86400 and window_seconds("15m") == 900
    with pytest.raises(InvalidInput) as info:
        window_seconds("2w")
    assert info.value.details["field"] == "window"


def test_transitions_fire_once_and_resolve_once() -> None:
    firing = judge_above(AlertRule.FAILURE_RATE, 0.5, 0.4, "rate")
    calm = judge_above(AlertRule.FAILURE_RATE, 0.3, 0.4, "rate")
    assert firing.firing and not calm.firing
    assert transition(None, firing) == Transition.FIRING
    assert transition(AlertState.FIRING, firing) is None
    assert transition(AlertState.FIRING, calm) == Transition.RESOLVED
    assert transition(AlertState.OK, calm) is None and transition(None, calm) is None
    assert not judge_above(AlertRule.FAILURE_RATE, 0.9, None, "rate").firing  # threshold unset: rule off
    assert not judge_above(AlertRule.FAILURE_RATE, None, 0.1, "rate").firing  # no figure: nothing to judge
    assert judge_no_worker(True, 0).firing and judge_no_worker(True, None).firing
    assert not judge_no_worker(True, 1).firing and not judge_no_worker(False, 0).firing


def test_next_daily_is_the_next_local_time_after() -> None:
    # 16:30 Asia/Shanghai = 08:30 UTC
    assert next_daily(datetime(2026, 12, 3, 8, 0, tzinfo=UTC), "16:30") == datetime(2026, 12, 3, 8, 30, tzinfo=UTC)
    assert next_daily(datetime(2026, 12, 3, 8, 30, tzinfo=UTC), "16:30") == datetime(2026, 12, 4, 8, 30, tzinfo=UTC)
    assert next_daily(datetime(2026, 12, 3, 20, 0, tzinfo=UTC), "16:30") == datetime(2026, 12, 4, 8, 30, tzinfo=UTC)


class _Route:
    def __init__(self, path: str, regex: str) -> None:
        self.path = path
        self.path_regex = re.compile(regex)


def test_route_template_joins_the_literal_prefix_of_an_included_router() -> None:
    route = _Route("/runs/{run_id}", r"^/runs/(?P<run_id>[^/]+)$")
    assert route_template({"route": route, "path": "/api/runs/abc"}) == "/api/runs/{run_id}"
    assert route_template({"route": route, "path": "/runs/abc"}) == "/runs/{run_id}"
    assert route_template({"path": "/nowhere"}) is None


def test_the_maintenance_kinds_run_on_the_job_runtime(committed_container, redis) -> None:
    """The alert evaluation and retention kinds, submitted by a due schedule, run through the real attempt
    runner (lease, transaction, result) and succeed."""
    from monitoring import service
    from monitoring.config import env_of

    env = env_of(committed_container)
    try:
        _run_kinds(committed_container, env, service)
    finally:  # this database's other tests count exactly: leave nothing committed behind
        with committed_container.db.transaction() as session:
            for table in ("monitoring.alert_events", "monitoring.alert_states", "monitoring.schedules"):
                session.execute(text(f"DELETE FROM {table}"))
            owner = {"owner": SCHEDULER_OWNER}
            session.execute(
                text(
                    "DELETE FROM job_orchestration.job_events WHERE job_id IN "
                    "(SELECT id FROM job_orchestration.jobs WHERE owner_id = :owner)"
                ),
                owner,
            )
            session.execute(text("DELETE FROM job_orchestration.jobs WHERE owner_id = :owner"), owner)
            session.execute(text("DELETE FROM user_auth.mail_outbox WHERE kind = 'alert'"))


def _run_kinds(committed_container, env, service) -> None:
    from job_orchestration.attempt import execute
    from job_orchestration.config import env_of as jobs_env_of
    from job_orchestration.service import get
    from user_auth.principal import Plan, Principal, Role

    with committed_container.db.transaction() as session:
        submitted = service.run_due(session, env, datetime(2100, 1, 1, tzinfo=UTC))
    kinds = {j.kind: j.id for j in submitted}
    assert {"monitoring.evaluate_alerts", "monitoring.retention"} <= set(kinds)
    jobs_env = jobs_env_of(committed_container)
    for job_id in kinds.values():
        execute(jobs_env, job_id, worker_name="unit", pid=0, kill=lambda: None)

    admin = Principal(
        user_id=submitted[0].owner_id, email="scheduler@huice.local", role=Role.ADMIN, plan=Plan.PRO, via="x"
    )
    with committed_container.db.transaction() as session:
        done = {kind: get(session, admin, job_id) for kind, job_id in kinds.items()}
    assert {k: j.status for k, j in done.items()} == {k: "succeeded" for k in kinds}
    assert "no_live_worker" in done["monitoring.evaluate_alerts"].result["firing"]


def test_doctor_reports_the_data_provider_and_the_schedules(container, session) -> None:
    from huice.health import doctor
    from monitoring import service
    from monitoring.config import env_of

    service.ensure_schedules(session, env_of(container))
    session.flush()
    report = doctor(container)
    assert report["data_provider"]["tushare_token"] is (env_of(container).market.settings.tushare_token is not None)
    assert {s["name"] for s in report["schedules"]} == {"alerts", "retention", "tushare_refresh"}


# --- error tracking ---------------------------------------------------------------------------------------


def test_an_event_loses_bodies_cookies_variables_and_argv_and_is_redacted() -> None:
    from monitoring.errortracking import scrub_event

    event = {
        "request": {
            "url": "http://127.0.0.1/s/hs_abcdefghijklmnopqrstuvwxyz",
            "query_string": "token=abc123&page=2",
            "headers": {
                "Authorization": "Bearer abc.def",
                "Cookie": "s=1",
                "X-API-Key": "hk_live_xyz",
                "Accept": "*/*",
            },
            "data": {"source": "def strategy(): ..."},
            "cookies": {"s": "1"},
            "env": {"REMOTE_ADDR": "10.0.0.1"},
        },
        "exception": {
            "values": [
                {
                    "type": "RuntimeError",
                    "value": "connect to postgresql://u:hunter2@db/x failed, password=hunter2",
                    "stacktrace": {"frames": [{"function": "f", "vars": {"source": "def s(): ..."}}]},
                }
            ]
        },
        "extra": {"sys.argv": ["huice", "--password", "hunter2"], "duration_ms": 3},
        "breadcrumbs": {"values": [{"message": "login with Bearer abc.def", "data": {"api_key": "k"}}]},
    }
    scrubbed = scrub_event(event)
    request = scrubbed["request"]
    assert set(request) == {"url", "query_string", "headers"}
    assert request["url"] == "http://127.0.0.1/s/hs_[REDACTED]"
    assert request["query_string"] == "token=[REDACTED]"  # the text rule masks up to the next separator
    assert request["headers"] == {
        "Authorization": "[REDACTED]",
        "Cookie": "[REDACTED]",
        "X-API-Key": "[REDACTED]",
        "Accept": "*/*",
    }
    value = scrubbed["exception"]["values"][0]
    assert value["value"] == "connect to postgresql://u:[REDACTED]@db/x failed, password=[REDACTED]"
    assert value["stacktrace"]["frames"] == [{"function": "f"}]
    assert scrubbed["extra"] == {"duration_ms": 3}
    assert scrubbed["breadcrumbs"]["values"] == [
        {"message": "login with Bearer [REDACTED]", "data": {"api_key": "[REDACTED]"}}
    ]
    assert "hunter2" not in repr(scrubbed) and "abc.def" not in repr(scrubbed)


def test_without_a_dsn_nothing_starts_and_a_bad_dsn_is_refused() -> None:
    from pydantic import ValidationError

    from monitoring.config import MonitoringSettings
    from monitoring.errortracking import init_error_tracking

    assert (
        init_error_tracking(MonitoringSettings(_env_file=None), environment="test", release="0", process="api") is False
    )
    assert MonitoringSettings(sentry_dsn="", _env_file=None).sentry_dsn is None
    with pytest.raises(ValidationError, match="HUICE_SENTRY_DSN is not a Sentry DSN"):
        MonitoringSettings(sentry_dsn="not-a-dsn", _env_file=None)
