"""Reads shared by the use cases: the caller's backtest or run (NOT_FOUND for another owner's, exactly like a
missing one) and the backtest row as its schema."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from backtest import repository as repo
from backtest.schemas import BacktestRead, ContextRead, Rules, StrategyPin, UniverseSelection, Window
from platform_core.errors import NotFound
from user_auth.principal import Principal


def owned_backtest(session: Session, principal: Principal, backtest_id: uuid.UUID) -> repo.BacktestRow:
    row = repo.get_backtest(session, principal.user_id, backtest_id)
    if row is None:
        raise NotFound("backtest not found", details={"backtest_id": str(backtest_id)})
    return row


def owned_run(
    session: Session, principal: Principal, run_id: uuid.UUID, backtest_id: uuid.UUID | None = None
) -> repo.RunRow:
    row = repo.get_run(session, principal.user_id, run_id)
    if row is None or (backtest_id is not None and row.backtest_id != backtest_id):
        raise NotFound("run not found", details={"run_id": str(run_id)})
    return row


def backtest_read(row: repo.BacktestRow) -> BacktestRead:
    return BacktestRead(
        id=row.id,
        strategy=StrategyPin(
            strategy_id=row.strategy_id,
            version_id=row.version_id,
            strategy_name=row.strategy_name,
            version_number=row.version_number,
            content_hash=row.content_hash,
        ),
        context=ContextRead(
            universe=list(row.universe),
            selection=UniverseSelection(**row.universe_selection) if row.universe_selection else None,
            frequency=row.frequency,
            window=Window(start=row.start_date, end=row.end_date),
            datasource=row.data_source,
            datasource_version=row.snapshot_id,
            adjust=row.adjust,
            initial_cash=row.initial_cash,
            benchmark=row.benchmark,
            rules=Rules(**row.rules),
        ),
        params=dict(row.params),
        notes=row.notes,
        created_at=row.created_at,
    )
