"""user_auth: users, sessions, refresh and one-time tokens, API keys, the audit log, the mail outbox

Revision ID: user_auth_0001
Revises: 0001_platform
Create Date: 2026-11-22

The audit log is append-only: a trigger refuses UPDATE and DELETE on it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "user_auth_0001"
down_revision: str | Sequence[str] | None = "0001_platform"
branch_labels: str | Sequence[str] | None = ("user_auth",)
depends_on: str | Sequence[str] | None = None

S = "user_auth"


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS user_auth")
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("role", sa.String(length=16), server_default="user", nullable=False),
        sa.Column("plan", sa.String(length=16), server_default="free", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        _ts("email_verified_at", True),
        sa.Column("external_subject", sa.String(length=255), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("external_subject", name=op.f("uq_users_external_subject")),
        schema=S,
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        _ts("created_at"),
        _ts("revoked_at", True),
        sa.Column("revoked_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_auth.users.id"], name=op.f("fk_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        schema=S,
    )
    op.create_index(op.f("ix_user_auth_sessions_user_id"), "sessions", ["user_id"], unique=False, schema=S)
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("used_at", True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["user_auth.sessions.id"],
            name=op.f("fk_refresh_tokens_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
        schema=S,
    )
    op.create_index(
        op.f("ix_user_auth_refresh_tokens_session_id"), "refresh_tokens", ["session_id"], unique=False, schema=S
    )
    op.create_table(
        "one_time_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("used_at", True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_auth.users.id"], name=op.f("fk_one_time_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_time_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_one_time_tokens_token_hash")),
        schema=S,
    )
    op.create_index(
        op.f("ix_user_auth_one_time_tokens_user_id"), "one_time_tokens", ["user_id"], unique=False, schema=S
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        _ts("created_at"),
        _ts("expires_at", True),
        _ts("revoked_at", True),
        _ts("last_used_at", True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_auth.users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_keys_key_id")),
        schema=S,
    )
    op.create_index(op.f("ix_user_auth_api_keys_user_id"), "api_keys", ["user_id"], unique=False, schema=S)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        _ts("at"),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), server_default="success", nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("target_id", sa.Uuid(), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        schema=S,
    )
    op.create_index("ix_audit_log_action_at", "audit_log", ["action", "at"], unique=False, schema=S)
    op.create_index(op.f("ix_user_auth_audit_log_actor_id"), "audit_log", ["actor_id"], unique=False, schema=S)
    op.create_index(op.f("ix_user_auth_audit_log_at"), "audit_log", ["at"], unique=False, schema=S)
    op.create_index(op.f("ix_user_auth_audit_log_target_id"), "audit_log", ["target_id"], unique=False, schema=S)
    op.execute(
        """
        CREATE FUNCTION user_auth.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'user_auth.audit_log is append-only';
        END;
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON user_auth.audit_log "
        "FOR EACH ROW EXECUTE FUNCTION user_auth.audit_log_append_only()"
    )
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        _ts("created_at"),
        _ts("sent_at", True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
        schema=S,
    )
    op.create_index(op.f("ix_user_auth_mail_outbox_to_address"), "mail_outbox", ["to_address"], unique=False, schema=S)


def downgrade() -> None:
    op.drop_table("mail_outbox", schema=S)
    op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON user_auth.audit_log")
    op.execute("DROP FUNCTION IF EXISTS user_auth.audit_log_append_only()")
    op.drop_table("audit_log", schema=S)
    op.drop_table("api_keys", schema=S)
    op.drop_table("one_time_tokens", schema=S)
    op.drop_table("refresh_tokens", schema=S)
    op.drop_table("sessions", schema=S)
    op.drop_table("users", schema=S)
    op.execute("DROP SCHEMA IF EXISTS user_auth CASCADE")
