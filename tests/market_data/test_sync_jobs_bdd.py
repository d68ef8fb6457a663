"""Steps of the sync-jobs feature: `POST /api/market/sync` queues a `market_data.sync` job, the job runtime runs
it in this process (`attempt.execute`, the same runner a worker uses) against the Tushare stand-in, on a
database of its own that really commits (the job's transactions are the runtime's own)."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest
from pytest_bdd import given, parsers, scenarios, then, when
from sqlalchemy import text

from huice.bootstrap import Container
from job_orchestration import attempt
from job_orchestration import service as jobs
from job_orchestration.config import env_of as jobs_env_of
from market_data import sample, service
from market_data.config import env_of
from market_data.domain import Freq
from platform_core.ids import utcnow
from tests.backtest import support
from tests.market_data.conftest import SLICE, standin_settings
from tests.user_auth.factories import auth_headers, create_user

scenarios("market_data/features/sync_jobs.feature")

MARKET_TABLES = ("snapshot_defaults", "snapshot_files", "snapshots", "st_periods", "instruments", "calendar_days")


@pytest.fixture(scope="module")
def mk(test_servers, data_dir, migrated) -> Iterator[Container]:
    """A composition root over a database of this module's own (migrated, committing)."""
    with support.committed_container(test_servers, data_dir / "market-jobs", "huice_mk") as (c, _):
        yield c


