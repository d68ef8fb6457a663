"""user_auth: monthly usage per quota, plan interest, research-use disclaimer acceptances

Revision ID: user_auth_0002
Revises: user_auth_0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "user_auth_0002"
down_revision: str | Sequence[str] | None = "user_auth_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "user_auth"


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["user_auth.users.id"], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "usage",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("quota", sa.String(length=32), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("used", sa.BigInteger(), server_default="0", nullable=False),
        _ts("exhausted_at", True),
        _ts("updated_at"),
        _user_fk("usage"),
        sa.PrimaryKeyConstraint("user_id", "quota", "period", name=op.f("pk_usage")),
        schema=S,
    )
    op.create_table(
        "plan_interest",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        _ts("created_at"),
        _user_fk("plan_interest"),
        sa.PrimaryKeyConstraint("user_id", "plan", name=op.f("pk_plan_interest")),
        schema=S,
    )
    op.create_table(
        "disclaimer_acceptances",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        _ts("accepted_at"),
        _user_fk("disclaimer_acceptances"),
        sa.PrimaryKeyConstraint("user_id", "version", name=op.f("pk_disclaimer_acceptances")),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("disclaimer_acceptances", schema=S)
    op.drop_table("plan_interest", schema=S)
    op.drop_table("usage", schema=S)
