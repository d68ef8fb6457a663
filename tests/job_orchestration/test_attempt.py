"""Leases and fencing, outcomes and retries of one attempt (in-process, no worker processes)."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest

from job_orchestration import service
from job_orchestration.attempt import Attempt, Lease, beat, conclude, database_unavailable, execute, start
from job_orchestration.domain import JobCancelled, JobStatus, LeaseLost
from platform_core.ids import utcnow
from tests.job_orchestration.factories import THREE_STEPS_EVENTS, event_types, read, submit
from user_auth.principal import Principal


def _start(env, job_id):
    return start(env, job_id, worker_name="test-worker", pid=1)


def test_an_attempt_takes_the_lease_once(db, env, make_user):
    job = submit(env, make_user())
    lease = _start(env, job.id)
    assert lease is not None and lease.attempt == 1
    assert _start(env, job.id) is None  # a duplicate delivery finds the job running: no second attempt
    current = read(db, job.id)
    assert (current.status, current.attempts) == (JobStatus.RUNNING, 1)
    assert current.started_at == current.attempt_started_at == current.heartbeat_at
    assert current.queue_wait_s is not None and current.queue_wait_s >= 0


def test_a_stale_token_cannot_write_progress_or_finish(db, env, make_user):
    job = submit(env, make_user())
    lease = _start(env, job.id)
    stale = Attempt(env, Lease(**{**lease.__dict__, "token": "stale"}))
    with pytest.raises(LeaseLost):
        stale.progress(50, "late")
    with pytest.raises(LeaseLost), stale.transaction():
        pass
    assert conclude(stale, JobStatus.SUCCEEDED, result={"x": 1}) is False
    assert beat(db, stale.lease) is None
    current = read(db, job.id)
    assert (current.status, current.progress, current.result) == (JobStatus.RUNNING, 0.0, None)
    holder = Attempt(env, lease)
    holder.progress(40, "halfway")
    with holder.transaction() as session:
        assert session is not None
    assert conclude(holder, JobStatus.SUCCEEDED, result={"x": 1}) is True
    done = read(db, job.id)
    assert (done.status, done.progress, done.result) == (JobStatus.SUCCEEDED, 100.0, {"x": 1})
    assert event_types(db, job.id) == ["submitted", "enqueued", "started", "progress", "succeeded"]


def test_cancel_of_a_running_job_is_honoured_at_the_next_progress_point(db, env, make_user):
    owner = make_user()
    job = submit(env, owner)
    attempt = Attempt(env, _start(env, job.id))
    with db.transaction() as session:
        requested = service.cancel(session, env, owner, job.id)
    with db.transaction() as session:
        again = service.cancel(session, env, owner, job.id)
    assert (requested.status, requested.cancel_requested) == (JobStatus.RUNNING, True)
    assert again == requested
    assert attempt.is_cancel_requested() is True
    with pytest.raises(JobCancelled):
        attempt.progress(10)
    assert conclude(attempt, JobStatus.CANCELLED) is True
    assert read(db, job.id).status == JobStatus.CANCELLED
    assert event_types(db, job.id)[-2:] == ["cancel_requested", "cancelled"]


def test_transient_failure_is_retried_with_backoff_and_user_error_is_not(db, env, make_user):
    owner = make_user()
    transient, user = submit(env, owner), submit(env, owner)
    attempt = Attempt(env, _start(env, transient.id))
    error = {"code": "INTERNAL_ERROR", "message": "boom", "details": {}}
    assert conclude(attempt, JobStatus.FAILED, error=error, deterministic=False)
    retrying = read(db, transient.id)
    assert (retrying.status, retrying.attempts, retrying.enqueued_at) == (JobStatus.QUEUED, 1, None)
    assert retrying.error.message == "boom"
    assert retrying.retry_at is not None and retrying.retry_at > utcnow() - timedelta(seconds=1)
    attempt = Attempt(env, _start(env, user.id))
    assert conclude(attempt, JobStatus.FAILED, error={"code": "INVALID_INPUT", "message": "bad"})
    failed = read(db, user.id)
    assert (failed.status, failed.attempts, failed.error.code) == (JobStatus.FAILED, 1, "INVALID_INPUT")
    with db.transaction() as session:
        admitted = service.dispatch(session, env, utcnow() + timedelta(seconds=5))
    assert admitted == [transient.id]


def test_retries_stop_at_max_attempts(db, env, make_user):
    job = submit(env, make_user(), kind="diag.fail")
    for attempt_no in (1, 2, 3):
        with db.transaction() as session:
            service.dispatch(session, env, utcnow() + timedelta(seconds=10))
        attempt = Attempt(env, _start(env, job.id))
        assert attempt.attempt == attempt_no
        conclude(attempt, JobStatus.FAILED, error={"code": "INTERNAL_ERROR", "message": "x"}, deterministic=False)
    final = read(db, job.id)
    assert (final.status, final.attempts) == (JobStatus.FAILED, 3)
    with pytest.raises(Exception) as exc, db.transaction() as session:
        service.cancel(session, env, make_user(role="admin"), job.id)
    assert exc.value.envelope()["error"]["code"] == "CONFLICT"


# ---- whole attempts with the keeper thread (committed database) -------------------------------------------


def _execute(env, job_id):
    return execute(env, job_id, worker_name="in-process", pid=0, kill=lambda: None)


def test_execute_success_transient_and_user_error(committed_db, committed_env):
    owner = uuid.uuid4()
    ok = submit(committed_env, owner, "diag.progress", {"steps": 3, "delay": 0})
    assert _execute(committed_env, ok.id) == JobStatus.SUCCEEDED
    done = read(committed_db, ok.id)
    assert (done.status, done.result, done.progress) == (JobStatus.SUCCEEDED, {"steps": 3, "attempt": 1}, 100.0)
    assert event_types(committed_db, ok.id) == THREE_STEPS_EVENTS

    flaky = submit(committed_env, owner, "diag.fail", {"fail_attempts": 1})
    assert _execute(committed_env, flaky.id) == JobStatus.FAILED
    queued = read(committed_db, flaky.id)
    assert (queued.status, queued.attempts, queued.error.code) == (JobStatus.QUEUED, 1, "INTERNAL_ERROR")
    assert queued.error.message == "DiagnosticFailure: diagnostic transient failure on attempt 1"
    with committed_db.transaction() as session:
        service.dispatch(session, committed_env, utcnow() + timedelta(seconds=5))
    assert _execute(committed_env, flaky.id) == JobStatus.SUCCEEDED
    assert read(committed_db, flaky.id).result == {"attempt": 2}

    user = submit(committed_env, owner, "diag.fail", {"mode": "user"})
    assert _execute(committed_env, user.id) == JobStatus.FAILED
    failed = read(committed_db, user.id)
    assert (failed.status, failed.attempts) == (JobStatus.FAILED, 1)
    assert failed.error.model_dump() == {
        "code": "INVALID_INPUT",
        "message": "diagnostic user error",
        "details": {"attempt": 1},
    }


def test_execute_over_budget_fails_with_a_clear_reason(committed_db, committed_env):
    job = submit(committed_env, uuid.uuid4(), "diag.sleep", {"seconds": 5}, budget_s=1)
    assert _execute(committed_env, job.id) == JobStatus.FAILED
    failed = read(committed_db, job.id)
    assert (failed.status, failed.attempts) == (JobStatus.FAILED, 1)
    assert failed.error.model_dump() == {
        "code": "INTERNAL_ERROR",
        "message": "job exceeded its wall budget of 1 s",
        "details": {"reason": "budget_exceeded", "budget_s": 1},
    }


def test_execute_cancelled_while_running(committed_db, committed_env):
    owner = uuid.uuid4()
    job = submit(committed_env, owner, "diag.sleep", {"seconds": 20})
    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(_execute(committed_env, job.id)))
    thread.start()
    from tests.job_orchestration.factories import wait_status

    wait_status(committed_db, job.id, "running")
    from tests.job_orchestration.cluster import principal_for

    with committed_db.transaction() as session:
        assert service.cancel(session, committed_env, principal_for(owner), job.id).cancel_requested is True
    thread.join(10)
    assert outcome == [JobStatus.CANCELLED]
    assert read(committed_db, job.id).status == JobStatus.CANCELLED


def test_only_connection_failures_count_as_the_database_being_unavailable() -> None:
    from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError, ProgrammingError

    down = OperationalError("SELECT 1", {}, Exception("connection refused"))
    assert database_unavailable(down)
    assert database_unavailable(InterfaceError("SELECT 1", {}, Exception("connection already closed")))
    dropped = DBAPIError("SELECT 1", {}, Exception("server closed the connection"), connection_invalidated=True)
    assert database_unavailable(dropped)
    assert not database_unavailable(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not database_unavailable(ProgrammingError("SELECT", {}, Exception("syntax error")))
    assert not database_unavailable(ValueError("no"))


def test_on_ended_hook_runs_when_a_job_ends_without_success_and_cannot_undo_its_end(committed_db, committed_env):
    calls: list[tuple[uuid.UUID, dict, str]] = []

    def hook(session, job_id, owner_id, payload, status):
        calls.append((job_id, payload, status))
        if payload.get("explode"):
            raise RuntimeError("the hook broke")

    def broken(ctx):
        raise RuntimeError("the handler broke")

    committed_env.registry.register("diag.hooked_fail", broken, max_attempts=1, on_ended=hook)
    committed_env.registry.register("diag.hooked_ok", lambda ctx: {"ok": True}, on_ended=hook)
    owner = uuid.uuid4()
    failed = submit(committed_env, owner, "diag.hooked_fail", {"n": 1})
    assert _execute(committed_env, failed.id) == JobStatus.FAILED
    assert read(committed_db, failed.id).status == JobStatus.FAILED  # failed for good: one attempt allowed
    ok = submit(committed_env, owner, "diag.hooked_ok", {"n": 2})
    assert _execute(committed_env, ok.id) == JobStatus.SUCCEEDED
    exploding = submit(committed_env, owner, "diag.hooked_fail", {"explode": True})
    caller = Principal(user_id=owner, email="hook@example.com", role="user", plan="free", via="test")
    with committed_db.transaction() as session:
        service.cancel(session, committed_env, caller, exploding.id)
    assert read(committed_db, exploding.id).status == JobStatus.CANCELLED  # the hook's error is only logged
    assert calls == [(failed.id, {"n": 1}, "failed"), (exploding.id, {"explode": True}, "cancelled")]


def test_a_job_s_submissions_are_delivered_once_it_has_concluded(committed_db, committed_env, monkeypatch):
    """A job that submits jobs (a sweep's batch queueing the next batches) hands them to RQ only after its
    own outcome is recorded: with a concurrency limit of 1 the next batch cannot start before this one
    ended. Outside an attempt a submission is delivered at its commit, as before."""
    from job_orchestration import transitions

    delivered: list[tuple[str, str]] = []
    deliver = transitions.enqueue_now

    def recording(redis, job_id, queue, timeout):
        submitter = parent[0] if parent else None
        status = read(committed_db, submitter).status if submitter is not None else None
        delivered.append((job_id, status))
        deliver(redis, job_id, queue, timeout)

    monkeypatch.setattr(transitions, "enqueue_now", recording)
    owner, parent, children = uuid.uuid4(), [], []

    def submitting(ctx):
        children.append(submit(committed_env, owner, "diag.sleep", {"seconds": 0}).id)
        assert delivered[-1][0] != str(children[-1])  # committed, not delivered yet
        return {"submitted": 1}

    committed_env.registry.register("diag.submitting", submitting, max_attempts=1)
    job = submit(committed_env, owner, "diag.submitting", {})
    assert delivered[-1] == (str(job.id), None)  # outside an attempt: at its commit
    parent.append(job.id)
    assert _execute(committed_env, job.id) == JobStatus.SUCCEEDED
    assert delivered[-1] == (str(children[0]), JobStatus.SUCCEEDED)


def _statements_of(db, call, autocommit: list | None = None) -> list[str]:
    from sqlalchemy import event

    seen: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        seen.append(" ".join(statement.split()))
        if autocommit is not None:
            autocommit.append(conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT")

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return seen


def test_progress_and_heartbeats_are_one_write_each_committed_without_waiting_for_the_flush(
    committed_db, committed_env
):
    """Taking the lease and each progress point are one statement each (the job's UPDATE under the lease
    and its event's INSERT, no locking read first); progress, like a heartbeat, sets its own transaction's
    commit asynchronous in that statement; the lease, results and outcome stay synchronous commits."""
    db, env = committed_db, committed_env
    job = submit(env, uuid.uuid4())
    taken: list = []
    lease = _statements_of(db, lambda: taken.append(_start(env, job.id)))
    assert len(lease) == 1 and lease[0].startswith("WITH "), lease
    assert "UPDATE job_orchestration.jobs" in lease[0] and "INSERT INTO job_orchestration.job_events" in lease[0]
    assert "synchronous_commit" not in lease[0]
    attempt = Attempt(env, taken[0])
    alone: list[bool] = []
    progress = _statements_of(db, lambda: attempt.progress(30, "loading"), alone)
    assert len(progress) == 1 and progress[0].startswith("WITH "), progress
    assert alone == [True]  # its own transaction: no BEGIN nor COMMIT round trip
    assert "UPDATE job_orchestration.jobs" in progress[0] and "INSERT INTO job_orchestration.job_events" in progress[0]
    assert "set_config('synchronous_commit', 'off', true)" in progress[0] and "FOR UPDATE" not in progress[0]
    alone.clear()
    heartbeat = _statements_of(db, lambda: beat(db, attempt.lease), alone)
    assert len(heartbeat) == 1 and "set_config('synchronous_commit', 'off', true)" in heartbeat[0], heartbeat
    assert alone == [True]
    outcome = _statements_of(db, lambda: conclude(attempt, JobStatus.SUCCEEDED, result={}))
    assert not any("synchronous_commit" in s for s in outcome)
    assert len(outcome) == 2 and outcome[0].startswith("WITH ") and "pg_advisory_xact_lock" in outcome[0], outcome
    assert "INSERT INTO job_orchestration.job_events" in outcome[0]  # then the owner's waiting jobs, under the lock
    with db.transaction() as session:  # the setting ends with its transaction
        from sqlalchemy import text

        assert session.execute(text("SHOW synchronous_commit")).scalar() == "on"
    current = read(db, job.id)
    assert (current.status, current.progress_message) == (JobStatus.SUCCEEDED, "loading")
    assert event_types(db, job.id) == ["submitted", "enqueued", "started", "progress", "succeeded"]


def test_progress_sets_its_commit_asynchronous_for_its_own_transaction(db, env, make_user):
    """The setting is local to the progress point's transaction (here the test's savepoint inside it)."""
    from sqlalchemy import text

    from job_orchestration.attempt import _progress_row

    job = submit(env, make_user())
    lease = _start(env, job.id)
    with db.transaction() as session:
        assert session.execute(text("SHOW synchronous_commit")).scalar() == "on"
        assert _progress_row(session, job.id, lease.token, 10.0, "x", utcnow()) is not None
        assert session.execute(text("SHOW synchronous_commit")).scalar() == "off"


def test_the_events_published_are_the_event_rows(committed_db, committed_env):
    """What a subscriber of `runs.{job_id}` receives for the lease taken, progress points and the outcome is
    each event row as stored, in order."""
    from job_orchestration import repository as repo
    from job_orchestration import transitions
    from job_orchestration.schemas import JobEvent

    db, env = committed_db, committed_env
    job = submit(env, uuid.uuid4())
    pubsub = env.redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(transitions.channel(job.id))
    try:
        attempt = Attempt(env, start(env, job.id, worker_name="w" * 250, pid=7))
        attempt.progress(12.5, "first")
        attempt.progress(140, "m" * 600)
        assert conclude(attempt, JobStatus.SUCCEEDED, result={"x": 1}) is True
        published: list[JobEvent] = []
        deadline = time.monotonic() + 10
        while len(published) < 4 and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=1.0)  # None too for the subscription's confirmation
            if message is not None:
                published.append(JobEvent.model_validate_json(message["data"]))
    finally:
        pubsub.close()
    with db.transaction() as session:
        stored = [transitions.event_read(e) for e in repo.events_after(session, job.id, None)]
    assert published == stored[2:]
    assert [(e.type, e.progress, e.message, e.attempt, e.data) for e in published[:3]] == [
        ("started", 0.0, "attempt 1 started", 1, {"worker": "w" * 250}),
        ("progress", 12.5, "first", 1, {}),
        ("progress", 100.0, "m" * 500, 1, {}),
    ]
    current = read(db, job.id)
    assert current.attempts == 1 and current.started_at == current.attempt_started_at


def test_a_success_stores_what_finishing_the_job_row_did(db, env, make_user):
    """The success's one statement writes the values `transitions.finish` wrote through the ORM row: a result
    of None stays SQL NULL, and an earlier attempt's error becomes JSON null (no error)."""
    from sqlalchemy import text

    owner = make_user()
    plain, retried = submit(env, owner), submit(env, owner)
    first = Attempt(env, _start(env, plain.id))
    assert conclude(first, JobStatus.SUCCEEDED, result=None) is True
    failing = Attempt(env, _start(env, retried.id))
    assert conclude(failing, JobStatus.FAILED, error={"code": "X", "message": "flaky"}, deterministic=False)
    with db.transaction() as session:
        session.execute(text("UPDATE job_orchestration.jobs SET not_before = NULL, enqueued_at = now() WHERE id = :id"),
                        {"id": retried.id})  # fmt: skip
    second = Attempt(env, _start(env, retried.id))
    assert conclude(second, JobStatus.SUCCEEDED, result={"n": 2}) is True
    stored = (
        "SELECT status, progress, result::text, error::text, lease_token FROM job_orchestration.jobs WHERE id = :id"
    )
    with db.transaction() as session:
        assert tuple(session.execute(text(stored), {"id": plain.id}).one()) == ("succeeded", 100.0, None, None, None)
        assert tuple(session.execute(text(stored), {"id": retried.id}).one()) == (
            "succeeded", 100.0, '{"n": 2}', "null", None
        )  # fmt: skip
    assert read(db, retried.id).error is None
    assert event_types(db, retried.id)[-2:] == ["started", "succeeded"]
