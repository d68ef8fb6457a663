"""market_data: manifest layout 2 — a snapshot's daily partitions also packed per code prefix (snapshot_packs)

Existing snapshots keep layout 1 (per-symbol partitions only) and read exactly as before.

Revision ID: market_data_0004
Revises: market_data_0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "market_data_0004"
down_revision: str | Sequence[str] | None = "market_data_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "market_data"


def upgrade() -> None:
    op.add_column(
        "snapshots", sa.Column("layout", sa.Integer(), server_default=sa.text("1"), nullable=False), schema=SCHEMA
    )
    op.create_table(
        "snapshot_packs",
        sa.Column("snapshot_id", sa.String(length=40), nullable=False),
        sa.Column("freq", sa.String(length=8), nullable=False),
        sa.Column("bucket", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("symbols", sa.Integer(), nullable=False),
        sa.Column("members_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["market_data.snapshots.id"],
            name=op.f("fk_snapshot_packs_snapshot_id_snapshots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("snapshot_id", "freq", "bucket", name=op.f("pk_snapshot_packs")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("snapshot_packs", schema=SCHEMA)
    op.drop_column("snapshots", "layout", schema=SCHEMA)
