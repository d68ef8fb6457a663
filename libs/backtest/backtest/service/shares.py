"""Share links: an owner opts a succeeded run in to a read-only link (`<base>/s/<token>`) that opens its
report without login, and `/api/shared/<token>` its data — never the strategy source, raw market bars,
anything of other runs or the owner's email. A sweep is shared alike (`create_sweep_share`): its link opens
the sweep's report (`service.sweep_reports`, default heatmap axes); it has no data answer (404 there).

The token (32 random bytes) is shown once; only its SHA-256 is stored. A link needs an expiry (at most
`HUICE_BACKTEST_SHARE_MAX_DAYS`), can be revoked, and counts its visits. A revoked, expired or unknown token
is the same NOT_FOUND. Views are rate-limited per token and per client address before anything is looked
up, so guessing tokens is throttled like using one.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.orm import Session

from backtest import repository as repo
from backtest.config import BacktestEnv
from backtest.domain import new_share_token, parse_expires_in, share_status, share_token_hash
from backtest.schemas import ShareCreate, ShareCreated, SharedView, ShareInclude, ShareRead
from backtest.service.reports import cached_report_data, report_html, succeeded_run
from backtest.service.sweep_reports import sweep_report
from platform_core.errors import AppError, NotFound
from platform_core.ids import new_id, utcnow
from platform_core.pagination import Page, PageParams
from user_auth import service as accounts
from user_auth.principal import Principal

GONE = "shared link not found"


def _read(row: repo.ShareRow) -> ShareRead:
    return ShareRead(
        id=row.id,
        run_id=row.run_id,
        optimization_id=row.optimization_id,
        include=ShareInclude(**row.include),
        status=share_status(row.expires_at, row.revoked_at, utcnow()),  # type: ignore[arg-type]
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        visits=row.visits,
        last_visit_at=row.last_visit_at,
        created_at=row.created_at,
    )


def share_url(env: BacktestEnv, token: str) -> str:
    return f"{env.settings.share_base_url.rstrip('/')}/s/{token}"


def create_share(
    session: Session, env: BacktestEnv, principal: Principal, run_id: uuid.UUID, body: ShareCreate
) -> ShareCreated:
    """A read-only link to one of the caller's succeeded runs (NOT_FOUND for another owner's or an
    unfinished run), valid for `expires_in`; the answer carries the token, once."""
    lifetime = parse_expires_in(body.expires_in, env.settings.share_max_days)
    row = succeeded_run(session, principal, run_id)
    return _create(session, env, principal, body, lifetime, run_id=row.id)


def create_sweep_share(
    session: Session, env: BacktestEnv, principal: Principal, optimization_id: uuid.UUID, body: ShareCreate
) -> ShareCreated:
    """A read-only link to the report of one of the caller's sweeps (NOT_FOUND for another owner's), valid
    for `expires_in`, by the same rules as a run's link; the answer carries the token, once."""
    lifetime = parse_expires_in(body.expires_in, env.settings.share_max_days)
    if repo.get_optimization(session, principal.user_id, optimization_id) is None:
        raise NotFound("optimization not found", details={"optimization_id": str(optimization_id)})
    return _create(session, env, principal, body, lifetime, optimization_id=optimization_id)


def _create(
    session: Session,
    env: BacktestEnv,
    principal: Principal,
    body: ShareCreate,
    lifetime: timedelta,
    *,
    run_id: uuid.UUID | None = None,
    optimization_id: uuid.UUID | None = None,
) -> ShareCreated:
    accounts.record_usage(session, env.auth, principal, "share_links", 1)  # the plan's monthly share links
    token, now = new_share_token(), utcnow()
    share = repo.add(
        session,
        repo.ShareRow(
            id=new_id(),
            owner_id=principal.user_id,
            run_id=run_id,
            optimization_id=optimization_id,
            token_hash=share_token_hash(token),
            include=body.include.model_dump(),
            expires_at=now + lifetime,
            visits=0,
            created_at=now,
        ),
    )
    return ShareCreated(**_read(share).model_dump(), token=token, url=share_url(env, token))


def list_shares(session: Session, principal: Principal, page: PageParams) -> Page[ShareRead]:
    """The caller's share links, newest first, with their status and visit counts."""
    rows, total = repo.list_shares(session, principal.user_id, page.limit, page.offset)
    return Page[ShareRead](items=[_read(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


def revoke_share(session: Session, principal: Principal, share_id: uuid.UUID) -> ShareRead:
    """Revoke one of the caller's links (repeating is harmless); it answers 404 from then on."""
    row = repo.get_share(session, principal.user_id, share_id)
    if row is None:
        raise NotFound("share not found", details={"share_id": str(share_id)})
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return _read(row)


def _visit(
    session: Session, env: BacktestEnv, token: str, client: str | None, *, sweeps: bool = True
) -> tuple[repo.ShareRow, Principal]:
    """Throttle, look up and count one view of a link; the owner's principal reads the run or the sweep.
    Every way a link can be dead — unknown, revoked, expired, its run, sweep or owner gone — is the same
    NOT_FOUND; so is a sweep's link where only runs are served (`sweeps=False`)."""
    token_hash = share_token_hash(token)
    if env.throttle is not None:
        env.throttle.check(
            "share_view",
            [(env.settings.share_address_limit, f"address:{client}" if client else None),
             (env.settings.share_token_limit, f"token:{token_hash}")],
        )  # fmt: skip
    now = utcnow()
    share = repo.live_share_by_hash(session, token_hash, now)
    if share is None or (share.run_id is None and not sweeps):
        raise NotFound(GONE)
    try:
        owner = accounts.principal_for_user(session, share.owner_id, via="share")
        if share.run_id is not None:
            succeeded_run(session, owner, share.run_id)
        elif (
            share.optimization_id is None
            or repo.get_optimization(session, owner.user_id, share.optimization_id) is None
        ):
            raise NotFound(GONE)
    except AppError:
        raise NotFound(GONE) from None
    repo.count_visit(session, share.id, now)
    return share, owner


def shared_view(session: Session, env: BacktestEnv, token: str, *, client: str | None = None) -> SharedView:
    """The data of a shared run: metrics, curves, return tables, drawdown periods, fees, and trades and
    positions when the owner included them."""
    share, owner = _visit(session, env, token, client, sweeps=False)
    include = ShareInclude(**share.include)
    row = succeeded_run(session, owner, share.run_id)
    data = cached_report_data(session, env, owner, row, include)
    return SharedView.model_construct(**dict(data), include=include, expires_at=share.expires_at)


def shared_report(session: Session, env: BacktestEnv, token: str, *, client: str | None = None) -> bytes:
    """The report page of a shared run (HTML), with only what the owner included, or of a shared sweep."""
    share, owner = _visit(session, env, token, client)
    if share.optimization_id is not None:
        return sweep_report(session, env, owner, share.optimization_id)[2]
    row = succeeded_run(session, owner, share.run_id)
    return report_html(session, env, owner, row, ShareInclude(**share.include))
