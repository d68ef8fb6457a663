"""job_orchestration: the jobs-by-status tally kept by triggers (the monitoring summary's counts without a
scan of every job), and a partial index of the queued jobs (queue depth per queue)

`job_status_tally` holds signed deltas per (kind, status): a trigger adds +1 for a new job or the status it
enters, -1 for a deleted job or the status it leaves, in the same transaction (a rolled-back change leaves
no delta); TRUNCATE of the jobs empties it. The reaper folds the deltas into one row per (kind, status)
(`compact_status_tally`). Rows are only inserted, never updated, so concurrent transitions never wait on
a counter row.

Revision ID: job_orchestration_0003
Revises: job_orchestration_0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "job_orchestration_0003"
down_revision: str | Sequence[str] | None = "job_orchestration_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "job_orchestration"

TALLY_FUNCTION = f"""
CREATE FUNCTION {SCHEMA}.tally_job_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO {SCHEMA}.job_status_tally (kind, status, delta) VALUES (OLD.kind, OLD.status, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO {SCHEMA}.job_status_tally (kind, status, delta) VALUES (NEW.kind, NEW.status, 1);
    END IF;
    RETURN NULL;
END
$$
"""

CLEAR_FUNCTION = f"""
CREATE FUNCTION {SCHEMA}.clear_job_status_tally() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {SCHEMA}.job_status_tally;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "job_status_tally",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema=SCHEMA,
    )
    op.execute(TALLY_FUNCTION)
    op.execute(CLEAR_FUNCTION)
    op.execute(
        f"CREATE TRIGGER jobs_tally_insert_delete AFTER INSERT OR DELETE ON {SCHEMA}.jobs "
        f"FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.tally_job_status()"
    )
    op.execute(
        f"CREATE TRIGGER jobs_tally_update AFTER UPDATE OF kind, status ON {SCHEMA}.jobs FOR EACH ROW "
        "WHEN (OLD.kind IS DISTINCT FROM NEW.kind OR OLD.status IS DISTINCT FROM NEW.status) "
        f"EXECUTE FUNCTION {SCHEMA}.tally_job_status()"
    )
    op.execute(
        f"CREATE TRIGGER jobs_tally_truncate AFTER TRUNCATE ON {SCHEMA}.jobs "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.clear_job_status_tally()"
    )
    op.execute(
        f"INSERT INTO {SCHEMA}.job_status_tally (kind, status, delta) "
        f"SELECT kind, status, count(*) FROM {SCHEMA}.jobs GROUP BY kind, status"
    )
    op.create_index(
        "ix_jobs_queued_queue",
        "jobs",
        ["queue", "enqueued_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'queued'"),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_queued_queue", table_name="jobs", schema=SCHEMA)
    for trigger in ("jobs_tally_truncate", "jobs_tally_update", "jobs_tally_insert_delete"):
        op.execute(f"DROP TRIGGER {trigger} ON {SCHEMA}.jobs")
    op.execute(f"DROP FUNCTION {SCHEMA}.clear_job_status_tally()")
    op.execute(f"DROP FUNCTION {SCHEMA}.tally_job_status()")
    op.drop_table("job_status_tally", schema=SCHEMA)
