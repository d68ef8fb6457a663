"""backtest: a backtest's point-in-time universe selection (index / all, with filters)

Revision ID: backtest_0005_universe_selection
Revises: backtest_0004_sweep_shares
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "backtest_0005_universe_selection"
down_revision: str | Sequence[str] | None = "backtest_0004_sweep_shares"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "backtest"


def upgrade() -> None:
    op.add_column(
        "backtests",
        sa.Column("universe_selection", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_column("backtests", "universe_selection", schema=SCHEMA)
