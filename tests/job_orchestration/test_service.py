"""Service functions on a rolled-back database: submit, limits, tenancy, cancel, retry, events."""

from __future__ import annotations

import uuid

import pytest
from rq.job import Job

from job_orchestration import service
from job_orchestration.domain import EventType, JobStatus
from platform_core.errors import AppError
from platform_core.pagination import PageParams
from tests.job_orchestration.conftest import fast_env


def _envelope(exc: AppError) -> dict:
    return exc.envelope()


def test_submit_records_the_job_and_hands_it_to_rq_after_commit(db, env, redis, make_user):
    owner = make_user()
    with db.transaction() as session:
        job = service.submit(session, env, owner, kind="diag.sleep", payload={"seconds": 1}, priority="high")
        assert not Job.exists(str(job.id), connection=redis)
    assert job.status == JobStatus.QUEUED
    assert job.owner_id == owner.user_id
    assert (job.priority, job.attempts, job.max_attempts, job.progress) == ("high", 0, 3, 0.0)
    assert job.payload == {"seconds": 1}
    assert job.enqueued_at is not None and job.started_at is None and job.error is None
    assert Job.exists(str(job.id), connection=redis)
    assert redis.lrange("rq:queue:high", 0, -1) == [str(job.id).encode()]
    with db.transaction() as session:
        assert [e.type for e in service.events(session, owner, job.id)] == [EventType.SUBMITTED, EventType.ENQUEUED]


def test_a_rolled_back_submission_never_reaches_rq(db, env, redis, make_user):
    owner = make_user()
    with pytest.raises(RuntimeError), db.transaction() as session:
        job = service.submit(session, env, owner, kind="diag.sleep", payload={})
        raise RuntimeError("caller failed after submit")
    assert not Job.exists(str(job.id), connection=redis)
    assert redis.llen("rq:queue:default") == 0


def test_unknown_kind_and_bad_priority_are_invalid_input(session, env, make_user):
    owner = make_user()
    with pytest.raises(AppError) as exc:
        service.submit(session, env, owner, kind="nope.kind", payload={})
    assert _envelope(exc.value) == {
        "error": {
            "code": "INVALID_INPUT",
            "message": "unknown job kind 'nope.kind'",
            "details": {"field": "kind", "known": env.registry.kinds()},
        }
    }
    assert {"diag.fail", "diag.progress", "diag.sleep"} <= set(env.registry.kinds())
    with pytest.raises(AppError) as exc:
        service.submit(session, env, owner, kind="diag.sleep", payload={}, priority="urgent")
    assert _envelope(exc.value)["error"] == {
        "code": "INVALID_INPUT",
        "message": "priority must be high, default or low",
        "details": {"field": "priority"},
    }


def test_idempotency_key_returns_the_same_job(session, env, make_user):
    owner = make_user()
    first = service.submit(session, env, owner, kind="diag.sleep", payload={}, idempotency_key="k1")
    again = service.submit(session, env, owner, kind="diag.sleep", payload={"ignored": 1}, idempotency_key="k1")
    assert again.id == first.id
    with pytest.raises(AppError) as exc:
        service.submit(session, env, owner, kind="diag.fail", payload={}, idempotency_key="k1")
    assert exc.value.code == "CONFLICT"
    assert exc.value.details == {"job_id": str(first.id), "kind": "diag.sleep"}


def test_per_owner_limit_holds_jobs_back_and_admits_them_when_a_slot_frees(db, env, redis, make_user):
    owner, other = make_user(plan="free"), make_user(plan="free")
    jobs = [_submit(env, owner) for _ in range(3)]
    assert [j.enqueued_at is not None for j in jobs] == [True, True, False]
    assert redis.llen("rq:queue:default") == 2
    theirs = _submit(env, other)
    assert theirs.enqueued_at is not None  # another owner is not held back by the first one's batch
    with db.transaction() as session:
        service.cancel(session, env, owner, jobs[0].id)
    with db.transaction() as session:
        assert service.get(session, owner, jobs[2].id).enqueued_at is not None
        assert [e.type for e in service.events(session, owner, jobs[2].id)] == ["submitted", "enqueued"]


