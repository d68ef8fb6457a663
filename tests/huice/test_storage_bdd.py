"""BDD: huice/features/storage.feature — the whole loop on an S3 bucket (moto's standalone server on a
loopback port): `huice data load-sample` and `huice data check` (the CLI in this process, configured only
through the environment), a run executed by a real `huice worker-process` child configured the same way,
its report, trades and share link through the API, and `/ready`. The local data directory stays empty."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when
from redis import Redis
from typer.testing import CliRunner

from huice.bootstrap import Container, Servers
from platform_core.db import Database
from platform_core.settings import CoreSettings
from tests.backtest import support
from tests.object_store import S3Bucket

scenarios("huice/features/storage.feature")

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


class _Workers(support.Workers):
    """`huice worker-process` children with the bucket's settings in their environment."""

    def __init__(self, c: Container, env: dict[str, str]) -> None:
        super().__init__(c, 1, env)


@pytest.fixture
def s3_huice(test_servers: Servers, migrated: str, s3_bucket: S3Bucket, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A database of its own (migrated, committing), an empty data directory and a container whose storage
    is the bucket."""
    from huice import migrate
    from huice.contexts import configure_contexts
    from tests.databases import create_database, drop_database

    url, name = create_database(test_servers.database_url, prefix="huice_s3")
    migrate.upgrade(url)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = CoreSettings(
        env="test",
        data_dir=data_dir,
        database_url=url,
        redis_url=test_servers.redis_url,
        log_format="console",
        _env_file=None,
        **s3_bucket.settings(),
    )
    c = Container(
        settings=settings,
        servers=Servers(database_url=url, redis_url=test_servers.redis_url),
        db=Database.from_url(url, pool_size=3),
        redis=Redis.from_url(test_servers.redis_url),
    )
    c.redis.flushdb()
    configure_contexts(c)
    env = {**support.worker_env(c), **s3_bucket.env()}
    try:
        yield {"container": c, "bucket": s3_bucket, "data_dir": data_dir, "env": env}
    finally:
        support.close_container(c)
        drop_database(test_servers.database_url, name)


@given("huice configured with HUICE_STORAGE_URL on a local S3 server", target_fixture="world")
def _world(s3_huice: dict[str, Any]) -> dict[str, Any]:
    assert s3_huice["container"].storage.backend == "s3"
    return s3_huice


def _cli(world: dict[str, Any], *args: str) -> Any:
    from huice.cli import app

    return CliRunner().invoke(app, list(args), env=world["env"])


@when(parsers.parse('the operator runs "huice data load-sample" for the three sample symbols and the benchmark'))
def _load_sample(world: dict[str, Any]) -> None:
    symbols = ",".join([*support.SYMBOLS, support.BENCHMARK])
    args = ["data", "load-sample", "--symbols", symbols, "--start", "2023-01-01", "--end", "2024-06-30", "--json"]
    result = _cli(world, *args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    world["snapshot"] = json.loads(result.stdout)["snapshot"]


@when(parsers.parse('the operator runs "huice data check"'))
def _check(world: dict[str, Any]) -> None:
    result = _cli(world, "data", "check", "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["rows"] > 0 and report["symbols"] == len(support.SYMBOLS) + 1


@when(parsers.parse('a user runs a backtest of "{template}" on a worker process with the same settings'))
def _run(world: dict[str, Any], template: str) -> None:
    from fastapi.testclient import TestClient

    from huice.api import create_app

    c = world["container"]
    pool = _Workers(c, world["env"])
    try:
        pool.wait_ready()
        client = TestClient(create_app(c), raise_server_exceptions=False)
        world["client"] = client.__enter__()
        me = world["me"] = support.new_user(c)
        body = support.backtest_body(strategyRef={"template": template, "params": {"fast": 5, "slow": 20}})
        created = world["client"].post("/api/backtests", json=body, headers=me.headers)
        assert created.status_code == 201, created.text
        answer = support.submit(world["client"], me, created.json()["backtest"], {"fast": 5, "slow": 20})
        assert answer.status_code == 201, answer.text
        run_id = answer.json()["run_ids"][0]
        run = support.wait_for(
            lambda: support.read_run(world["client"], me, run_id),
            lambda r: r["status"] in support.TERMINAL,
            timeout=180,
        )
        assert run["status"] == "succeeded", run
        world["run"] = run
    finally:
        pool.stop()


@when(parsers.parse("the user downloads the run's report, reads its trades and opens a share link of it"))
def _read_results(world: dict[str, Any]) -> None:
    client, me, run_id = world["client"], world["me"], world["run"]["run_id"]
    report = support.artifact(client, me, run_id, "report", "html")
    assert report.status_code == 200 and report.content.lstrip().lower().startswith(b"<!doctype html")
    trades = client.get(f"/api/runs/{run_id}/trades", headers=me.headers)
    assert trades.status_code == 200 and trades.json()["items"], trades.text
    equity = support.artifact(client, me, run_id, "equity", "parquet")
    assert equity.status_code == 200 and equity.content[:4] == b"PAR1"
    shared = client.post(
        f"/api/runs/{run_id}/shares", json={"expires_in": "7d", "include": {"trades": True}}, headers=me.headers
    )
    assert shared.status_code == 201, shared.text
    view = client.get(f"/api/shared/{shared.json()['token']}")
    assert view.status_code == 200 and view.json()["trades"], view.text[:500]
    page = client.get(f"/s/{shared.json()['token']}")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]


@then(parsers.parse('every bar partition of the sample snapshot is an object below "{below}" of the bucket'))
def _bars_in_bucket(world: dict[str, Any], below: str) -> None:
    keys = world["bucket"].keys(below)
    daily = [k for k in keys if k.startswith(f"{below}1d/")]
    assert {k.split("/")[3] for k in daily} == {*support.SYMBOLS, support.BENCHMARK}
    assert all(k.endswith(".parquet") for k in keys)
    assert world["bucket"].keys("market/staging") == []


@then(parsers.parse('the run\'s artifacts and its report cache are objects below "{below}" of the bucket'))
def _artifacts_in_bucket(world: dict[str, Any], below: str) -> None:
    run = world["run"]
    keys = world["bucket"].keys(f"{below}{world['me'].id}/{run['run_id']}")
    names = {k.rsplit("/", 1)[1] for k in keys}
    assert {"equity.parquet", "trades.parquet", "orders.parquet"} <= names, names
    assert any(n.startswith("report-") and n.endswith(".html") for n in names), names
    assert any(n.startswith("report-") and n.endswith(".json") for n in names), names


@then("nothing was written below the local data directory")
def _nothing_local(world: dict[str, Any]) -> None:
    assert sorted(p.relative_to(world["data_dir"]) for p in world["data_dir"].rglob("*")) == []


@then(parsers.parse('"/ready" reports the storage as "{backend}" with the bucket and without the secret key'))
def _ready(world: dict[str, Any], backend: str) -> None:
    answer = world["client"].get("/ready")
    storage = answer.json()["checks"]["storage"]
    assert (storage["ok"], storage["backend"], storage["bucket"]) == (True, backend, world["bucket"].name)
    assert storage["endpoint_url"] == world["bucket"].server.endpoint_url
    assert world["env"]["HUICE_STORAGE_SECRET_ACCESS_KEY"] not in answer.text
    world["client"].__exit__(None, None, None)
