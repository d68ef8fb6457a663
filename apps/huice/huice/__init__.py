"""huice composition app: the one place that builds everything.

At start-up (never at import) it builds the settings, the database (embedded PostgreSQL when no URL is
set), Redis (embedded redis-server when no URL is set), the queues and the job-kind registry; `create_app()`
registers every context's router under `/api`; the root Typer CLI `huice` mounts every context's sub-app;
`huice serve` supervises the API and the RQ workers.
"""

__version__ = "0.1.0"
