"""BDD: huice/features/demo.feature — `huice demo seed` on its own database with the committed sample slice
(the CLI in this process; the runs are executed in-process through job_orchestration's attempt)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pytest_bdd import parsers, scenarios, then, when
from typer.testing import CliRunner

from huice import demo
from huice.bootstrap import Container, Servers
from platform_core.errors import AppError
from tests.backtest import support

scenarios("huice/features/demo.feature")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_container(test_servers: Servers, data_dir: Path, migrated: str) -> Iterator[Container]:
    with support.committed_container(test_servers, data_dir / "demo", "huice_demo", sample=True) as (c, _):
        yield c


@pytest.fixture(scope="module")
def seeds() -> list[dict[str, Any]]:
    return []


@when(parsers.parse('the operator runs "huice demo seed" on the sample data'), target_fixture="result")
def run_seed(demo_container: Container, seeds: list[dict[str, Any]]) -> Any:
    from huice.cli import app

    args = ["demo", "seed", "--symbols", ",".join(support.SYMBOLS), "--start", "2023-03-01", "--end", "2024-06-28"]
    env = support.worker_env(demo_container)
    human = CliRunner().invoke(app, args, env=env)
    assert human.exit_code == 0, (human.stdout, human.stderr)
    as_json = CliRunner().invoke(app, [*args, "--json"], env=env)  # idempotent: this repeat changes nothing
    assert as_json.exit_code == 0, (as_json.stdout, as_json.stderr)
    seeds.append(json.loads(as_json.stdout))
    return human


@then("the command prints the demo login with its password")
def prints_password(result: Any) -> None:
    assert f"demo login: {demo.DEMO_EMAIL} / {demo.DEMO_PASSWORD}" in result.stdout


@then("the command prints the demo login without a password")
def prints_no_password(result: Any) -> None:
    assert demo.DEMO_EMAIL in result.stdout and demo.DEMO_PASSWORD not in result.stdout


@then("the demo user has 3 strategies from templates, each with a succeeded run")
def three_strategies(seeds: list[dict[str, Any]]) -> None:
    report = seeds[-1]
    assert [s["template"] for s in report["strategies"]] == ["ma_cross", "rsi_reversion", "bollinger_breakout"]
    assert all(s["status"] == "succeeded" for s in report["strategies"])
    assert report["password"] is None and report["runs_executed"] == 0


@then("the demo user has a finished sweep of 10 combinations with its best parameters")
def finished_sweep(seeds: list[dict[str, Any]]) -> None:
    sweep = seeds[-1]["sweep"]
    assert sweep["status"] == "succeeded" and sweep["evaluated"] == 10
    assert set(sweep["best"]["params"]) == {"fast", "slow"}


@then("the demo user can log in with the printed password and see the runs")
def demo_login(demo_container: Container, seeds: list[dict[str, Any]]) -> None:
    from fastapi.testclient import TestClient

    from huice.api import create_app

    with TestClient(create_app(demo_container), raise_server_exceptions=False) as client:
        login = client.post("/api/auth/login", json={"email": demo.DEMO_EMAIL, "password": demo.DEMO_PASSWORD})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        runs = client.get("/api/runs", headers=headers).json()
        assert {r["run_id"] for r in runs["items"]} == {s["run_id"] for s in seeds[-1]["strategies"]}
        assert all(r["status"] == "succeeded" and r["stats"] for r in runs["items"])
        assert client.get("/api/me/disclaimer", headers=headers).json()["accepted"] is True
        usage = {q["quota"]: q["used"] for q in client.get("/api/me/usage", headers=headers).json()["quotas"]}
        assert usage["runs"] == 3 and usage["artifact_bytes"] > 0  # stored artifacts are counted when written


@then("the second seed ran nothing and reports the same runs")
def same_runs(seeds: list[dict[str, Any]]) -> None:
    first, second = seeds[0], seeds[-1]
    assert second["runs_executed"] == 0 and second["created_user"] is False
    assert second["strategies"] == first["strategies"]
    assert second["sweep"] == first["sweep"]  # the finished sweep is reused


@when("the demo is seeded in production mode without --force", target_fixture="refusal")
def production_seed() -> AppError:
    with pytest.raises(AppError) as info:
        demo.seed(SimpleNamespace(settings=SimpleNamespace(env="production")))
    return info.value


@then(parsers.parse('the seed is refused with "{code}" naming "{flag}"'))
def refused(refusal: AppError, code: str, flag: str) -> None:
    assert str(refusal.code) == code and flag in refusal.message
