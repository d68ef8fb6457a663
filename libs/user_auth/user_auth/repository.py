"""The tables of user_auth (PostgreSQL schema `user_auth`) and every query on them. Private to the context."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Row,
    String,
    Text,
    bindparam,
    case,
    false,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from platform_core.db import declarative_base
from platform_core.ids import new_id, utcnow

SCHEMA = "user_auth"
Base = declarative_base(SCHEMA)
metadata = Base.metadata

_TS = DateTime(timezone=True)


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16), server_default="user")
    plan: Mapped[str] = mapped_column(String(16), server_default="free")
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    email_verified_at: Mapped[datetime | None] = mapped_column(_TS)
    external_subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(_TS, default=utcnow, onupdate=utcnow)


class AuthSession(Base):
    """A login: the family of refresh tokens and the access tokens minted from them (`sid`)."""

    __tablename__ = "sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    via: Mapped[str] = mapped_column(String(16))
    client_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(_TS)
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(_TS)
    used_at: Mapped[datetime | None] = mapped_column(_TS)


class OneTimeToken(Base):
    """Email verification and password reset tokens: hashed, single use, expiring."""

    __tablename__ = "one_time_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(_TS)
    used_at: Mapped[datetime | None] = mapped_column(_TS)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    key_id: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(_TS)
    revoked_at: Mapped[datetime | None] = mapped_column(_TS)
    last_used_at: Mapped[datetime | None] = mapped_column(_TS)


class AuditEntry(Base):
    """Append-only (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_action_at", "action", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    at: Mapped[datetime] = mapped_column(_TS, default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), server_default="success")
    actor_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    target_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    client_address: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class OutboxMail(Base):
    """Mail waiting for (or done with) delivery; without SMTP it is the dev mailbox."""

    __tablename__ = "mail_outbox"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    to_address: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(_TS)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(200))


# ---------------------------------------------------------------- users


def get_user(session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def get_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email))


def get_user_by_subject(session: Session, subject: str) -> User | None:
    return session.scalar(select(User).where(User.external_subject == subject))


def add(session: Session, row: Base) -> Any:
    session.add(row)
    session.flush()
    return row


def search_users(
    session: Session,
    *,
    query: str | None,
    role: str | None,
    plan: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[User], int]:
    stmt = select(User)
    if query:
        stmt = stmt.where(User.email.ilike(f"%{_escape_like(query.lower())}%", escape="\\"))
    for column, value in ((User.role, role), (User.plan, plan), (User.status, status)):
        if value is not None:
            stmt = stmt.where(column == value)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(User.created_at, User.id).limit(limit).offset(offset)).all()
    return rows, total


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ---------------------------------------------------------------- sessions and refresh tokens


def get_session_row(session: Session, session_id: uuid.UUID) -> AuthSession | None:
    return session.get(AuthSession, session_id)


_SESSION_PRINCIPAL = (
    select(
        AuthSession.user_id.label("session_user_id"),
        AuthSession.revoked_at,
        User.id,
        User.email,
        User.role,
        User.plan,
        User.status,
    )
    .join(User, User.id == AuthSession.user_id)
    .where(AuthSession.id == bindparam("session_id"))
)


def session_principal(session: Session, session_id: uuid.UUID) -> Row | None:
    """What an access token's check needs of its session (refresh family) and of the user it belongs to,
    in one round trip, as plain columns (every authenticated request with an access token reads them; no
    ORM objects to build): `session_user_id`, `revoked_at` and the user's `id`, `email`, `role`, `plan`,
    `status`. One statement built at import: a request pays neither its construction nor its cache key."""
    return session.execute(_SESSION_PRINCIPAL, {"session_id": session_id}).first()


def get_refresh_token(session: Session, token_hash: str, *, lock: bool = False) -> RefreshToken | None:
    stmt = select(RefreshToken).where(RefreshToken.token_hash == token_hash)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def revoke_sessions(session: Session, user_id: uuid.UUID, *, reason: str, except_id: uuid.UUID | None = None) -> int:
    stmt = update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    if except_id is not None:
        stmt = stmt.where(AuthSession.id != except_id)
    result = session.execute(stmt.values(revoked_at=utcnow(), revoked_reason=reason))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def revoke_session(session: Session, session_id: uuid.UUID, *, reason: str) -> None:
    session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )


