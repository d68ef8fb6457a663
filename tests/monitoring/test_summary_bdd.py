"""Steps of `features/summary.feature` and `features/access.feature` (API and CLI over the test's container)."""

from __future__ import annotations

import json

import httpx
from pytest_bdd import parsers, scenarios, then, when

from tests.monitoring.conftest import World, cli_json, cli_runner

scenarios("monitoring/features/summary.feature", "monitoring/features/access.feature")


@then(
    parsers.parse(
        "the users are {total:d} in total, {verified:d} verified, {day:d} active in the last day "
        "and {month:d} in the last 30 days"
    )
)
def users_are(world: World, total: int, verified: int, day: int, month: int) -> None:
    u = world.summary["users"]
    assert (u["total"], u["verified"], u["active_1d"], u["active_30d"]) == (total, verified, day, month)


@then(
    parsers.parse(
        'there are {strategies:d} strategies with {versions:d} versions, {copied:d} of them from the template "{name}"'
    )
)
def strategies_are(world: World, strategies: int, versions: int, copied: int, name: str) -> None:
    s = world.summary["strategies"]
    assert (s["strategies"], s["versions"], s["from_template"]) == (strategies, versions, copied)
    assert s["template_usage"] == {name: copied}
    assert s["template_usage_rate"] == round(copied / strategies, 4)


@then(parsers.parse("there is {backtests:d} backtest with {runs:d} runs"))
def backtests_are(world: World, backtests: int, runs: int) -> None:
    counts = world.summary["backtests"]
    assert (counts["backtests"], counts["runs"]) == (backtests, runs)


@then(parsers.parse('the runs by status are "{expected}"'))
def runs_by_status(world: World, expected: str) -> None:
    pairs = dict(p.split("=") for p in expected.split(", "))
    assert world.summary["runs"]["by_status"] == {k: int(v) for k, v in pairs.items()}


@then(parsers.parse("{running:d} runs are running and {queued:d} are queued"))
def running_queued(world: World, running: int, queued: int) -> None:
    assert (world.summary["runs"]["running"], world.summary["runs"]["queued"]) == (running, queued)


@then(parsers.parse("the run queue wait is p50 {p50:g} s, p95 {p95:g} s and mean {mean:g} s"))
def run_wait(world: World, p50: float, p95: float, mean: float) -> None:
    r = world.summary["runs"]
    assert (r["queue_wait_p50_s"], r["queue_wait_p95_s"], r["queue_wait_mean_s"]) == (p50, p95, mean)
    j = world.summary["jobs"]  # only run jobs exist: the queue statistics of every job agree
    assert (j["queue_wait_p50_s"], j["queue_wait_p95_s"], j["queue_wait_mean_s"]) == (p50, p95, mean)


@then(parsers.parse("the run time is p50 {p50:g} s and p95 {p95:g} s"))
def run_time(world: World, p50: float, p95: float) -> None:
    assert (world.summary["runs"]["run_time_p50_s"], world.summary["runs"]["run_time_p95_s"]) == (p50, p95)


@then(parsers.parse("the run failure rate is {failure:g} and the run completion rate is {completion:g}"))
def run_rates(world: World, failure: float, completion: float) -> None:
    assert (world.summary["runs"]["failure_rate"], world.summary["runs"]["completion_rate"]) == (failure, completion)


@then("the run queue wait and the run failure rate are unknown")
def unknown_in_window(world: World) -> None:
    r = world.summary["runs"]
    assert r["queue_wait_p50_s"] is None and r["queue_wait_p95_s"] is None and r["failure_rate"] is None
    assert r["by_status"] == {"succeeded": 1}  # counted now, whatever the window


@then(parsers.parse("{alive:d} worker is alive, the same number the queue statistics report"))
def workers_alive(world: World, api, alive: int) -> None:
    stats = api.get("/api/jobs/stats", headers=world.admin_headers).json()
    assert world.summary["workers_alive"] == alive == stats["workers_alive"] == world.summary["jobs"]["workers_alive"]


@then(parsers.parse("{running:d} sweep is running and the share links were visited {visits:d} times"))
def sweeps_and_visits(world: World, running: int, visits: int) -> None:
    assert (world.summary["optimisations_running"], world.summary["share_link_visits"]) == (running, visits)
    assert world.summary["absent"] == {}


