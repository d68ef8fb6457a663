"""Steps for the platform feature (health, readiness, error envelope, request ids)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from pytest_bdd import given, parsers, scenarios, then, when
from rq import Worker

scenarios("platform_core/features/platform.feature")


@pytest.fixture
def worker_proc(test_servers, redis):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUICE_")}
    env.update(
        HUICE_DATABASE_URL=test_servers.database_url,
        HUICE_REDIS_URL=test_servers.redis_url,
        HUICE_LOG_LEVEL="WARNING",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "huice", "worker-process"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not Worker.all(connection=redis) and time.monotonic() < deadline:
        assert proc.poll() is None, "worker died"
        time.sleep(0.2)
    yield proc
    proc.terminate()
    proc.wait(timeout=20)


@given("no worker is running")
def no_worker(redis) -> None:
    assert Worker.all(connection=redis) == []


@given("a worker process is running")
def a_worker(worker_proc) -> None:
    assert worker_proc.poll() is None


@pytest.fixture
def refused_token(container):
    """The market env pointed at a Tushare stand-in that knows another token (restored afterwards)."""
    from pydantic import SecretStr

    from market_data.config import env_of
    from market_data.tushare_standin import StandinServer

    market = env_of(container)
    original = market.settings
    with StandinServer(token="the-right-token") as server:
        market.settings = original.model_copy(
            update={"tushare_token": SecretStr("a-wrong-token"), "tushare_url": server.url}
        )
        try:
            yield server
        finally:
            market.settings = original


@given("a Tushare token the provider refuses")
def a_refused_token(refused_token) -> None:
    assert refused_token.token == "the-right-token"


@then(parsers.parse('the readiness check "{name}" lists the schedules'))
def lists_schedules(response, name: str) -> None:
    check = response.json()["checks"][name]
    assert isinstance(check["schedules"], list), check
    assert all({"name", "enabled", "next_run_at", "last_run_at", "overdue"} <= set(s) for s in check["schedules"])


@then(parsers.parse('readiness is gated by "{names}"'))
def gated_by(response, names: str) -> None:
    assert response.json()["gates"] == [n.strip() for n in names.split(",")]
    provider = response.json()["checks"]["data_provider"]
    assert provider["token_configured"] is True and provider["reachable"] is False
    assert "a-wrong-token" not in response.text


@when(parsers.parse('I GET "{path}"'), target_fixture="response")
def get(api, path: str):
    return api.get(path)


@when(parsers.parse('I GET "{path}" with request id "{rid}"'), target_fixture="response")
def get_with_id(api, path: str, rid: str):
    return api.get(path, headers={"X-Request-ID": rid})


@when(parsers.parse('I send DELETE to "{path}"'), target_fixture="response")
def delete(api, path: str):
    return api.delete(path)


@then(parsers.parse("the status is {status:d}"))
def status_is(response, status: int) -> None:
    assert response.status_code == status, response.text


@then(parsers.parse('the JSON field "{field}" is "{value}"'))
def json_field(response, field: str, value: str) -> None:
    assert response.json()[field] == value


@then(parsers.parse('the readiness check "{name}" passed'))
def check_passed(response, name: str) -> None:
    assert response.json()["checks"][name]["ok"] is True, response.json()["checks"][name]


@then(parsers.parse('the readiness check "{name}" failed'))
def check_failed(response, name: str) -> None:
    assert response.json()["checks"][name]["ok"] is False


@then(parsers.parse('the error code is "{code}"'))
def error_code(response, code: str) -> None:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code


@then(parsers.parse('the response header "{name}" is "{value}"'))
def header_is(response, name: str, value: str) -> None:
    assert response.headers[name] == value


@then("the response carries a generated request id")
def generated_id(response) -> None:
    rid = response.headers["X-Request-ID"]
    assert len(rid) == 32 and all(c in "0123456789abcdef" for c in rid)


@then(parsers.parse('the OpenAPI document defines the "{schema}" schema'))
def openapi_schema(response, schema: str) -> None:
    assert schema in response.json()["components"]["schemas"]