# ---------------------------------------------------------------- one-time tokens


def get_one_time_token(session: Session, purpose: str, token_hash: str) -> OneTimeToken | None:
    return session.scalar(
        select(OneTimeToken)
        .where(OneTimeToken.purpose == purpose, OneTimeToken.token_hash == token_hash)
        .with_for_update()
    )


def expire_one_time_tokens(session: Session, user_id: uuid.UUID, purpose: str) -> None:
    session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.user_id == user_id, OneTimeToken.purpose == purpose, OneTimeToken.used_at.is_(None))
        .values(used_at=utcnow())
    )


def insert_nothing(session: Session, row: Base) -> None:
    """The INSERT of a transient `row`, guarded by `WHERE false`: the statement's round trip, parsing and
    planning without writing anything (for paths that must cost what writing `row` costs)."""
    table = row.__table__  # type: ignore[attr-defined]
    values = {c.key: v for c in table.columns if (v := getattr(row, c.key)) is not None}
    source = select(*(literal(v, type_=table.c[k].type) for k, v in values.items())).where(false())
    session.execute(insert(table).from_select(list(values), source))


# ---------------------------------------------------------------- API keys


def get_api_key_by_key_id(session: Session, key_id: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))


def get_api_key(session: Session, user_id: uuid.UUID, key_uuid: uuid.UUID) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.user_id == user_id, ApiKey.id == key_uuid))


def revoke_api_keys(session: Session, user_id: uuid.UUID) -> list[str]:
    """Revoke every key of the user not revoked yet; returns their key ids."""
    result = session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(ApiKey.key_id)
    )
    return sorted(result.scalars().all())


def list_api_keys(session: Session, user_id: uuid.UUID, *, limit: int, offset: int) -> tuple[Sequence[ApiKey], int]:
    stmt = select(ApiKey).where(ApiKey.user_id == user_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(ApiKey.created_at.desc(), ApiKey.id).limit(limit).offset(offset)).all()
    return rows, total


# ---------------------------------------------------------------- audit


def query_audit(
    session: Session,
    *,
    action: str | None,
    actor_id: uuid.UUID | None,
    target_id: uuid.UUID | None,
    outcome: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[AuditEntry], int]:
    stmt = select(AuditEntry)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    if actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if target_id is not None:
        stmt = stmt.where(AuditEntry.target_id == target_id)
    if outcome is not None:
        stmt = stmt.where(AuditEntry.outcome == outcome)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)).all()
    return rows, total


# ---------------------------------------------------------------- mail outbox


def list_mail(session: Session, *, to_address: str | None, limit: int, offset: int) -> tuple[Sequence[OutboxMail], int]:
    stmt = select(OutboxMail)
    if to_address is not None:
        stmt = stmt.where(OutboxMail.to_address == to_address)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(OutboxMail.created_at.desc(), OutboxMail.id.desc()).limit(limit).offset(offset)
    ).all()
    return rows, total


def pending_mail(session: Session, *, limit: int = 50) -> Sequence[OutboxMail]:
    return session.scalars(
        select(OutboxMail)
        .where(OutboxMail.sent_at.is_(None), OutboxMail.attempts < 5)
        .order_by(OutboxMail.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()


# --- operations figures (monitoring) --------------------------------------------------------------------


def user_counts(session: Session) -> tuple[int, int]:
    """(every user, users with a verified email)."""
    total, verified = session.execute(select(func.count(), func.count(User.email_verified_at))).one()
    return int(total), int(verified)


def active_user_count(session: Session, since: datetime) -> int:
    """Users who signed in, refreshed a session or used an API key since `since`."""
    signed_in = select(AuthSession.user_id).where(AuthSession.created_at >= since)
    refreshed = (
        select(AuthSession.user_id)
        .join(RefreshToken, RefreshToken.session_id == AuthSession.id)
        .where(RefreshToken.created_at >= since)
    )
    keyed = select(ApiKey.user_id).where(ApiKey.last_used_at >= since)
    union = signed_in.union(refreshed, keyed).subquery()
    return int(session.execute(select(func.count()).select_from(union)).scalar_one())


def active_admin_emails(session: Session) -> list[str]:
    stmt = select(User.email).where(User.role == "admin", User.status == "active").order_by(User.email)
    return list(session.execute(stmt).scalars())


# ------------------------------------------------------------------ usage, plan interest, disclaimer


class Usage(Base):
    """What an account used of one quota in one period (the first day of the month, UTC)."""

    __tablename__ = "usage"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    quota: Mapped[str] = mapped_column(String(32), primary_key=True)
    period: Mapped[date] = mapped_column(Date, primary_key=True)
    used: Mapped[int] = mapped_column(BigInteger, server_default="0")
    exhausted_at: Mapped[datetime | None] = mapped_column(_TS)
    updated_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)


class PlanInterest(Base):
    """A user clicked "subscribe" on a plan (counted once per user and plan)."""

    __tablename__ = "plan_interest"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    plan: Mapped[str] = mapped_column(String(16), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)


class DisclaimerAcceptance(Base):
    """When an account accepted (a version of) the research-use disclaimer."""

    __tablename__ = "disclaimer_acceptances"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    accepted_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)


