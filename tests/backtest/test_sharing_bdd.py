"""BDD of the report and share links (sharing.feature), in this process over the committed sample data: the
succeeded runs are made by job_orchestration's attempt in the test process (the attempt a worker would
make), the API through a TestClient over the full app, the CLI through `huice` in process."""

from __future__ import annotations

import html
import json
import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pytest_bdd import given, parsers, scenarios, then, when
from sqlalchemy import text

from backtest.config import env_of
from huice.bootstrap import Container
from job_orchestration import attempt
from market_data import service as market
from strategy_management import service as strategies
from strategy_management.schemas import StrategyCreate
from tests.backtest import support

scenarios("backtest/features/sharing.feature")

URL_ATTRIBUTE = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


def succeed_in_process(bt: Container, client: Any, me: support.User, backtest: dict, params: dict) -> dict:
    """Submit a run and make its one attempt here, as a worker would; the run as read afterwards."""
    response = support.submit(client, me, backtest, params)
    assert response.status_code == 201, response.text
    [run_id] = response.json()["run_ids"]
    job_id = uuid.UUID(support.read_run(client, me, run_id)["job_id"])
    outcome = attempt.execute(env_of(bt).jobs, job_id, worker_name="in-process", pid=os.getpid(), kill=lambda: None)
    run = support.read_run(client, me, run_id)
    assert (outcome, run["status"]) == ("succeeded", "succeeded"), run
    return run


def share(client: Any, user: support.User, run_id: str, body: dict) -> httpx.Response:
    return client.post(f"/api/runs/{run_id}/shares", json=body, headers=user.headers)


def token_of(url: str) -> str:
    return url.rsplit("/s/", 1)[1]


def public(client: Any, token: str) -> tuple[httpx.Response, httpx.Response]:
    """The link's page and data, without any credentials."""
    return client.get(f"/s/{token}"), client.get(f"/api/shared/{token}")


# --- background ----------------------------------------------------------------------------------------


@given("the sample data")
def _sample_data(bt: Container) -> None:
    with bt.db.transaction() as session:
        assert market.latest_snapshot(session).source == "sample"


@given(parsers.parse("a succeeded run with fast {fast:d} and slow {slow:d}"), target_fixture="run")
def _succeeded_run(bt: Container, client: Any, me: support.User, backtest: dict, fast: int, slow: int) -> dict:
    return succeed_in_process(bt, client, me, backtest, {"fast": fast, "slow": slow})


# --- the report ----------------------------------------------------------------------------------------


@when("the user downloads the run's report as html", target_fixture="answer")
def _download_report(client: Any, me: support.User, run: dict) -> httpx.Response:
    return support.artifact(client, me, run["run_id"], "report", "html")


@then("the answer is 200 text/html naming the strategy and the disclaimer 研究用途，不构成投资建议")
def _report_ok(answer: httpx.Response, backtest: dict) -> None:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    page = answer.text
    assert page.startswith("<!DOCTYPE html>")
    assert f"{backtest['strategy']['strategy_name']}</span> <small>v1</small>" in page
    assert "研究用途，不构成投资建议" in page
    assert "echarts" in page and '<script type="application/json" id="report-data">' in page


@then("the page loads no script, style, font or image from any URL")
def _self_contained(answer: httpx.Response) -> None:
    page = answer.text
    assert not URL_ATTRIBUTE.search(page), URL_ATTRIBUTE.search(page)
    assert "@import" not in page and "url(http" not in page
    [policy] = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert "connect-src 'none'" in html.unescape(policy) and "default-src 'none'" in html.unescape(policy)


@then(parsers.parse('the report as csv is 422 INVALID_INPUT naming "{field}"'))
def _report_csv(client: Any, me: support.User, run: dict, field: str) -> None:
    error = support.envelope(support.artifact(client, me, run["run_id"], "report", "csv"), 422, "INVALID_INPUT")
    assert (error["details"]["field"], error["details"]["allowed"]) == (field, ["html"])


# --- sharing -------------------------------------------------------------------------------------------


def _include(words: str) -> dict[str, bool]:
    return {"with trades and without positions": {"trades": True, "positions": False},
            "with trades and positions": {"trades": True, "positions": True}}[words]  # fmt: skip