@pytest.fixture(scope="module")
def mk_api(mk: Container) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from huice.api import create_app

    with TestClient(create_app(mk), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def admin(mk: Container) -> dict[str, str]:
    with mk.db.transaction() as session:
        principal = create_user(session, mk, role="admin")
    return auth_headers(mk, principal)


def _jobs(mk: Container) -> list[Any]:
    with mk.db.transaction() as session:
        found = session.execute(
            text("SELECT id FROM job_orchestration.jobs WHERE kind = 'market_data.sync' ORDER BY submitted_at")
        )
        return [row[0] for row in found]


@given("the offline sample slice is committed", target_fixture="sample_load")
def _committed_sample(mk: Container):
    market = env_of(mk)
    with mk.db.transaction() as session:
        session.execute(text(f"TRUNCATE {', '.join(f'market_data.{t}' for t in MARKET_TABLES)} CASCADE"))
        session.execute(text("DELETE FROM job_orchestration.jobs WHERE kind = 'market_data.sync'"))
    shutil.rmtree(market.store.root, ignore_errors=True)
    with mk.db.transaction() as session:
        return service.load_sample(session, market, symbols=SLICE)


@given("Tushare answers from the stand-in server", target_fixture="standin_settings")
def _standin(mk: Container, tushare):
    with standin_settings(env_of(mk), tushare) as server:
        yield server


@given("Tushare is over its daily quota")
def _over_quota(standin_settings):
    standin_settings.set_faults(daily_quota=10)


@given(parsers.parse("Tushare answers {count:d} bar calls before its daily quota runs out"))
def _quota_after(standin_settings, count):
    standin_settings.set_faults(daily_quota_after=count)


@given("no Tushare token is configured")
def _no_token(mk: Container, standin_settings):
    market = env_of(mk)
    market.settings = market.settings.model_copy(update={"tushare_token": None})


def _submit(api, headers, body):
    return api.post("/api/market/sync", json=body, headers=headers)


def _run(mk: Container, job_id: str) -> None:
    attempt.execute(jobs_env_of(mk), uuid.UUID(job_id), worker_name="in-process", pid=os.getpid(), kill=lambda: None)


def _read(api, headers, job_id: str) -> dict[str, Any]:
    answer = api.get(f"/api/market/sync/{job_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


@when(
    parsers.parse('an administrator submits a sync of "{symbols}" from "{start}" to "{end}"'),
    target_fixture="response",
)
def _submitted(mk_api, admin, symbols, start, end):
    return _submit(mk_api, admin, {"symbols": symbols.split(","), "start": start, "end": end})


@then("the answer is 202 with a queued sync job", target_fixture="job")
def _queued(response, mk_api, admin):
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued" and body["result"] is None and body["sync"] is None
    listed = mk_api.get(f"/api/jobs/{body['job_id']}", headers=admin).json()
    assert listed["kind"] == "market_data.sync" and listed["payload"]["symbols"] == ["600010.SH", "688010.SH"]
    return body


@when("a worker runs the job", target_fixture="job")
def _worker_runs(mk, mk_api, admin, job):
    _run(mk, job["job_id"])
    return _read(mk_api, admin, job["job_id"])


def _sync_job(mk, api, headers, body) -> dict[str, Any]:
    answer = _submit(api, headers, body)
    assert answer.status_code == 202, answer.text
    _run(mk, answer.json()["job_id"])
    return _read(api, headers, answer.json()["job_id"])


@when(parsers.parse('an administrator syncs "{symbols}" from "{start}" to "{end}"'), target_fixture="job")
def _admin_sync(mk, mk_api, admin, standin_settings, symbols, start, end):
    standin_settings.requests.clear()
    return _sync_job(mk, mk_api, admin, {"symbols": symbols.split(","), "start": start, "end": end})


@when(parsers.parse('an administrator syncs every listed stock from "{start}" to "{end}"'), target_fixture="job")
def _admin_sync_all(mk, mk_api, admin, start, end):
    return _sync_job(mk, mk_api, admin, {"all": True, "start": start, "end": end})


@when("the quota is back and the retry runs", target_fixture="job")
def _retry_runs(mk, mk_api, admin, standin_settings, job):
    standin_settings.reset()
    with mk.db.transaction() as session:
        assert jobs.dispatch(session, jobs_env_of(mk), utcnow() + timedelta(hours=1)) == [uuid.UUID(job["job_id"])]
    _run(mk, job["job_id"])
    return _read(mk_api, admin, job["job_id"])


@then(parsers.parse('the sync job succeeded with a new "{source}" snapshot'))
def _succeeded(job, source, sample_load):
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["created"] is True and result["snapshot"]["source"] == source
    assert result["snapshot"]["id"] != sample_load.snapshot.id
    assert result["snapshot"]["is_default"] is False  # a partial sync never moves the default


@then(parsers.parse("its progress reports counted {done:d} of {total:d} partitions with the calls and rows made"))
def _progress_reports(mk_api, admin, job, done, total):
    events = mk_api.get(f"/api/jobs/{job['job_id']}/events/log", headers=admin).json()
    events = events["items"] if isinstance(events, dict) else events
    reports = [json.loads(e["message"]) for e in events if e["type"] == "progress" and e["message"]]
    assert [(r["partitions_done"], r["partitions_total"]) for r in reports] == [(i, total) for i in range(1, done + 1)]
    last = reports[-1]
    assert last["calls"] == job["result"]["calls"] and last["rows"] > 0 and last["eta_s"] == 0.0


@then("the synced bars equal the sample bars")
def _equal_bars(mk, job):
    snapshot = job["result"]["snapshot"]["id"]
    symbols = ["600010.SH", "688010.SH"]
    start, end = date(2025, 1, 1), date(2025, 3, 31)
    with mk.db.transaction() as session:
        synced = service.get_bars(
            session, env_of(mk), symbols=symbols, freq="1d", start=start, end=end, adjust="none",
            snapshot_id=snapshot,
        )  # fmt: skip
    expected = sample.generate(symbols, start, end).bars[Freq.DAILY]
    assert synced.select(expected.columns).equals(expected.sort("symbol", "ts"))
    assert synced.filter(pl.col("symbol") == "688010.SH").height > 0


@then("no new snapshot was recorded and nothing was fetched")
def _nothing_new(job):
    assert job["status"] == "succeeded"
    result = job["result"]
    assert result["created"] is False and result["fetched_rows"] == 0 and result["calls"] == 0


@then(parsers.parse("the stand-in answered {count:d} bar calls, each by trade date"))
def _by_date_calls(standin_settings, count):
    calls = standin_settings.bar_requests()
    assert len(calls) == count
    assert all(c["params"].get("trade_date") and not c["params"].get("ts_code") for c in calls)


@then(parsers.parse('the sync plan is "{plan}"'))
def _plan(job, plan):
    assert job["result"]["plan"] == plan


@then(parsers.parse('the sync job waits for a retry with the error "{code}" and retry advice'))
def _waits_for_retry(job, code):
    assert job["status"] == "queued" and job["result"] is None and job["attempts"] == 1, job
    assert job["error"]["code"] == code
    assert job["error"]["details"]["retry_advice"] == "the quota resets later; retry then"


@then("no new snapshot was recorded")
def _no_snapshot(mk, sample_load):
    with mk.db.transaction() as session:
        assert service.list_snapshots(session, page=_page()).total == 1
        assert service.default_snapshot(session).id == sample_load.snapshot.id


def _page():
    from platform_core.pagination import PageParams

    return PageParams()


@then(parsers.parse('the answer is 422 INVALID_INPUT naming "{field}"'))
def _invalid(response, field):
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_INPUT" and error["details"]["field"] == field


@then("no sync job was queued")
def _none_queued(mk):
    assert _jobs(mk) == []
