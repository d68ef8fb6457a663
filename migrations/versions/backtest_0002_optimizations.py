"""backtest: optimisations (parameter sweeps), their batch tasks and one result row per combination

Revision ID: backtest_0002
Revises: backtest_0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "backtest_0002"
down_revision: str | Sequence[str] | None = "backtest_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "backtest"


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    json = postgresql.JSONB(astext_type=sa.Text())
    op.create_table(
        "optimizations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("backtest_id", sa.Uuid(), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("spec", json, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("evaluated", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("failed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("metric", sa.String(40), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("best_index", sa.Integer(), nullable=True),
        sa.Column("best_params", json, nullable=True),
        sa.Column("best_metric", sa.Float(), nullable=True),
        sa.Column("early_stop_policy", json, nullable=True),
        sa.Column("max_evals", sa.Integer(), nullable=True),
        sa.Column("budget_ms", sa.BigInteger(), nullable=True),
        sa.Column("concurrency_limit", sa.Integer(), nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("priority", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("diagnostics", json, nullable=True),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("started_at", ts, nullable=True),
        sa.Column("finished_at", ts, nullable=True),
        sa.ForeignKeyConstraint(
            ["backtest_id"],
            [f"{SCHEMA}.backtests.id"],
            name="fk_optimizations_backtest_id_backtests",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_optimizations"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_optimizations_owner_created", "optimizations", ["owner_id", sa.text("created_at DESC")], schema=SCHEMA
    )
    op.create_table(
        "optimization_tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("optimization_id", sa.Uuid(), nullable=False),
        sa.Column("batch_index", sa.Integer(), nullable=False),
        sa.Column("first_index", sa.Integer(), nullable=False),
        sa.Column("points", json, nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("retries", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_run_at", ts, nullable=True),
        sa.Column("timing", json, nullable=True),
        sa.Column("returns_key", sa.String(300), nullable=True),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("started_at", ts, nullable=True),
        sa.Column("finished_at", ts, nullable=True),
        sa.ForeignKeyConstraint(
            ["optimization_id"],
            [f"{SCHEMA}.optimizations.id"],
            name="fk_optimization_tasks_optimization_id_optimizations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_optimization_tasks"),
        sa.UniqueConstraint("optimization_id", "batch_index", name="uq_optimization_tasks_optimization_id_batch_index"),
        schema=SCHEMA,
    )
    op.create_index("ix_optimization_tasks_job_id", "optimization_tasks", ["job_id"], schema=SCHEMA)
    op.create_index(
        "ix_optimization_tasks_status_next_run", "optimization_tasks", ["status", "next_run_at"], schema=SCHEMA
    )
    op.create_table(
        "optimization_results",
        sa.Column("optimization_id", sa.Uuid(), nullable=False),
        sa.Column("combo_index", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("params", json, nullable=False),
        sa.Column("metrics", json, nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", json, nullable=True),
        sa.Column("created_at", ts, nullable=False),
        sa.ForeignKeyConstraint(
            ["optimization_id"],
            [f"{SCHEMA}.optimizations.id"],
            name="fk_optimization_results_optimization_id_optimizations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("optimization_id", "combo_index", name="pk_optimization_results"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_optimization_results_score", "optimization_results", ["optimization_id", "score"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_index("ix_optimization_results_score", table_name="optimization_results", schema=SCHEMA)
    op.drop_table("optimization_results", schema=SCHEMA)
    op.drop_index("ix_optimization_tasks_status_next_run", table_name="optimization_tasks", schema=SCHEMA)
    op.drop_index("ix_optimization_tasks_job_id", table_name="optimization_tasks", schema=SCHEMA)
    op.drop_table("optimization_tasks", schema=SCHEMA)
    op.drop_index("ix_optimizations_owner_created", table_name="optimizations", schema=SCHEMA)
    op.drop_table("optimizations", schema=SCHEMA)
