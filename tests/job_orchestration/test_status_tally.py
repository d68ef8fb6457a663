"""The jobs-by-status tally (job_orchestration_0003): its sums equal a count of the jobs after inserts,
status changes, deletes, a rolled-back change, a fold and a TRUNCATE — on the real PostgreSQL triggers."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select, text, update

from job_orchestration import repository as repo
from job_orchestration import service
from job_orchestration.repository import JobRow, JobStatusTallyRow
from platform_core.ids import new_id, utcnow


def _job(session, kind: str, status: str) -> uuid.UUID:
    now = utcnow()
    row = JobRow(
        id=new_id(),
        kind=kind,
        owner_id=uuid.uuid4(),
        owner_plan="free",
        payload={},
        status=status,
        queue="default",
        progress=0.0,
        progress_message="",
        attempts=0,
        max_attempts=3,
        budget_s=60,
        submitted_at=now,
    )
    session.add(row)
    session.flush()
    return row.id


def _counted(session) -> dict[tuple[str, str], int]:
    rows = session.execute(select(JobRow.kind, JobRow.status, func.count()).group_by(JobRow.kind, JobRow.status))
    return {(k, s): n for k, s, n in rows}


def test_the_tally_follows_inserts_status_changes_and_deletes(session) -> None:
    before = repo.kind_status_counts(session)
    assert before == _counted(session)
    a = _job(session, "tally.a", "queued")
    b = _job(session, "tally.a", "queued")
    _job(session, "tally.b", "running")
    session.execute(update(JobRow).where(JobRow.id == a).values(status="running"))
    session.execute(update(JobRow).where(JobRow.id == a).values(status="succeeded"))
    session.execute(update(JobRow).where(JobRow.id == b).values(progress=50.0))  # not a status change
    session.execute(delete(JobRow).where(JobRow.id == b))
    counts = repo.kind_status_counts(session)
    assert counts == _counted(session)
    assert {k: n for k, n in counts.items() if k[0].startswith("tally.")} == {
        ("tally.a", "succeeded"): 1,
        ("tally.b", "running"): 1,
    }
    assert repo.kind_status_counts(session, "tally.a") == {("tally.a", "succeeded"): 1}
    assert repo.status_counts(session) == {
        s: sum(n for (_, s2), n in counts.items() if s2 == s) for s in {s for _, s in counts}
    }


def test_a_fold_keeps_the_sums_in_one_row_per_kind_and_status(session) -> None:
    for status in ("queued", "queued", "failed"):
        _job(session, "tally.c", status)
    expected = repo.kind_status_counts(session)
    folded = service.compact_counts(session)
    assert folded >= 3
    assert repo.kind_status_counts(session) == expected == _counted(session)
    rows = session.execute(select(JobStatusTallyRow.kind, JobStatusTallyRow.status)).all()
    assert len(rows) == len(set(rows)) == len(expected)  # one row per (kind, status), no zero rows
    assert service.compact_counts(session) == len(expected)  # folding again changes nothing


def test_a_rolled_back_change_leaves_no_delta(db) -> None:
    with db.transaction() as session:
        before = repo.kind_status_counts(session)
    try:
        with db.transaction() as session:
            _job(session, "tally.d", "queued")
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    with db.transaction() as session:
        assert repo.kind_status_counts(session) == before


def test_truncating_the_jobs_empties_the_tally(session) -> None:
    _job(session, "tally.e", "queued")
    session.execute(text("TRUNCATE job_orchestration.jobs CASCADE"))
    assert repo.kind_status_counts(session) == {} == _counted(session)
