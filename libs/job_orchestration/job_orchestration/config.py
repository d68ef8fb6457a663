"""Settings of the job runtime (`HUICE_JOBS_*`) and the bundle (`JobsEnv`) its services run with.

`JobSettings`: heartbeats, leases, reaper, retries, per-plan limits, the live-worker window.
`JobsEnv` = settings + the job-kind registry + the database and Redis the runtime works on; the
composition app builds it once (`build_env`) and keeps it in `container.extras["job_orchestration"]`;
faces reach it with `env_of(container)` and hand it to the services. Nothing is read at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from platform_core.settings import HuiceSettings

if TYPE_CHECKING:
    from redis import Redis

    from job_orchestration.registry import JobRegistry
    from platform_core.db import Database


class JobSettings(HuiceSettings):
    """Timing and fairness knobs. Production defaults detect a dead worker within about a minute."""

    model_config = SettingsConfigDict(
        env_prefix="HUICE_JOBS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    heartbeat_interval_s: float = Field(5.0, gt=0, description="How often a running attempt heartbeats.")
    lease_timeout_s: float = Field(30.0, gt=0, description="A lease without heartbeat this long is dead.")
    reap_interval_s: float = Field(10.0, gt=0, description="How often the reaper looks for dead or lost jobs.")
    dispatch_interval_s: float = Field(1.0, gt=0, description="How often waiting and retrying jobs are admitted.")
    enqueue_grace_s: float = Field(10.0, ge=0, description="Age before a queued job missing from Redis is re-enqueued.")
    cancel_grace_s: float = Field(
        10.0, ge=0, description="Time a running job gets to honour a cancel before it is killed."
    )
    retry_base_s: float = Field(5.0, ge=0, description="Backoff before the first retry (doubles each attempt).")
    retry_max_s: float = Field(300.0, ge=0, description="Longest backoff between retries.")
    default_budget_s: int = Field(
        3600, ge=1, description="Wall budget of a job attempt unless the kind says otherwise."
    )
    plan_limits: dict[str, int] = Field(
        default_factory=lambda: {"free": 2, "pro": 5},
        description='Concurrent jobs per owner by plan, e.g. {"free": 2, "pro": 5} (JSON).',
    )
    admin_limit: int = Field(10, ge=1, description="Concurrent jobs of an admin.")
    worker_alive_s: float = Field(
        90.0,
        gt=0,
        description="A worker heartbeat newer than this counts as alive (`/ready`, `huice doctor`, queue stats); "
        "keep it above the idle heartbeat period, HUICE_WORKER_HEARTBEAT_TTL − 15 s.",
    )
    stats_window_s: int = Field(3600, ge=60, description="Window of the queue-wait and failure-rate statistics.")

    def limit_for(self, plan: str) -> int:
        return self.plan_limits.get(plan, min(self.plan_limits.values(), default=1))


@dataclass
class JobsEnv:
    """What the job runtime's services need beyond the session: settings, the kinds, the database (the
    attempt runner and the maintenance loop open their own transactions) and Redis (RQ and progress
    events; `None` only where nothing may reach RQ)."""

    settings: JobSettings
    registry: JobRegistry
    db: Database
    redis: Redis | None
    redis_url: str


def build_env(settings: JobSettings, db: Database, redis: Redis | None, redis_url: str) -> JobsEnv:
    """Build the bundle once at start-up with the built-in diagnostic kinds registered (the composition
    app's `wire_job_orchestration` calls this; other contexts then register their kinds on `registry`)."""
    from job_orchestration.diag import register_diagnostics
    from job_orchestration.registry import JobRegistry

    registry = JobRegistry()
    register_diagnostics(registry)
    return JobsEnv(settings=settings, registry=registry, db=db, redis=redis, redis_url=redis_url)


def env_of(container: Any) -> JobsEnv:
    """The `JobsEnv` of a composition root (API, CLI, worker or test container)."""
    env = container.extras.get("job_orchestration")
    if not isinstance(env, JobsEnv):
        from platform_core.errors import InternalError

        raise InternalError("job_orchestration is not wired into this container")
    return env
