"""job_orchestration: a durable job runtime on RQ + PostgreSQL.

Owns the `job_orchestration` schema (jobs and their events), the job-kind registry, leases with attempt
tokens and heartbeats, retries with exponential backoff, per-job wall budgets, cancellation, per-owner
concurrency limits, the reaper, progress events (Redis channel `runs.{job_id}` + SSE) and queue statistics.
PostgreSQL is the source of truth; RQ only delivers "run job X" (RQ job id = job id, enqueued after commit).

Publishes: `registry.JobRegistry` / `JobContext` (handlers), the service functions in `service`
(submit, cancel, retry, get, list_jobs, events, stats, reap), `sse.sse_response`, the schemas in `schemas`
and the errors in `domain` (`DeterministicJobError`, `JobCancelled`, `LeaseLost`).
Depends on platform_core and user_auth (principals). It never imports the contexts whose work it runs: the
composition app registers their job kinds.
"""