def test_pro_plan_gets_the_pro_limit(db, env, make_user):
    owner = make_user(plan="pro")
    jobs = [_submit(env, owner) for _ in range(5)]
    assert [j.enqueued_at is not None for j in jobs] == [True, True, True, True, False]


def _submit(env, owner, **kw):
    with env.db.transaction() as session:
        return service.submit(session, env, owner, kind="diag.sleep", payload={}, **kw)


def test_owners_see_only_their_jobs_and_admins_see_all(session, env, make_user):
    owner, stranger, admin = make_user(), make_user(), make_user(role="admin")
    job = service.submit(session, env, owner, kind="diag.sleep", payload={})
    with pytest.raises(AppError) as exc:
        service.get(session, stranger, job.id)
    assert exc.value.envelope() == {
        "error": {"code": "NOT_FOUND", "message": "job not found", "details": {"job_id": str(job.id)}}
    }
    with pytest.raises(AppError):
        service.cancel(session, env, stranger, job.id)
    assert service.get(session, admin, job.id).id == job.id
    assert service.list_jobs(session, stranger).total == 0
    mine = service.list_jobs(session, owner, status="queued", kind="diag.sleep", page=PageParams(limit=10))
    assert [j.id for j in mine.items] == [job.id]
    assert job.id in {j.id for j in service.list_jobs(session, admin, page=PageParams(limit=200)).items}


def test_cancel_queued_is_immediate_and_idempotent_and_finished_is_conflict(session, env, make_user):
    owner = make_user()
    job = service.submit(session, env, owner, kind="diag.sleep", payload={})
    first = service.cancel(session, env, owner, job.id)
    again = service.cancel(session, env, owner, job.id)
    assert first.status == again.status == JobStatus.CANCELLED
    assert first.finished_at == again.finished_at is not None
    assert [e.type for e in service.events(session, owner, job.id)] == ["submitted", "enqueued", "cancelled"]
    retried = service.retry(session, env, owner, job.id)
    assert (retried.status, retried.attempts, retried.finished_at) == (JobStatus.QUEUED, 0, None)
    with pytest.raises(AppError) as exc:
        service.retry(session, env, owner, job.id)
    assert exc.value.envelope()["error"] == {
        "code": "CONFLICT",
        "message": "only failed or cancelled jobs can be retried; this one is queued",
        "details": {"job_id": str(job.id), "status": "queued"},
    }


def test_events_after_an_id_resume_in_order(session, env, make_user):
    owner = make_user()
    job = service.submit(session, env, owner, kind="diag.sleep", payload={})
    service.cancel(session, env, owner, job.id)
    everything = service.events(session, owner, job.id)
    assert [e.id for e in everything] == sorted(e.id for e in everything)
    rest = service.events(session, owner, job.id, after_id=everything[0].id)
    assert [e.type for e in rest] == ["enqueued", "cancelled"]


def test_owner_id_without_principal_uses_the_given_plan(session, env):
    owner_id = uuid.uuid4()
    job = service.submit(session, env, owner_id, kind="diag.progress", payload={"steps": 2}, plan="pro", budget_s=5)
    assert (job.owner_id, job.budget_s, job.priority) == (owner_id, 5, "default")


def test_a_kind_without_a_budget_gets_the_runtime_default(container, make_user):
    env = fast_env(container, default_budget_s=77)
    with env.db.transaction() as session:
        job = service.submit(session, env, make_user(), kind="diag.sleep", payload={})
    assert job.budget_s == 77


def test_get_many_returns_only_the_callers_jobs_in_one_call(session, env, make_user):
    owner, other, admin = make_user(), make_user(), make_user(role="admin")
    mine = [service.submit(session, env, owner, kind="diag.sleep", payload={"seconds": 1}).id for _ in range(2)]
    theirs = service.submit(session, env, other, kind="diag.sleep", payload={"seconds": 1}).id
    found = service.get_many(session, owner, [*mine, theirs, uuid.uuid4()])
    assert set(found) == set(mine)
    assert all(found[job_id].owner_id == owner.user_id for job_id in mine)
    assert set(service.get_many(session, admin, [*mine, theirs])) == {*mine, theirs}
    assert service.get_many(session, owner, []) == {}
