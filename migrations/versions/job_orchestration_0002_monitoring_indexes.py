"""job_orchestration: indexes for the monitoring figures (per-kind counts, windows, newest of a kind)

Revision ID: job_orchestration_0002
Revises: job_orchestration_0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "job_orchestration_0002"
down_revision: str | Sequence[str] | None = "job_orchestration_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "job_orchestration"


def upgrade() -> None:
    op.create_index("ix_jobs_kind_status", "jobs", ["kind", "status"], schema=SCHEMA)
    op.create_index("ix_jobs_kind_submitted", "jobs", ["kind", "submitted_at"], schema=SCHEMA)
    op.create_index("ix_jobs_started_at", "jobs", ["started_at"], schema=SCHEMA)
    op.create_index("ix_jobs_finished_at", "jobs", ["finished_at"], schema=SCHEMA)


def downgrade() -> None:
    for name in ("ix_jobs_finished_at", "ix_jobs_started_at", "ix_jobs_kind_submitted", "ix_jobs_kind_status"):
        op.drop_index(name, table_name="jobs", schema=SCHEMA)
