"""market_data: instruments, ST periods, calendar, snapshots and their partition files

Revision ID: market_data_0001
Revises: 0001_platform
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "market_data_0001"
down_revision: str | Sequence[str] | None = "0001_platform"
branch_labels: str | Sequence[str] | None = ("market_data",)
depends_on: str | Sequence[str] | None = None

SCHEMA = "market_data"


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS market_data")
    op.create_table(
        "instruments",
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("exchange", sa.String(length=8), nullable=False),
        sa.Column("board", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("list_date", sa.Date(), nullable=True),
        sa.Column("delist_date", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("symbol", name=op.f("pk_instruments")),
        schema=SCHEMA,
    )
    op.create_index(op.f("ix_market_data_instruments_board"), "instruments", ["board"], unique=False, schema=SCHEMA)
    op.create_table(
        "st_periods",
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "start_date", name=op.f("pk_st_periods")),
        schema=SCHEMA,
    )
    op.create_table(
        "calendar_days",
        sa.Column("cal_date", sa.Date(), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("cal_date", name=op.f("pk_calendar_days")),
        schema=SCHEMA,
    )
    op.create_table(
        "snapshots",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("coverage", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshots")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_market_data_snapshots_created_at"), "snapshots", ["created_at"], unique=False, schema=SCHEMA
    )
    op.create_index(op.f("ix_market_data_snapshots_source"), "snapshots", ["source"], unique=False, schema=SCHEMA)
    op.create_table(
        "snapshot_files",
        sa.Column("snapshot_id", sa.String(length=40), nullable=False),
        sa.Column("freq", sa.String(length=8), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("first_date", sa.Date(), nullable=True),
        sa.Column("last_date", sa.Date(), nullable=True),
        sa.Column("covered_start", sa.Date(), nullable=False),
        sa.Column("covered_end", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["market_data.snapshots.id"],
            name=op.f("fk_snapshot_files_snapshot_id_snapshots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("snapshot_id", "freq", "symbol", name=op.f("pk_snapshot_files")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("snapshot_files", schema=SCHEMA)
    op.drop_index(op.f("ix_market_data_snapshots_source"), table_name="snapshots", schema=SCHEMA)
    op.drop_index(op.f("ix_market_data_snapshots_created_at"), table_name="snapshots", schema=SCHEMA)
    op.drop_table("snapshots", schema=SCHEMA)
    op.drop_table("calendar_days", schema=SCHEMA)
    op.drop_table("st_periods", schema=SCHEMA)
    op.drop_index(op.f("ix_market_data_instruments_board"), table_name="instruments", schema=SCHEMA)
    op.drop_table("instruments", schema=SCHEMA)
    op.execute("DROP SCHEMA IF EXISTS market_data CASCADE")
