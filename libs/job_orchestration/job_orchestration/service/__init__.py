"""The use cases of the job runtime — the functions other contexts and the faces (API, CLI) call.

Every function that reads or writes jobs takes the caller's session (it flushes, never commits; RQ
receives a job only after the transaction commits). Those that need settings, the kinds or Redis take the
context's `JobsEnv` (`job_orchestration.config.env_of(container)`) right after the session. Owners see
only their own jobs (another owner's job is NOT_FOUND); admins see every job.
"""

from job_orchestration.service.control import cancel, retry
from job_orchestration.service.monitoring import (
    job_counts,
    kind_stats,
    latest_job,
    live_workers,
    purge_events,
    run_time_histogram,
    stats,
)
from job_orchestration.service.queries import events, get, get_many, get_with, list_jobs, with_job
from job_orchestration.service.reaper import compact_counts, dispatch, reap
from job_orchestration.service.submission import submit

__all__ = [
    "cancel",
    "compact_counts",
    "dispatch",
    "events",
    "get",
    "get_many",
    "get_with",
    "job_counts",
    "kind_stats",
    "latest_job",
    "list_jobs",
    "live_workers",
    "purge_events",
    "reap",
    "retry",
    "run_time_histogram",
    "stats",
    "submit",
    "with_job",
]
