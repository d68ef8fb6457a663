"""backtest: read-only share links of runs

Revision ID: backtest_0003
Revises: backtest_0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "backtest_0003"
down_revision: str | Sequence[str] | None = "backtest_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "backtest"


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "shares",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("include", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("expires_at", ts, nullable=False),
        sa.Column("revoked_at", ts, nullable=True),
        sa.Column("visits", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_visit_at", ts, nullable=True),
        sa.Column("created_at", ts, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], [f"{SCHEMA}.runs.id"], name="fk_shares_run_id_runs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_shares"),
        sa.UniqueConstraint("token_hash", name="uq_shares_token_hash"),
        schema=SCHEMA,
    )
    op.create_index("ix_shares_owner_created", "shares", ["owner_id", sa.text("created_at DESC")], schema=SCHEMA)
    op.create_index("ix_shares_run", "shares", ["run_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_shares_run", table_name="shares", schema=SCHEMA)
    op.drop_index("ix_shares_owner_created", table_name="shares", schema=SCHEMA)
    op.drop_table("shares", schema=SCHEMA)