@when(parsers.parse('the user shares the run for "{expires}" {words}'), target_fixture="shared")
def _share(client: Any, me: support.User, run: dict, expires: str, words: str) -> httpx.Response:
    return share(client, me, run["run_id"], {"expires_in": expires, "include": _include(words)})


@then("the answer is 201 with a link, its token and an expiry 7 days ahead")
def _shared_ok(shared: httpx.Response, run: dict) -> None:
    assert shared.status_code == 201, shared.text
    body = shared.json()
    assert body["token"].startswith("hs_") and len(body["token"]) >= 40
    assert body["url"] == f"http://127.0.0.1:8000/s/{body['token']}"
    assert (body["run_id"], body["status"], body["visits"]) == (run["run_id"], "active", 0)
    assert body["include"] == {"trades": True, "positions": False}
    ahead = datetime.fromisoformat(body["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=7) - timedelta(minutes=1) < ahead <= timedelta(days=7)


@then("the link's page opens without login as the run's report")
def _page_opens(client: Any, shared: httpx.Response, run: dict, backtest: dict) -> None:
    page = client.get(f"/s/{shared.json()['token']}")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert "connect-src 'none'" in page.headers["content-security-policy"]
    assert backtest["strategy"]["strategy_name"] in page.text and run["run_id"] in page.text
    assert "研究用途，不构成投资建议" in page.text
    assert "期末持仓" not in page.text  # positions were not included


@then("the link's data opens without login with the metrics, curves and trades but no positions")
def _data_opens(client: Any, shared: httpx.Response, run: dict) -> None:
    answer = client.get(f"/api/shared/{shared.json()['token']}")
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["run"]["run_id"] == run["run_id"]
    assert data["metrics"] == run["stats"]
    assert len(data["curves"]["ts"]) == len(data["curves"]["equity"]) == len(data["curves"]["drawdown"]) > 100
    assert data["curves"]["equity"][0] == 1.0
    assert data["trades"] and data["trade_total"] == run["stats"]["trade_count"]
    assert data["positions"] is None
    assert data["include"] == {"trades": True, "positions": False}


def _my_shares(client: Any, me: support.User) -> dict:
    answer = client.get("/api/shares", headers=me.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


@then(parsers.parse("the user's shares list the link as active with {visits:d} visits and without its token"))
def _listed(client: Any, me: support.User, shared: httpx.Response, visits: int) -> None:
    page = _my_shares(client, me)
    [item] = [i for i in page["items"] if i["id"] == shared.json()["id"]]
    assert (item["status"], item["visits"]) == ("active", visits)
    assert item["last_visit_at"] is not None
    assert shared.json()["token"] not in json.dumps(page) and "token" not in item


@when("the user revokes the link")
def _revoke(client: Any, me: support.User, shared: httpx.Response) -> None:
    answer = client.delete(f"/api/shares/{shared.json()['id']}", headers=me.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "revoked"


@when("the link has expired")
def _expire(bt: Container, shared: httpx.Response) -> None:
    """Its expiry moved into the past (as time passing would)."""
    with bt.db.transaction() as session:
        session.execute(
            text("UPDATE backtest.shares SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": shared.json()["id"]},
        )


def _same_404(client: Any, token: str, message: str) -> None:
    for answer in public(client, token):
        assert answer.status_code == 404, answer.text
        assert answer.json() == {"error": {"code": "NOT_FOUND", "message": message, "details": {}}}


@then(parsers.parse('the link\'s page and data answer 404 NOT_FOUND "{message}"'))
def _gone(client: Any, shared: httpx.Response, message: str) -> None:
    _same_404(client, shared.json()["token"], message)


@then(parsers.parse('an unknown token\'s page and data answer 404 NOT_FOUND "{message}"'))
def _unknown(client: Any, message: str) -> None:
    _same_404(client, "hs_" + "x" * 43, message)


@then("the user's shares list the link as revoked")
def _listed_revoked(client: Any, me: support.User, shared: httpx.Response) -> None:
    [item] = [i for i in _my_shares(client, me)["items"] if i["id"] == shared.json()["id"]]
    assert item["status"] == "revoked" and item["revoked_at"] is not None


# --- no source -----------------------------------------------------------------------------------------


@given("a succeeded run of a strategy whose source carries a unique comment", target_fixture="marked")
def _marked_run(bt: Container, client: Any, me: support.User) -> dict:
    marker = f"huice-secret-{uuid.uuid4().hex}"
    source = strategies.template_source("ma_cross").source.replace("\n", f"\n# {marker}\n", 1)
    with bt.db.transaction() as session:
        created = strategies.create_strategy(
            session, env_of(bt).strategies, me.principal, StrategyCreate(name=f"marked-{marker[-8:]}", source=source)
        )
    body = support.backtest_body(strategyRef={"version_id": str(created.latest_version.id)})
    answer = client.post("/api/backtests", json=body, headers=me.headers)
    assert answer.status_code == 201, answer.text
    run = succeed_in_process(bt, client, me, answer.json()["backtest"], {"fast": 5, "slow": 20})
    return {"marker": marker, "run": run}


@when(parsers.parse('the user shares that run for "{expires}" {words}'), target_fixture="shared")
def _share_marked(client: Any, me: support.User, marked: dict, expires: str, words: str) -> httpx.Response:
    answer = share(client, me, marked["run"]["run_id"], {"expires_in": expires, "include": _include(words)})
    assert answer.status_code == 201, answer.text
    return answer


@then("neither the link's page, nor its data, nor the user's shares contain the comment or the user's email")
def _no_source(client: Any, me: support.User, marked: dict, shared: httpx.Response) -> None:
    page, data = public(client, shared.json()["token"])
    assert (page.status_code, data.status_code) == (200, 200)
    assert data.json()["positions"]  # everything the owner may include is in, and still no source
    bodies = {
        "page": page.text,
        "data": data.text,
        "shares": json.dumps(_my_shares(client, me)),
        "created": shared.text,
    }
    for name, body in bodies.items():
        assert marked["marker"] not in body, name
        assert me.principal.email not in body, name
        assert "def generate" not in body, name


@then("the link's data has no raw bars and no other run")
def _no_bars(client: Any, shared: httpx.Response, marked: dict, run: dict) -> None:
    data = client.get(f"/api/shared/{shared.json()['token']}").json()
    assert set(data) == {
        "run", "metrics", "manifest", "curves", "drawdowns", "monthly", "yearly", "distribution", "fees",
        "orders_by_reason", "orders_by_tag", "trades", "trade_total", "blocked_orders", "positions", "include",
        "expires_at",
    }  # fmt: skip
    assert set(data["curves"]) == {"ts", "equity", "drawdown", "benchmark", "method", "rows"}
    for row in data["positions"]:
        assert set(row) == {"date", "symbol", "shares", "close", "market_value", "avg_cost", "unrealised_pnl", "weight"}
    assert run["run_id"] not in json.dumps(data)  # the user's other run
    assert "owner" not in json.dumps(data) and "backtest_id" not in json.dumps(data)


# --- tenancy -------------------------------------------------------------------------------------------


@then("the other user sharing the run answers 404 NOT_FOUND")
def _other_shares(client: Any, other: support.User, run: dict) -> None:
    support.envelope(share(client, other, run["run_id"], {"expires_in": "1d"}), 404, "NOT_FOUND")


@then("the other user's list of shares is empty")
def _other_list(client: Any, other: support.User) -> None:
    assert _my_shares(client, other)["total"] == 0


@then("the other user revoking the link answers 404 NOT_FOUND")
def _other_revokes(client: Any, other: support.User, me: support.User, shared: httpx.Response) -> None:
    support.envelope(client.delete(f"/api/shares/{shared.json()['id']}", headers=other.headers), 404, "NOT_FOUND")
    [item] = [i for i in _my_shares(client, me)["items"] if i["id"] == shared.json()["id"]]
    assert item["status"] == "active"


# --- bad expiry ----------------------------------------------------------------------------------------


@then(parsers.parse('sharing the run with each expiry is refused with 422 INVALID_INPUT naming "{field}":'))
def _bad_expiry(client: Any, me: support.User, run: dict, field: str, datatable: list[list[str]]) -> None:
    for [expires] in datatable[1:]:
        error = support.envelope(share(client, me, run["run_id"], {"expires_in": expires}), 422, "INVALID_INPUT")
        assert error["details"]["field"] == field, (expires, error)
    assert _my_shares(client, me)["total"] == 0


@then("sharing the run without an expiry is refused with 422 INVALID_INPUT")
def _no_expiry(client: Any, me: support.User, run: dict) -> None:
    error = support.envelope(share(client, me, run["run_id"], {"include": {"trades": True}}), 422, "INVALID_INPUT")
    assert "expires_in" in json.dumps(error)


# --- rate limit ----------------------------------------------------------------------------------------


@given(parsers.parse("views are limited to {count:d} a minute per link"))
def _limit(bt: Container, redis: Any, monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setattr(env_of(bt).settings, "share_token_limit", f"{count}/minute")


@then(
    parsers.parse("the first {count:d} views of the link answer 200 and the {nth}th 429 RATE_LIMITED with Retry-After")
)
def _limited(client: Any, shared: httpx.Response, count: int, nth: str) -> None:
    token = shared.json()["token"]
    paths = [f"/s/{token}", f"/api/shared/{token}"]
    assert [client.get(paths[i % 2]).status_code for i in range(count)] == [200] * count
    refused = client.get(f"/api/shared/{token}")
    support.envelope(refused, 429, "RATE_LIMITED")
    assert int(refused.headers["retry-after"]) >= 1


@given(parsers.parse("views are limited to {count:d} a minute per client address"))
def _address_limit(bt: Container, redis: Any, monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setattr(env_of(bt).settings, "share_address_limit", f"{count}/minute")


@when(parsers.parse('the user shares the run again for "{expires}" {words}'), target_fixture="shared_again")
def _share_again(client: Any, me: support.User, run: dict, expires: str, words: str) -> httpx.Response:
    answer = share(client, me, run["run_id"], {"expires_in": expires, "include": _include(words)})
    assert answer.status_code == 201, answer.text
    return answer


@then("2 views of each link answer 200 and the next view of either 429 RATE_LIMITED with Retry-After")
def _address_limited(client: Any, shared: httpx.Response, shared_again: httpx.Response) -> None:
    tokens = [shared.json()["token"], shared_again.json()["token"]]
    assert [client.get(f"/api/shared/{t}").status_code for t in tokens for _ in range(2)] == [200] * 4
    for token in tokens:
        refused = client.get(f"/s/{token}")
        support.envelope(refused, 429, "RATE_LIMITED")
        assert int(refused.headers["retry-after"]) >= 1


# --- the CLI -------------------------------------------------------------------------------------------


@given("a signed-in user of the CLI", target_fixture="cli_env")
def _cli_env(bt: Container, me: support.User, run: dict, tmp_path: Any) -> dict[str, Any]:
    env = support.worker_env(bt)
    env["HUICE_API_KEY"] = support.api_key_for(bt, me)
    return {"env": env, "names": {"dir": str(tmp_path), "run": run["run_id"]}, "dir": tmp_path}


@then("the command exits 0 and the file report.html is the run's report")
def _cli_report(result: Any, cli_env: dict, run: dict) -> None:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    written = json.loads(result.stdout)
    page = (cli_env["dir"] / "report.html").read_text(encoding="utf-8")
    assert written["bytes"] == len(page.encode()) and written["type"] == "report"
    assert run["run_id"] in page and "研究用途，不构成投资建议" in page


@then("the command exits 0 and prints a link that opens without login")
def _cli_share(result: Any, cli_env: dict, client: Any) -> None:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    [url] = re.findall(r"http://127\.0\.0\.1:8000/s/(hs_[A-Za-z0-9_-]+)", result.stdout)
    assert client.get(f"/s/{url}").status_code == 200
    cli_env["token"] = url


@then("the command exits 0 and lists the link as active")
def _cli_shares(result: Any, cli_env: dict) -> None:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    [item] = json.loads(result.stdout)["items"]
    assert (item["status"], item["visits"]) == ("active", 1)
    cli_env["names"]["share"] = item["id"]


@then("the command exits 0 and the link answers 404")
def _cli_unshare(result: Any, cli_env: dict, client: Any) -> None:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert json.loads(result.stdout)["status"] == "revoked"
    _same_404(client, cli_env["token"], "shared link not found")


@then(parsers.parse("the user's usage counts {count:d} share link this month"))
def _share_usage(client: Any, me: support.User, count: int) -> None:
    usage = client.get("/api/me/usage", headers=me.headers).json()
    assert {q["quota"]: q["used"] for q in usage["quotas"]}["share_links"] == count