def add_usage(
    session: Session,
    user_id: uuid.UUID,
    quota: str,
    period: date,
    amount: int,
    *,
    limit: int,
    hard: bool,
    now: datetime,
) -> int | None:
    """Add `amount` to the period's count in one atomic upsert (concurrent callers serialise on the row, so
    nothing is lost) and stamp `exhausted_at` the first time the count reaches `limit`. The new count, or
    None when `hard` and the addition would pass `limit` (nothing is written then)."""
    table = Usage.__table__
    if hard and amount > limit:
        return None
    stmt = pg_insert(table).values(
        user_id=user_id,
        quota=quota,
        period=period,
        used=amount,
        exhausted_at=now if amount >= limit else None,
        updated_at=now,
    )
    total = table.c.used + stmt.excluded.used
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.user_id, table.c.quota, table.c.period],
        set_={
            "used": total,
            "updated_at": now,
            "exhausted_at": func.coalesce(
                table.c.exhausted_at, case((total >= limit, literal(now, type_=_TS)), else_=None)
            ),
        },
        where=(total <= limit) if hard else None,
    ).returning(table.c.used)
    return session.execute(stmt).scalar_one_or_none()


def usage_of(session: Session, user_id: uuid.UUID, period: date) -> dict[str, Usage]:
    rows = session.scalars(select(Usage).where(Usage.user_id == user_id, Usage.period == period)).all()
    return {row.quota: row for row in rows}


def usage_counts(session: Session, period: date) -> tuple[int, dict[str, int]]:
    """Accounts with any usage in the period, and per quota the accounts that ran out of it."""
    accounts = session.execute(
        select(func.count(func.distinct(Usage.user_id))).where(Usage.period == period)
    ).scalar_one()
    rows = session.execute(
        select(Usage.quota, func.count())
        .where(Usage.period == period, Usage.exhausted_at.is_not(None))
        .group_by(Usage.quota)
    ).all()
    return accounts, {quota: count for quota, count in rows}


def add_plan_interest(session: Session, user_id: uuid.UUID, plan: str) -> bool:
    """Record the interest once; True if this call recorded it."""
    stmt = pg_insert(PlanInterest.__table__).values(user_id=user_id, plan=plan, created_at=utcnow())
    result = session.execute(stmt.on_conflict_do_nothing().returning(PlanInterest.__table__.c.plan))
    return result.scalar_one_or_none() is not None


def plan_interest_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(PlanInterest.plan, func.count()).group_by(PlanInterest.plan)).all()
    return {plan: count for plan, count in rows}


def accept_disclaimer(session: Session, user_id: uuid.UUID, version: str) -> datetime:
    """Store the acceptance (the first one stays); its timestamp."""
    table = DisclaimerAcceptance.__table__
    session.execute(
        pg_insert(table).values(user_id=user_id, version=version, accepted_at=utcnow()).on_conflict_do_nothing()
    )
    return session.execute(
        select(table.c.accepted_at).where(table.c.user_id == user_id, table.c.version == version)
    ).scalar_one()


def disclaimer_accepted_at(session: Session, user_id: uuid.UUID, version: str) -> datetime | None:
    table = DisclaimerAcceptance.__table__
    return session.execute(
        select(table.c.accepted_at).where(table.c.user_id == user_id, table.c.version == version)
    ).scalar_one_or_none()
