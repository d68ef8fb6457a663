"""backtest: backtests, runs and idempotency keys

Revision ID: backtest_0001
Revises: 0001_platform
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "backtest_0001"
down_revision: str | Sequence[str] | None = "0001_platform"
branch_labels: str | Sequence[str] | None = ("backtest",)
depends_on: str | Sequence[str] | None = None

SCHEMA = "backtest"


def upgrade() -> None:
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "backtests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("strategy_id", sa.Uuid(), nullable=False),
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("strategy_name", sa.String(100), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(80), nullable=False),
        sa.Column("universe", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("frequency", sa.String(10), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("adjust", sa.String(10), nullable=False),
        sa.Column("data_source", sa.String(20), nullable=False),
        sa.Column("snapshot_id", sa.String(100), nullable=False),
        sa.Column("initial_cash", sa.Float(), nullable=False),
        sa.Column("rules", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("benchmark", sa.String(20), nullable=True),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("notes", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_backtests"),
        schema=SCHEMA,
    )
    op.create_index("ix_backtests_owner_created", "backtests", ["owner_id", sa.text("created_at DESC")], schema=SCHEMA)
    op.create_table(
        "runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("backtest_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("priority", sa.String(10), nullable=False),
        sa.Column("budget_s", sa.Integer(), nullable=False),
        sa.Column("rerun_of", sa.Uuid(), nullable=True),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("manifest", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("artifacts", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("completed_at", ts, nullable=True),
        sa.ForeignKeyConstraint(
            ["backtest_id"], [f"{SCHEMA}.backtests.id"], name="fk_runs_backtest_id_backtests", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.UniqueConstraint("job_id", name="uq_runs_job_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_runs_owner_created", "runs", ["owner_id", sa.text("created_at DESC")], schema=SCHEMA)
    op.create_index("ix_runs_backtest_created", "runs", ["backtest_id", sa.text("created_at DESC")], schema=SCHEMA)
    op.create_table(
        "idempotency_keys",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("owner_id", "key", name="pk_idempotency_keys"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys", schema=SCHEMA)
    op.drop_index("ix_runs_backtest_created", table_name="runs", schema=SCHEMA)
    op.drop_index("ix_runs_owner_created", table_name="runs", schema=SCHEMA)
    op.drop_table("runs", schema=SCHEMA)
    op.drop_index("ix_backtests_owner_created", table_name="backtests", schema=SCHEMA)
    op.drop_table("backtests", schema=SCHEMA)
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
