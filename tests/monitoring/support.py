"""Hand-built state for the monitoring tests: rows written with each owner's repository, every timestamp
chosen, so the summary's figures are known exactly."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from backtest import repository as bt_repo
from job_orchestration import repository as jobs_repo
from platform_core.ids import new_id, utcnow
from strategy_management import repository as sm_repo

RUN_KIND = "backtest.run"


def strategy(session: Session, owner_id: uuid.UUID, *, name: str, template: str | None, versions: int = 1) -> uuid.UUID:
    """A strategy with `versions` versions; the first copied from `template` when given."""
    now = utcnow()
    row = sm_repo.StrategyRow(id=new_id(), owner_id=owner_id, name=name, version_count=versions, created_at=now)
    session.add(row)
    session.flush()
    for number in range(1, versions + 1):
        origin = {"origin": "template", "template": template} if template and number == 1 else {"origin": "saved"}
        session.add(
            sm_repo.VersionRow(
                id=new_id(),
                strategy_id=row.id,
                number=number,
                source=f"# version {number}\n",
                params_schema=[],
                meta={"message": "", **origin},
                content_hash=f"sha256:{uuid.uuid4().hex}",
                created_at=now,
            )
        )
    session.flush()
    return row.id


def backtest(session: Session, owner_id: uuid.UUID, strategy_id: uuid.UUID) -> uuid.UUID:
    row = bt_repo.BacktestRow(
        id=new_id(),
        owner_id=owner_id,
        strategy_id=strategy_id,
        version_id=new_id(),
        strategy_name="s",
        version_number=1,
        content_hash="sha256:x",
        universe=["600010.SH"],
        frequency="1d",
        start_date=date(2023, 1, 3),
        end_date=date(2023, 12, 29),
        adjust="qfq",
        data_source="sample",
        snapshot_id="snap_x",
        initial_cash=1_000_000.0,
        rules={},
        benchmark=None,
        params={},
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row.id


def job(
    session: Session,
    owner_id: uuid.UUID,
    *,
    status: str,
    submitted: datetime,
    wait_s: float | None = None,
    run_s: float | None = None,
    kind: str = RUN_KIND,
    queue: str = "default",
    enqueued: bool = True,
) -> uuid.UUID:
    """A job row in `status`: started `wait_s` after submission, finished `run_s` after its start."""
    started = submitted + timedelta(seconds=wait_s) if wait_s is not None else None
    finished = started + timedelta(seconds=run_s) if started is not None and run_s is not None else None
    row = jobs_repo.JobRow(
        id=new_id(),
        kind=kind,
        owner_id=owner_id,
        owner_plan="free",
        payload={},
        status=status,
        queue=queue,
        progress=100.0 if finished else 0.0,
        progress_message="",
        attempts=1 if started else 0,
        max_attempts=3,
        budget_s=900,
        submitted_at=submitted,
        enqueued_at=submitted if enqueued else None,
        started_at=started,
        attempt_started_at=started,
        heartbeat_at=started,
        finished_at=finished,
        error={"code": "INVALID_INPUT", "message": "bad", "details": {}} if status == "failed" else None,
    )
    session.add(row)
    session.flush()
    return row.id


def run(session: Session, owner_id: uuid.UUID, backtest_id: uuid.UUID, **job_args: Any) -> uuid.UUID:
    """A run of the backtest backed by a `backtest.run` job (see `job`); returns the run's id."""
    job_id = job(session, owner_id, **job_args)
    run_id = new_id()
    session.add(
        bt_repo.RunRow(
            id=run_id,
            owner_id=owner_id,
            backtest_id=backtest_id,
            job_id=job_id,
            params={},
            priority="default",
            budget_s=900,
            created_at=job_args["submitted"],
        )
    )
    session.flush()
    return run_id


def live_worker(redis: Any, name: str = "monitor-test-worker") -> Any:
    """A real RQ worker registration with a fresh heartbeat (no process behind it: it takes no job)."""
    from rq import Worker

    from job_orchestration.rq_worker import priority_queues

    worker = Worker(priority_queues(redis), connection=redis, name=f"{name}-{uuid.uuid4().hex[:6]}")
    worker.register_birth()
    worker.heartbeat()
    return worker


def optimisation(session: Session, owner_id: uuid.UUID, backtest_id: uuid.UUID, *, status: str) -> uuid.UUID:
    """A sweep row in `status` (no tasks: the summary counts the parent)."""
    row = bt_repo.OptimizationRow(
        id=new_id(), owner_id=owner_id, backtest_id=backtest_id, mode="grid", spec={}, status=status, total=4,
        metric="sharpe", direction="max", concurrency_limit=2, batch_size=4, priority="default",
        created_at=utcnow(),
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


def share(session: Session, owner_id: uuid.UUID, run_id: uuid.UUID, *, visits: int, revoked: bool = False) -> None:
    """A share link of a run that was visited `visits` times."""
    now = utcnow()
    session.add(
        bt_repo.ShareRow(
            id=new_id(),
            owner_id=owner_id,
            run_id=run_id,
            token_hash=new_id().hex * 2,
            include={},
            expires_at=now + timedelta(days=1),
            revoked_at=now if revoked else None,
            visits=visits,
            created_at=now,
        )
    )
    session.flush()
