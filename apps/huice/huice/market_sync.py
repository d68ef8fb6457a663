"""The port through which market_data submits, reads and cancels its `market_data.sync` jobs on the job
runtime (market_data and job_orchestration are independent contexts: only the composition app knows both).

Jobs submitted by an administrator through the API belong to that administrator; those of the operator on
the server host (`huice data sync`, no login) to `OPERATOR_OWNER` on the admin plan. Reads and cancels act
as an administrator (market data is not user-owned) and see only jobs of the sync kind.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.orm import Session

from job_orchestration import service as jobs
from job_orchestration.config import JobsEnv
from job_orchestration.schemas import JobRead
from market_data.schemas import SyncJobRead, SyncProgress, SyncResult
from market_data.service import SYNC_KIND
from platform_core.errors import NotFound
from user_auth.principal import Plan, Principal, Role

OPERATOR_OWNER = uuid.UUID("00000000-0000-0000-0000-0000000000da")
_OPERATOR = Principal(user_id=OPERATOR_OWNER, email="operator@huice.local", role=Role.ADMIN, plan=Plan.PRO, via="cli")


class JobRuntimeSyncJobs:
    """`market_data.config.SyncJobs` over job_orchestration's published service."""

    def __init__(self, env: JobsEnv) -> None:
        self.env = env

    def submit(self, session: Session, principal: Principal | None, payload: dict[str, Any]) -> SyncJobRead:
        owner: Principal | uuid.UUID = principal if principal is not None else OPERATOR_OWNER
        job = jobs.submit(
            session, self.env, owner, kind=SYNC_KIND, payload=payload, plan=None if principal else "admin"
        )
        return sync_read(job)

    def get(self, session: Session, job_id: uuid.UUID) -> SyncJobRead:
        return sync_read(_of_kind(jobs.get(session, _OPERATOR, job_id)))

    def cancel(self, session: Session, job_id: uuid.UUID) -> SyncJobRead:
        _of_kind(jobs.get(session, _OPERATOR, job_id))
        return sync_read(jobs.cancel(session, self.env, _OPERATOR, job_id))

    def live_workers(self) -> int:
        try:
            return len(jobs.live_workers(self.env))
        except Exception:  # Redis unreachable: unknown, say none
            return 0


def _of_kind(job: JobRead) -> JobRead:
    if job.kind != SYNC_KIND:
        raise NotFound(f"sync job {job.id} not found", details={"job_id": str(job.id)})
    return job


def sync_read(job: JobRead) -> SyncJobRead:
    """A job of the sync kind as market_data shows it (its progress message parsed back)."""
    try:
        progress = SyncProgress.model_validate(json.loads(job.progress_message)) if job.progress_message else None
    except ValueError:
        progress = None
    succeeded = job.status == "succeeded" and job.result is not None
    return SyncJobRead(
        job_id=job.id,
        status=str(job.status),
        progress=job.progress,
        sync=progress,
        result=SyncResult.model_validate(job.result) if succeeded else None,
        error=job.error.model_dump() if job.error is not None else None,
        attempts=job.attempts,
        cancel_requested=job.cancel_requested,
    )