def _comparable(summary: dict) -> dict:
    """A summary without the moment it was made (the live-worker heartbeat is not part of it)."""
    return {k: v for k, v in summary.items() if k != "generated_at"}


@when(parsers.parse('the admin runs "huice monitor summary --json"'))
def cli_summary_json(world: World, container, monkeypatch) -> None:
    invoke = cli_runner(container, world.admin, monkeypatch)
    world.cli = cli_json(invoke("monitor", "summary", "--json"))
    world.extra["invoke"] = invoke


@then("the CLI figures equal the API's")
def cli_equals_api(world: World, api) -> None:
    rest = api.get("/api/monitor/summary", headers=world.admin_headers).json()
    assert _comparable(world.cli) == _comparable(rest)


@when(parsers.parse('the admin runs "huice monitor summary"'))
def cli_summary_table(world: World) -> None:
    world.cli = world.extra["invoke"]("monitor", "summary")
    assert world.cli.exit_code == 0, world.cli.output


@then(parsers.parse('the table shows "{figure}" as "{value}"'))
def table_shows(world: World, figure: str, value: str) -> None:
    [line] = [line for line in world.cli.stdout.splitlines() if figure in line]
    assert value in line, line


@when("the admin opens the summary stream")
def open_stream(world: World, api) -> None:
    with api.stream("GET", "/api/monitor/stream", headers=world.admin_headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = []
        for line in response.iter_lines():
            if not line:
                break
            lines.append(line)
    world.extra["event"] = lines


@then("its first event is a summary equal to the REST summary but for the time it was made")
def stream_equals_rest(world: World, api) -> None:
    fields = dict(line.split(": ", 1) for line in world.extra["event"])
    assert fields["event"] == "summary" and fields["id"] == "1"
    pushed = json.loads(fields["data"])
    rest = api.get("/api/monitor/summary", headers=world.admin_headers).json()
    assert _comparable(pushed) == _comparable(rest)
    assert pushed["runs"]["by_status"] == {"failed": 1}


# --- access ----------------------------------------------------------------------------------------------


@when(parsers.parse("they call {method} {path}"))
def they_call(world: World, api, method: str, path: str) -> None:
    world.response = api.request(method, path, headers=world.user_headers)


@when(parsers.parse("an anonymous caller calls {method} {path}"))
def anonymous_calls(world: World, api, method: str, path: str) -> None:
    world.response = api.request(method, path)


@when(parsers.parse('they run "huice monitor summary"'))
def user_runs_cli(world: World, container, monkeypatch) -> None:
    world.cli = cli_runner(container, world.user, monkeypatch)("monitor", "summary", "--json")  # the envelope


@then("the CLI exits with the FORBIDDEN envelope")
def cli_forbidden(world: World) -> None:
    assert world.cli.exit_code != 0
    envelope = json.loads(world.cli.stderr.strip().splitlines()[-1])
    assert envelope["error"]["code"] == "FORBIDDEN"


_ = httpx  # the TestClient speaks httpx


# --- WebSocket -------------------------------------------------------------------------------------------


@when("the admin opens the summary WebSocket")
def open_socket(world: World, api) -> None:
    with api.websocket_connect("/api/monitor/stream", headers=world.admin_headers) as socket:
        world.extra["message"] = socket.receive_json()


@then("its first message is a summary equal to the REST summary but for the time it was made")
def socket_equals_rest(world: World, api) -> None:
    rest = api.get("/api/monitor/summary", headers=world.admin_headers).json()
    assert _comparable(world.extra["message"]) == _comparable(rest)
    assert world.extra["message"]["runs"]["by_status"] == {"succeeded": 1}


def _refused(api, headers: dict) -> int:
    from starlette.websockets import WebSocketDisconnect

    try:
        with api.websocket_connect("/api/monitor/stream", headers=headers) as socket:
            socket.receive_json()
    except WebSocketDisconnect as exc:
        return exc.code
    raise AssertionError("the socket was accepted")


@when("they open the summary WebSocket")
def user_socket(world: World, api) -> None:
    world.extra["code"] = _refused(api, world.user_headers)


@when("an anonymous caller opens the summary WebSocket")
def anonymous_socket(world: World, api) -> None:
    world.extra["code"] = _refused(api, {})


@then(parsers.parse("the socket is closed with the code {code:d}"))
def closed_with(world: World, code: int) -> None:
    assert world.extra["code"] == code
