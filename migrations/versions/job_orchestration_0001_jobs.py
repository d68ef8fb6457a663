"""job_orchestration: jobs and job events

Revision ID: job_orchestration_0001
Revises: 0001_platform
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "job_orchestration_0001"
down_revision: str | Sequence[str] | None = "0001_platform"
branch_labels: str | Sequence[str] | None = ("job_orchestration",)
depends_on: str | Sequence[str] | None = None

SCHEMA = "job_orchestration"


def upgrade() -> None:
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("owner_plan", sa.String(20), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("queue", sa.String(20), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("progress_message", sa.String(500), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("budget_s", sa.Integer(), nullable=False),
        sa.Column("lease_token", sa.String(64), nullable=True),
        sa.Column("worker_name", sa.String(200), nullable=True),
        sa.Column("worker_pid", sa.Integer(), nullable=True),
        sa.Column("cancel_requested_at", ts, nullable=True),
        sa.Column("submitted_at", ts, nullable=False),
        sa.Column("enqueued_at", ts, nullable=True),
        sa.Column("not_before", ts, nullable=True),
        sa.Column("started_at", ts, nullable=True),
        sa.Column("attempt_started_at", ts, nullable=True),
        sa.Column("heartbeat_at", ts, nullable=True),
        sa.Column("finished_at", ts, nullable=True),
        sa.Column("error", postgresql.JSONB(), nullable=True),
        sa.Column("result", postgresql.JSONB(), nullable=True),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        schema=SCHEMA,
    )
    op.create_index("ix_jobs_owner_submitted", "jobs", ["owner_id", "submitted_at"], schema=SCHEMA)
    op.create_index("ix_jobs_status", "jobs", ["status"], schema=SCHEMA)
    op.create_index("ix_jobs_parent_id", "jobs", ["parent_id"], schema=SCHEMA)
    op.create_index("uq_jobs_owner_idempotency", "jobs", ["owner_id", "idempotency_key"], unique=True, schema=SCHEMA)
    op.create_table(
        "job_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.String(500), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("data", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_job_events"),
        schema=SCHEMA,
    )
    op.create_index("ix_job_events_job_id_id", "job_events", ["job_id", "id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("job_events", schema=SCHEMA)
    op.drop_table("jobs", schema=SCHEMA)
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
