"""market_data: the default snapshot's history (what unpinned reads and new backtests use)

Revision ID: market_data_0002
Revises: market_data_0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "market_data_0002"
down_revision: str | Sequence[str] | None = "market_data_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "market_data"


def upgrade() -> None:
    op.create_table(
        "snapshot_defaults",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("snapshot_id", sa.String(length=40), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["market_data.snapshots.id"],
            name=op.f("fk_snapshot_defaults_snapshot_id_snapshots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshot_defaults")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_market_data_snapshot_defaults_snapshot_id"),
        "snapshot_defaults",
        ["snapshot_id"],
        unique=False,
        schema=SCHEMA,
    )
    # an existing installation keeps what it used so far: the newest snapshot becomes the recorded default
    op.execute(
        "INSERT INTO market_data.snapshot_defaults (snapshot_id, set_at, reason) "
        "SELECT id, now(), 'migrated' FROM market_data.snapshots ORDER BY created_at DESC, id DESC LIMIT 1"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_market_data_snapshot_defaults_snapshot_id"), table_name="snapshot_defaults", schema=SCHEMA)
    op.drop_table("snapshot_defaults", schema=SCHEMA)
