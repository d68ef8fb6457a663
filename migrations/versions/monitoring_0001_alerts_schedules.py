"""monitoring: alert state, alert transitions, maintenance schedules

Revision ID: monitoring_0001
Revises: 0001_platform
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "monitoring_0001"
down_revision: str | Sequence[str] | None = "0001_platform"
branch_labels: str | Sequence[str] | None = ("monitoring",)
depends_on: str | Sequence[str] | None = None

SCHEMA = "monitoring"


def upgrade() -> None:
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "alert_states",
        sa.Column("rule", sa.String(40), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("message", sa.String(500), nullable=False),
        sa.Column("since", ts, nullable=False),
        sa.Column("evaluated_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("rule", name="pk_alert_states"),
        schema=SCHEMA,
    )
    op.create_table(
        "alert_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("rule", sa.String(40), nullable=False),
        sa.Column("transition", sa.String(10), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("message", sa.String(500), nullable=False),
        sa.Column("at", ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_events"),
        schema=SCHEMA,
    )
    op.create_index("ix_alert_events_at", "alert_events", ["at"], schema=SCHEMA)
    op.create_table(
        "schedules",
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=True),
        sa.Column("daily_at", sa.String(5), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", ts, nullable=False),
        sa.Column("last_run_at", ts, nullable=True),
        sa.Column("last_job_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_schedules"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("schedules", schema=SCHEMA)
    op.drop_index("ix_alert_events_at", table_name="alert_events", schema=SCHEMA)
    op.drop_table("alert_events", schema=SCHEMA)
    op.drop_table("alert_states", schema=SCHEMA)
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
