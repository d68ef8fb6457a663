"""Steps of `features/error_tracking.feature`: Sentry (sentry-sdk) aimed at a local stand-in, a real failing
request through the full app and a real failing job on a `huice worker` process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Request
from pydantic import SecretStr
from pytest_bdd import given, parsers, scenarios, then, when

from monitoring.config import MonitoringSettings
from monitoring.errortracking import init_error_tracking
from tests.monitoring.sentry_standin import SentryStandIn, exception_types

scenarios("monitoring/features/error_tracking.feature")

PLANTED = {
    "bearer": "planted-bearer-4f1c2a9e7d",
    "cookie": "planted-cookie-8b2d6e1f3a",
    "query": "planted-query-token-5c7e9a",
    "password": "planted-password-Hunter2x",
    "source": "def planted_strategy_source_3e8f(ctx): return ctx",
    "api_key": "planted-api-key-9d4b1c",
}


@pytest.fixture
def sentry() -> Iterator[SentryStandIn]:
    with SentryStandIn() as standin:
        yield standin
        _stop_sentry()


def _stop_sentry() -> None:
    """Leave this test process as it was: no Sentry client."""
    import sentry_sdk

    sentry_sdk.flush(timeout=5)
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


@given("a Sentry stand-in on 127.0.0.1 as HUICE_SENTRY_DSN", target_fixture="standin")
def standin(sentry: SentryStandIn) -> SentryStandIn:
    return sentry


# --- the API ----------------------------------------------------------------------------------------------


@given("the API with error tracking started and a route that fails unexpectedly", target_fixture="failing_api")
def failing_api(standin: SentryStandIn, container) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from huice.api import create_app

    settings = MonitoringSettings(sentry_dsn=SecretStr(standin.dsn), _env_file=None)
    assert init_error_tracking(settings, environment="test", release="0-test", process="api")
    app = create_app(container)

    async def fail(request: Request) -> None:
        strategy_source = PLANTED["source"]  # a local variable: frames' variables must not be sent
        await request.body()
        raise RuntimeError(f"unexpected: password={PLANTED['password']} while saving {len(strategy_source)} bytes")

    app.add_api_route("/api/test-only/fail", fail, methods=["POST"])
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@when(
    "a request with a bearer token, a session cookie, a token in the query and a body with a password and "
    "strategy source fails there",
    target_fixture="response",
)
def failing_request(failing_api) -> Any:
    failing_api.cookies.set("session", PLANTED["cookie"])
    return failing_api.post(
        f"/api/test-only/fail?token={PLANTED['query']}",
        headers={"Authorization": f"Bearer {PLANTED['bearer']}", "X-API-Key": PLANTED["api_key"]},
        json={"password": PLANTED["password"], "source": PLANTED["source"], "code": PLANTED["source"]},
    )


@then("the answer is 500 INTERNAL_ERROR with the request id")
def answer_500(response) -> None:
    assert response.status_code == 500, response.text
    error = response.json()["error"]
    assert error["code"] == "INTERNAL_ERROR"
    assert error["details"]["request_id"] == response.headers["x-request-id"]


# --- a worker ---------------------------------------------------------------------------------------------


@given("a worker process started with HUICE_SENTRY_DSN", target_fixture="worker_jobs")
def worker_jobs(standin: SentryStandIn, test_servers, settings, tmp_path) -> Iterator[Any]:
    """`huice worker --processes 1` on a database of its own (the summary scenarios count every job of the
    monitoring database), with HUICE_SENTRY_DSN set; yields the job runtime to submit with."""
    from redis import Redis

    from huice import migrate
    from huice.bootstrap import Container
    from huice.contexts import configure_contexts
    from platform_core.db import Database
    from tests.databases import create_database
    from tests.job_orchestration.cluster import run_cluster
    from tests.job_orchestration.conftest import fast_env
    from tests.monitoring.conftest import _drop

    url, name = create_database(test_servers.database_url, prefix="huice_mon_sentry")
    db = Database.from_url(url, pool_size=2)
    redis = Redis.from_url(test_servers.redis_url)
    try:
        migrate.upgrade(url)
        c = Container(settings=settings, servers=test_servers, db=db, redis=redis)
        configure_contexts(c)
        env = fast_env(c)
        extra = {"HUICE_SENTRY_DSN": standin.dsn, "HUICE_SENTRY_ENVIRONMENT": "test"}
        with run_cluster(url, test_servers.redis_url, tmp_path / "worker", 1, extra_env=extra):
            yield env
        for closer in c.extras.pop("_closers", []):
            closer()
    finally:
        redis.close()
        db.dispose()
        _drop(test_servers.database_url, name)


@when(
    "a job fails on it with an unexpected error whose message holds a password and a bearer token",
    target_fixture="failed_job",
)
def failing_job(worker_jobs) -> Any:
    from tests.job_orchestration.factories import submit, wait_status

    message = f"upstream refused: password={PLANTED['password']} Authorization: Bearer {PLANTED['bearer']}"
    payload = {"fail_attempts": 1, "message": message, "source": PLANTED["source"], "api_key": PLANTED["api_key"]}
    job = submit(worker_jobs, uuid.uuid4(), "diag.fail", payload)
    done = wait_status(worker_jobs.db, job.id, "succeeded", "failed", timeout=60)
    assert (done.status, done.attempts) == ("succeeded", 2)  # attempt 1 failed, the retry succeeded
    return done


@then("the event names the RQ job that failed")
def names_the_job(standin: SentryStandIn, failed_job) -> None:
    event = standin.wait_event("DiagnosticFailure")
    rq_job = event["extra"]["rq-job"]
    assert rq_job["func"] == "job_orchestration.jobs.run"
    assert rq_job["job_id"] and rq_job["args"] == "[Filtered]"  # job arguments are not collected


# --- both -------------------------------------------------------------------------------------------------


@then(parsers.parse('Sentry received the event of the exception "{kind}" from the "{process}" process'))
def event_received(standin: SentryStandIn, kind: str, process: str) -> None:
    import sentry_sdk

    sentry_sdk.flush(timeout=10)
    event = standin.wait_event(kind)
    assert event["tags"]["process"] == process
    assert event["environment"] == "test"
    assert event["level"] == "error"
    assert kind in exception_types(event)
    assert standin.paths[0] == "/api/1/envelope/"
    if process == "api":
        assert event["request"]["method"] == "POST"
        assert event["request"]["url"].endswith("/api/test-only/fail")
        assert "data" not in event["request"] and "cookies" not in event["request"]
        assert "[REDACTED]" in event["request"]["query_string"]
    frames = [f for v in event["exception"]["values"] for f in (v.get("stacktrace") or {}).get("frames", [])]
    assert frames and not any("vars" in f for f in frames)
    assert "[REDACTED]" in event["exception"]["values"][-1]["value"]


@then("no planted secret is in anything Sentry received")
def nothing_planted(standin: SentryStandIn) -> None:
    received = standin.everything()
    assert received, "Sentry received nothing"
    leaked = {name: value for name, value in PLANTED.items() if value in received}
    assert leaked == {}
    assert "planted_strategy_source" not in received
