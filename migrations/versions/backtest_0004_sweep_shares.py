"""backtest: share links of sweeps (a share names a run or an optimisation)

Revision ID: backtest_0004_sweep_shares
Revises: backtest_0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "backtest_0004_sweep_shares"
down_revision: str | Sequence[str] | None = "backtest_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "backtest"


def upgrade() -> None:
    op.add_column("shares", sa.Column("optimization_id", sa.Uuid(), nullable=True), schema=SCHEMA)
    op.alter_column("shares", "run_id", existing_type=sa.Uuid(), nullable=True, schema=SCHEMA)
    op.create_foreign_key(
        "fk_shares_optimization_id_optimizations",
        "shares",
        "optimizations",
        ["optimization_id"],
        ["id"],
        source_schema=SCHEMA,
        referent_schema=SCHEMA,
        ondelete="CASCADE",
    )
    op.create_check_constraint(
        "ck_shares_one_subject", "shares", "(run_id IS NULL) <> (optimization_id IS NULL)", schema=SCHEMA
    )
    op.create_index("ix_shares_optimization", "shares", ["optimization_id"], schema=SCHEMA)


def downgrade() -> None:
    op.execute(f"DELETE FROM {SCHEMA}.shares WHERE run_id IS NULL")
    op.drop_index("ix_shares_optimization", table_name="shares", schema=SCHEMA)
    op.drop_constraint("ck_shares_one_subject", "shares", schema=SCHEMA, type_="check")
    op.drop_constraint("fk_shares_optimization_id_optimizations", "shares", schema=SCHEMA, type_="foreignkey")
    op.alter_column("shares", "run_id", existing_type=sa.Uuid(), nullable=False, schema=SCHEMA)
    op.drop_column("shares", "optimization_id", schema=SCHEMA)
