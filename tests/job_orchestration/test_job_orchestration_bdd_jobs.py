"""Steps of `features/jobs.feature`: attempts run in-process on the committed database (no worker process)."""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from datetime import timedelta

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from job_orchestration import service
from job_orchestration.attempt import execute
from platform_core.errors import AppError
from platform_core.ids import utcnow
from tests.job_orchestration.cluster import principal_for
from tests.job_orchestration.factories import event_types, read, submit, wait_status

scenarios("job_orchestration/features/jobs.feature")


@pytest.fixture
def owner() -> uuid.UUID:
    return uuid.uuid4()


@given(parsers.parse('an owner submitted a "{kind}" job with payload {payload}'), target_fixture="job")
def submitted(committed_env, owner, kind, payload, request):
    if payload.endswith(" s"):
        body, _, budget = payload.rpartition(" and a budget of ")
        job = submit(committed_env, owner, kind, json.loads(body), budget_s=int(budget[:-2]))
    else:
        job = submit(committed_env, owner, kind, json.loads(payload))
    request.addfinalizer(lambda: _leave_nothing_queued(committed_env, owner, job.id))
    return job


def _leave_nothing_queued(env, owner, job_id):
    """The database is shared by the run: a scenario's job must not stay queued for later workers."""
    with contextlib.suppress(AppError), env.db.transaction() as session:
        service.cancel(session, env, principal_for(owner), job_id)


def _execute(env, job_id):
    return execute(env, job_id, worker_name="bdd", pid=0, kill=lambda: None)


@when("a worker runs the job")
def worker_runs(committed_env, job):
    _execute(committed_env, job.id)


@when("the retry is due and a worker runs the job")
def retry_due(committed_env, job):
    with committed_env.db.transaction() as session:
        assert service.dispatch(session, committed_env, utcnow() + timedelta(seconds=5)) == [job.id]
    _execute(committed_env, job.id)


@when("a worker starts the job", target_fixture="attempt_thread")
def worker_starts(committed_db, committed_env, job):
    thread = threading.Thread(target=_execute, args=(committed_env, job.id))
    thread.start()
    wait_status(committed_db, job.id, "running")
    return thread


@when("the owner cancels the job")
def owner_cancels(committed_env, owner, job, request):
    with committed_env.db.transaction() as session:
        service.cancel(session, committed_env, principal_for(owner), job.id)
    thread = request.getfixturevalue("attempt_thread") if "attempt_thread" in request.fixturenames else None
    if thread is not None:
        thread.join(15)


@when("the owner tries to cancel the job", target_fixture="answer")
def owner_tries(committed_env, owner, job):
    return _try_cancel(committed_env, owner, job.id)


@when("another owner tries to cancel the job", target_fixture="answer")
def stranger_tries(committed_env, job):
    return _try_cancel(committed_env, uuid.uuid4(), job.id)


@when("another owner opens the job's event stream", target_fixture="answer")
def stranger_streams(committed_env, job):
    """The stream's first step (`sse_response` replays the persisted events before it streams)."""
    try:
        with committed_env.db.transaction() as session:
            service.events(session, principal_for(uuid.uuid4()), job.id)
    except AppError as exc:
        return exc.envelope()
    raise AssertionError("the stream was opened")


def _try_cancel(env, owner, job_id):
    try:
        with env.db.transaction() as session:
            service.cancel(session, env, principal_for(owner), job_id)
    except AppError as exc:
        return exc.envelope()
    raise AssertionError("cancel was accepted")


@then(parsers.parse('the job is "{status}" after {attempts:d} attempt'))
@then(parsers.parse('the job is "{status}" after {attempts:d} attempts'))
def job_is(committed_db, job, status, attempts):
    current = read(committed_db, job.id)
    assert (current.status, current.attempts) == (status, attempts)


@then(parsers.parse("the job's result is {result}"))
def result_is(committed_db, job, result):
    assert read(committed_db, job.id).result == json.loads(result)


@then(parsers.parse('the job\'s error is "{code}" "{message}"'))
def error_is(committed_db, job, code, message):
    error = read(committed_db, job.id).error
    assert (error.code, error.message) == (code, message)


@then(parsers.parse('the job\'s events are "{types}"'))
def events_are(committed_db, job, types):
    assert event_types(committed_db, job.id) == types.split(", ")


@then(parsers.parse('the answer is "{code}" "{message}"'))
def answer_is(answer, code, message):
    assert (answer["error"]["code"], answer["error"]["message"]) == (code, message)
