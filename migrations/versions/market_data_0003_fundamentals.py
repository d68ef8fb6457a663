"""market_data: daily_basic (fundamentals per stock and session) and index_weights (index constituents)

Revision ID: market_data_0003
Revises: market_data_0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "market_data_0003"
down_revision: str | Sequence[str] | None = "market_data_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "market_data"
BASIC = ("close", "pe", "pb", "ps", "dv_ratio", "total_mv", "circ_mv", "turnover_rate")


def upgrade() -> None:
    op.create_table(
        "daily_basic",
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("trade_date", sa.Date(), nullable=False),
        *[sa.Column(name, sa.Float(), nullable=True) for name in BASIC],
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "trade_date", name=op.f("pk_daily_basic")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_market_data_daily_basic_trade_date"), "daily_basic", ["trade_date"], unique=False, schema=SCHEMA
    )
    op.create_table(
        "index_weights",
        sa.Column("index_code", sa.String(length=16), nullable=False),
        sa.Column("trade_date", sa.Date(), nullable=False),
        sa.Column("con_code", sa.String(length=16), nullable=False),
        sa.Column("weight", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("index_code", "trade_date", "con_code", name=op.f("pk_index_weights")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("index_weights", schema=SCHEMA)
    op.drop_index(op.f("ix_market_data_daily_basic_trade_date"), table_name="daily_basic", schema=SCHEMA)
    op.drop_table("daily_basic", schema=SCHEMA)
