"""strategy_management: strategies, immutable versions, and run references to versions

Revision ID: strategy_management_0001
Revises: 0001_platform
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "strategy_management_0001"
down_revision: str | Sequence[str] | None = "0001_platform"
branch_labels: str | Sequence[str] | None = ("strategy_management",)
depends_on: str | Sequence[str] | None = None

SCHEMA = "strategy_management"


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS strategy_management")
    op.create_table(
        "strategies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column(
            "tags", postgresql.ARRAY(sa.String(length=40)), server_default=sa.text("'{}'::varchar[]"), nullable=False
        ),
        sa.Column("archived", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("version_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategies")),
        sa.UniqueConstraint("owner_id", "name", name=op.f("uq_strategies_owner_id_name")),
        schema=SCHEMA,
    )
    op.create_index(op.f("ix_strategies_owner_id"), "strategies", ["owner_id"], unique=False, schema=SCHEMA)
    op.create_table(
        "strategy_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("strategy_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("params_schema", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "metadata", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("content_hash", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            [f"{SCHEMA}.strategies.id"],
            name=op.f("fk_strategy_versions_strategy_id_strategies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategy_versions")),
        sa.UniqueConstraint("strategy_id", "number", name=op.f("uq_strategy_versions_strategy_id_number")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_strategy_versions_strategy_id"), "strategy_versions", ["strategy_id"], unique=False, schema=SCHEMA
    )
    op.create_table(
        "strategy_references",
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            [f"{SCHEMA}.strategy_versions.id"],
            name=op.f("fk_strategy_references_version_id_strategy_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", "ref", name=op.f("pk_strategy_references")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("strategy_references", schema=SCHEMA)
    op.drop_index(op.f("ix_strategy_versions_strategy_id"), table_name="strategy_versions", schema=SCHEMA)
    op.drop_table("strategy_versions", schema=SCHEMA)
    op.drop_index(op.f("ix_strategies_owner_id"), table_name="strategies", schema=SCHEMA)
    op.drop_table("strategies", schema=SCHEMA)
    op.execute("DROP SCHEMA IF EXISTS strategy_management CASCADE")
