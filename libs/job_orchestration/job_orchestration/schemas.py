"""Published schemas of the job runtime: what get/list/cancel/stats/reap/live_workers return and events carry."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from job_orchestration.domain import EventType, JobStatus, Priority


class JobError(BaseModel):
    """The error envelope body kept on a failed (or retrying) job."""

    code: str
    message: str
    details: dict[str, Any] = {}


class JobRead(BaseModel):
    """One job as its owner sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    owner_id: uuid.UUID
    status: JobStatus
    priority: Priority = Field(description="The RQ queue: high, default or low.")
    progress: float = Field(description="0–100.")
    progress_message: str
    attempts: int
    max_attempts: int
    budget_s: int
    cancel_requested: bool
    payload: dict[str, Any]
    result: dict[str, Any] | None = Field(description="The JSON summary returned by the handler.")
    error: JobError | None
    parent_id: uuid.UUID | None
    idempotency_key: str | None
    submitted_at: datetime
    enqueued_at: datetime | None
    started_at: datetime | None = Field(description="When the first attempt started.")
    attempt_started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None
    retry_at: datetime | None = Field(description="When a retrying job becomes due again.")
    queue_wait_s: float | None = Field(description="started_at − submitted_at, in seconds.")


class JobEvent(BaseModel):
    """One persisted state change or progress update (also published on Redis channel `runs.{job_id}`)."""

    id: int
    job_id: uuid.UUID
    type: EventType
    status: JobStatus
    progress: float
    message: str
    attempt: int
    data: dict[str, Any]
    at: datetime


class QueueDepth(BaseModel):
    queue: str
    redis: int | None = Field(description="Jobs waiting in the RQ queue (None when Redis is unreachable).")
    waiting: int = Field(description="Queued in PostgreSQL but held back (owner limit or retry backoff).")
    enqueued: int = Field(description="Queued in PostgreSQL and handed to RQ.")


class LiveWorker(BaseModel):
    """An RQ worker whose heartbeat is recent enough to count as alive (`HUICE_JOBS_WORKER_ALIVE_S`)."""

    name: str
    queues: list[str]
    state: str
    last_heartbeat: datetime


class QueueStats(BaseModel):
    """Queue statistics for monitoring."""

    queues: list[QueueDepth]
    by_status: dict[str, int]
    running: int
    workers_alive: int | None
    window_s: int
    queue_wait_mean_s: float | None = None
    queue_wait_p50_s: float | None
    queue_wait_p95_s: float | None
    finished_in_window: int
    failed_in_window: int
    failure_rate: float | None = Field(description="failed / finished within the window.")


class ReapReport(BaseModel):
    """What one reaper pass did."""

    retried: list[uuid.UUID] = []
    failed: list[uuid.UUID] = []
    cancelled: list[uuid.UUID] = []
    reenqueued: list[uuid.UUID] = []
    dispatched: list[uuid.UUID] = []
    skipped: bool = Field(False, description="Another process was reaping; nothing done.")


class DiagSubmit(BaseModel):
    """A diagnostic job (operators): `diag.sleep`, `diag.fail` or `diag.progress`."""

    kind: str = Field(pattern=r"^diag\.(sleep|fail|progress)$")
    payload: dict[str, Any] = {}
    priority: Priority | None = None
    budget_s: int | None = Field(None, ge=1, le=86400)


class KindStats(BaseModel):
    """Figures of the jobs of one kind (monitoring): by status now, queue wait and run time over a window."""

    kind: str
    window_s: int
    by_status: dict[str, int]
    running: int
    queued: int
    started_in_window: int
    queue_wait_mean_s: float | None
    queue_wait_p50_s: float | None
    queue_wait_p95_s: float | None
    succeeded_in_window: int
    run_time_mean_s: float | None
    run_time_p50_s: float | None = Field(description="finished_at − started_at of the succeeded jobs.")
    run_time_p95_s: float | None
    finished_in_window: int
    failed_in_window: int
    failure_rate: float | None = Field(description="failed / finished within the window.")
    completion_rate: float | None = Field(description="succeeded / finished within the window.")


class JobCount(BaseModel):
    kind: str
    status: JobStatus
    count: int


class RunTimeHistogram(BaseModel):
    """Cumulative counts of the succeeded jobs of a kind by run time (seconds), for Prometheus."""

    kind: str
    bounds: list[float]
    cumulative: list[int]
    count: int
    sum_s: float


class LatestJob(BaseModel):
    """The newest job of a kind (e.g. the last scheduled data refresh) and how it ended."""

    id: uuid.UUID
    kind: str
    status: JobStatus
    submitted_at: datetime
    finished_at: datetime | None
    error: JobError | None
