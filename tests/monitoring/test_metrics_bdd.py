"""Steps of `features/metrics.feature`: `/metrics` scraped over real HTTP from uvicorn serving the app on a
local port (in a thread of this process, over the test's container), and the token check."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pytest_bdd import given, parsers, scenarios, then, when

from tests.monitoring.conftest import World, set_monitoring

scenarios("monitoring/features/metrics.feature")


@pytest.fixture
def served(container) -> Iterator[dict]:
    """Start on first use: uvicorn on a free local port; stopped after the scenario."""
    state: dict = {}
    yield state
    server = state.get("server")
    if server is not None:
        server.should_exit = True
        state["thread"].join(10)


@given("the API serves on a local port")
def serve(served: dict, container) -> None:
    import uvicorn

    from huice.api import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(container), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    served.update(server=server, thread=thread, url=f"http://127.0.0.1:{port}")


@when("a client requests GET /api/monitor/summary over HTTP as the admin")
def summary_over_http(world: World, served: dict) -> None:
    response = httpx.get(f"{served['url']}/api/monitor/summary", headers=world.admin_headers, timeout=30)
    assert response.status_code == 200, response.text


@when("a client scrapes /metrics over HTTP")
def scrape(world: World, served: dict) -> None:
    response = httpx.get(f"{served['url']}/metrics", timeout=30)
    assert response.status_code == 200, response.text
    world.extra["families"] = {f.name: f for f in text_string_to_metric_families(response.text)}


def _samples(world: World, name: str) -> list:
    family = world.extra["families"][name]
    return family.samples


@then(parsers.parse('the metrics count {count:d} succeeded "{kind}" job'))
def job_counter(world: World, count: int, kind: str) -> None:
    [sample] = [
        s
        for s in _samples(world, "huice_jobs_finished")
        if s.name == "huice_jobs_finished_total" and s.labels == {"kind": kind, "outcome": "succeeded"}
    ]
    assert sample.value == count


@then(parsers.parse("the run duration histogram has {count:d} observation of {seconds:g} s"))
def run_histogram(world: World, count: int, seconds: float) -> None:
    samples = {(s.name, s.labels.get("le")): s.value for s in _samples(world, "huice_run_duration_seconds")}
    assert samples[("huice_run_duration_seconds_count", None)] == count
    assert samples[("huice_run_duration_seconds_sum", None)] == seconds
    assert samples[("huice_run_duration_seconds_bucket", "2.5")] == 0
    assert samples[("huice_run_duration_seconds_bucket", "5")] == count


@then(parsers.parse('the HTTP request counter has the route "{route}" with status {status:d}'))
def http_counter(world: World, route: str, status: int) -> None:
    matching = [
        s
        for s in _samples(world, "huice_http_requests")
        if s.name == "huice_http_requests_total" and s.labels["route"] == route and s.labels["status"] == str(status)
    ]
    assert [s.value for s in matching] == [1.0], [s for s in _samples(world, "huice_http_requests")]


@given(parsers.parse('the metrics token is "{token}"'))
def metrics_token(container, token: str) -> None:
    set_monitoring(container, metrics_token=token)


@when(parsers.parse('a client scrapes /metrics with the authorization "{authorization}"'))
@when('a client scrapes /metrics with the authorization ""')
def scrape_with(world: World, api, authorization: str = "") -> None:
    headers = {"Authorization": authorization} if authorization else {}
    world.response = api.get("/metrics", headers=headers)


@then("the metrics are served in the Prometheus text format")
def prometheus_text(world: World) -> None:
    assert world.response.status_code == 200
    assert world.response.headers["content-type"].startswith("text/plain")
    names = {f.name for f in text_string_to_metric_families(world.response.text)}
    assert {"huice_jobs_finished", "huice_queue_depth", "huice_run_duration_seconds", "huice_alert_firing"} <= names
