"""platform root: the common base every context's migration branch starts from

Revision ID: 0001_platform
Revises:
Create Date: 2026-11-22

Each context owns one PostgreSQL schema and one alembic branch rooted here
(`down_revision = "0001_platform"`, `branch_labels = ("<context>",)`), so contexts
migrate independently; `huice db upgrade` goes to all heads.
"""

from collections.abc import Sequence

revision: str = "0001_platform"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("platform",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
