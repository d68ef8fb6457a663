"""Backtests: create one (a pinned strategy version and a checked context), read one, list them."""

from __future__ import annotations

import uuid

from pydantic import ValidationError
from sqlalchemy.orm import Session

from backtest import gateways
from backtest import repository as repo
from backtest.config import BacktestEnv
from backtest.domain import engine_config
from backtest.idempotency import idempotent
from backtest.schemas import BacktestCreate, BacktestCreated, BacktestRead
from backtest.service._common import backtest_read, owned_backtest
from platform_core.errors import invalid_input_from
from platform_core.ids import new_id, utcnow
from platform_core.pagination import Page, PageParams
from strategy_management import service as strategies
from user_auth.principal import Principal


def create_backtest(
    session: Session,
    env: BacktestEnv,
    principal: Principal,
    body: BacktestCreate,
    *,
    idempotency_key: str | None = None,
) -> BacktestCreated:
    """Pin a strategy version (by id, latest of a strategy, or a new copy of a template) and a context
    (universe, frequency, window, the data snapshot, cash, rules, benchmark). Every input is checked
    against the version's parameter schema, the data and a dry run of the strategy; INVALID_INPUT names
    the field."""
    return idempotent(
        session,
        env,
        principal,
        idempotency_key,
        scope="POST /backtests",
        request=body.model_dump(mode="json"),
        model=BacktestCreated,
        run=lambda: _create_backtest(session, env, principal, body),
    )


def _create_backtest(session: Session, env: BacktestEnv, principal: Principal, body: BacktestCreate) -> BacktestCreated:
    ctx = body.context
    version = gateways.resolve_version(session, env, principal, body.strategy_ref)
    params = strategies.validate_params(session, principal, version.id, body.strategy_ref.params)
    pin = gateways.check_market(session, ctx)
    rules = ctx.rules.model_dump(mode="json")
    try:
        engine_config(rules, ctx.initial_cash)
    except ValidationError as exc:
        raise invalid_input_from(exc, prefix="context.rules", message="invalid rules") from None
    gateways.dry_run(session, env, principal, version, params, field="strategyRef")
    row = repo.add(
        session,
        repo.BacktestRow(
            id=new_id(),
            owner_id=principal.user_id,
            strategy_id=version.strategy_id,
            version_id=version.id,
            strategy_name=version.strategy_name,
            version_number=version.number,
            content_hash=version.content_hash,
            universe=pin.symbols,
            frequency=ctx.frequency,
            start_date=ctx.window.start,
            end_date=ctx.window.end,
            adjust=ctx.adjust,
            data_source=pin.source,
            snapshot_id=pin.snapshot_id,
            initial_cash=ctx.initial_cash,
            rules=rules,
            benchmark=pin.benchmark,
            params=params,
            notes=body.notes,
            created_at=utcnow(),
        ),
    )
    read = backtest_read(row)
    return BacktestCreated(backtest_id=read.id, backtest=read)


def get_backtest(session: Session, principal: Principal, backtest_id: uuid.UUID) -> BacktestRead:
    """One of the caller's backtests."""
    return backtest_read(owned_backtest(session, principal, backtest_id))


def list_backtests(session: Session, principal: Principal, page: PageParams) -> Page[BacktestRead]:
    """The caller's backtests, newest first."""
    rows, total = repo.list_backtests(session, principal.user_id, page.limit, page.offset)
    return Page[BacktestRead](items=[backtest_read(r) for r in rows], total=total, limit=page.limit, offset=page.offset)
