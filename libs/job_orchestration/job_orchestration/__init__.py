"""job_orchestration: a durable job runtime on RQ + PostgreSQL.

Owns the `job_orchestration` schema (jobs and their events), the job-kind registry, leases with attempt
tokens and heartbeats, retries with exponential backoff, per-job wall budgets, cancellation, per-owner
concurrency limits, the reaper, progress events (Redis channel `runs.{job_id}` + SSE), queue statistics
and the one definition of a live worker. PostgreSQL is the source of truth; RQ only delivers "run job X"
(RQ job id = job id, enqueued after commit) on the queues of `domain.QUEUE_NAMES`.

Publishes the use cases in `service` (submit, cancel, retry, get, get_many, list_jobs, events, dispatch,
reap, stats, live_workers), the schemas in `schemas`, and in `config` the `JobsEnv` they run with
(`build_env`, `env_of`). For job handlers: `registry.JobRegistry` / `JobContext` and the stop signals and
`DeterministicJobError` in `domain`; for routers of other contexts: `sse.sse_response`; for the worker
bootstrap: `rq_worker.ResilientWorker`, the RQ entry point `jobs.run`, `maintenance.MaintenanceLoop`.

Depends on platform_core and user_auth (principals). It never imports the contexts whose work it runs: the
composition app registers their job kinds on `env_of(container).registry`.
"""

# What other contexts may import of job_orchestration (checked by tests/spec/test_architecture.py and the
# import-linter contract "job_orchestration publishes only its surface" in pyproject.toml).
PUBLISHED_MODULES = ("service", "schemas", "config", "registry", "sse")
