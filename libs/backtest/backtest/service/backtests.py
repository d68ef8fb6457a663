"""Backtests: create one (a pinned strategy version and a checked context), read one, list them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from backtest import gateways, idempotency
from backtest import repository as repo
from backtest.config import BacktestEnv
from backtest.domain import engine_config
from backtest.idempotency import idempotent
from backtest.schemas import BacktestCreate, BacktestCreated, BacktestRead, UniverseSelection
from backtest.service._common import backtest_read, owned_backtest
from platform_core.db import release
from platform_core.errors import invalid_input_from
from platform_core.ids import new_id, utcnow
from platform_core.pagination import Page, PageParams
from strategy_management import service as strategies
from strategy_management.schemas import TemplateRead, VersionRead
from user_auth.principal import Principal


@dataclass
class _Checked:
    """What the read phase of a create found: the version (or the template to copy), parameters, the
    market pin and the rules."""

    version: VersionRead | None
    template: TemplateRead | None
    params: dict[str, Any]
    pin: gateways.MarketPin
    rules: dict[str, Any]
    described: dict[str, Any] | None = None
    code: str | None = None  # inline `strategyRef.code`: params are resolved once it is described

    @property
    def source(self) -> str:
        if self.code is not None:
            return self.code
        return self.version.source if self.version is not None else self.template.source


def create_backtest(
    session: Session,
    env: BacktestEnv,
    principal: Principal,
    body: BacktestCreate,
    *,
    idempotency_key: str | None = None,
) -> BacktestCreated:
    """Pin a strategy version (by id, latest of a strategy, a new copy of a template, or inline code saved
    as a new strategy) and a context
    (universe, frequency, window, the data snapshot, cash, rules, benchmark). Every input is checked
    against the version's parameter schema, the data and a dry run of the strategy; INVALID_INPUT names
    the field. Three phases, so that no database connection is held while strategy code runs: read and
    check (short), `release` the session, the dry run in the confined runner, then write (the pinned
    version re-read, the template copied, the Idempotency-Key claimed). A key already answered replays
    without running anything."""
    checked = None
    if not idempotency.answered(session, env, principal, idempotency_key):
        checked = _check(session, env, principal, body)
        release(session)
        _run_checks(env, principal, checked)
    return idempotent(
        session,
        env,
        principal,
        idempotency_key,
        scope="POST /backtests",
        request=body.model_dump(mode="json"),
        model=BacktestCreated,
        run=lambda: _create_backtest(session, env, principal, body, checked),
    )


def _check(session: Session, env: BacktestEnv, principal: Principal, body: BacktestCreate) -> _Checked:
    """The read phase: the version or template, its parameters, the data and the rules (nothing written)."""
    ref, ctx = body.strategy_ref, body.context
    version = template = None
    if ref.code is not None:
        params = dict(ref.params)
    elif ref.template is not None:
        template = gateways.template_of(ref)
        params = gateways.template_params(template, ref.params)
    else:
        version = gateways.read_version(session, principal, ref)
        params = strategies.validate_params(session, principal, version.id, ref.params)
    pin = gateways.check_market(session, ctx)
    rules = ctx.rules.model_dump(mode="json")
    try:
        source = ref.code if ref.code is not None else (version or template).source
        engine_config(rules, ctx.initial_cash, source, field="strategyRef.code" if ref.code else "strategyRef")
        fields = gateways.strategy_fields(source, field="strategyRef.code" if ref.code else "strategyRef")
    except ValidationError as exc:
        raise invalid_input_from(exc, prefix="context.rules", message="invalid rules") from None
    pin.warnings.extend(
        gateways.check_fields(session, ctx, pin, fields, field="strategyRef.code" if ref.code else "strategyRef")
    )
    return _Checked(version=version, template=template, params=params, pin=pin, rules=rules, code=ref.code)


def _run_checks(env: BacktestEnv, principal: Principal, checked: _Checked) -> None:
    """The run phase (no session): a template's source or inline code described, then the dry run."""
    if checked.template is not None:
        checked.described = gateways.describe_template(env, principal, checked.template)
    if checked.code is not None:
        checked.described = gateways.describe_code(env, principal, checked.code)
        checked.params = gateways.code_params(checked.described, checked.params)
    gateways.dry_run(env, principal, checked.source, checked.params, field="strategyRef")


def _create_backtest(
    session: Session, env: BacktestEnv, principal: Principal, body: BacktestCreate, checked: _Checked | None
) -> BacktestCreated:
    ctx, ref = body.context, body.strategy_ref
    if checked is None:  # the key was answered when peeked at and has expired since: check in this transaction
        checked = _check(session, env, principal, body)
        _run_checks(env, principal, checked)
    if checked.code is not None:
        version = gateways.create_inline(session, env, principal, ref, checked.described)
    elif checked.template is not None:
        version = gateways.copy_template(session, env, principal, ref, checked.described)
    else:  # re-read: the strategy may have been deleted while the dry run ran
        version = strategies.get_version(session, principal, checked.version.id)
    pin, params, rules = checked.pin, checked.params, checked.rules
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
            universe_selection=ctx.universe.model_dump() if isinstance(ctx.universe, UniverseSelection) else None,
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
    return BacktestCreated(backtest_id=read.id, backtest=read, warnings=pin.warnings)


def get_backtest(session: Session, principal: Principal, backtest_id: uuid.UUID) -> BacktestRead:
    """One of the caller's backtests."""
    return backtest_read(owned_backtest(session, principal, backtest_id))


def list_backtests(session: Session, principal: Principal, page: PageParams) -> Page[BacktestRead]:
    """The caller's backtests, newest first."""
    rows, total = repo.list_backtests(session, principal.user_id, page.limit, page.offset)
    return Page[BacktestRead](items=[backtest_read(r) for r in rows], total=total, limit=page.limit, offset=page.offset)
