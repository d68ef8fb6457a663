"""The run use case (`service.run_backtest`: one attempt of a `backtest.run` job) in this process, on the
committed sample data, with a minimal in-process job context instead of a worker."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import polars as pl
import pytest
from sqlalchemy.orm import Session

from backtest import jobs, service
from backtest.config import env_of
from backtest.schemas import BacktestCreate, RunCreate, RunOutcome, RunRead
from huice.bootstrap import Container
from platform_core.cli import parse_model
from platform_core.errors import AppError
from tests.backtest import support

ARTIFACTS = ["equity", "fills", "logs", "orders", "positions", "trades"]


class Cancelled(Exception):
    """What a progress point raises once a cancel was requested (a worker's attempt raises `JobCancelled`)."""


class InProcessJob:
    """A minimal job context: the owner and payload, progress points recorded in `points` (from `cancel_at`
    on, a progress point raises `Cancelled`, as a requested cancel does), and units of work as plain
    transactions on the backtest database."""

    def __init__(self, bt: Container, owner_id: uuid.UUID, run_id: uuid.UUID, *, cancel_at: float | None = None):
        self.db, self.owner_id, self.payload, self.cancel_at = bt.db, owner_id, {"run_id": str(run_id)}, cancel_at
        self.points: list[tuple[float, str]] = []

    def progress(self, pct: float, message: str = "") -> None:
        if self.cancel_at is not None and pct >= self.cancel_at:
            raise Cancelled(message)
        self.points.append((pct, message))

    def transaction(self) -> AbstractContextManager[Session]:
        return self.db.transaction()


@pytest.fixture
def queued(bt: Container) -> Iterator[Callable[..., uuid.UUID]]:
    """Make a queued run of a new `ma_cross` backtest (strategy "in-process": once per user) of `user`;
    cancelled after the test, so that no worker of a later module picks its job up."""
    made: list[tuple[support.User, uuid.UUID]] = []

    def make(user: support.User, params: dict[str, Any]) -> uuid.UUID:
        body = support.backtest_body(strategyRef={"template": "ma_cross", "name": "in-process", "params": {}})
        with bt.db.transaction() as session:
            created = service.create_backtest(session, env_of(bt), user.principal, parse_model(BacktestCreate, body))
            [run_id] = service.submit_runs(
                session, env_of(bt), user.principal, created.backtest_id, RunCreate(params=params)
            ).run_ids
        made.append((user, run_id))
        return run_id

    yield make
    for user, run_id in made:
        with bt.db.transaction() as session:
            service.cancel_run(session, env_of(bt), user.principal, run_id)


def _read(bt: Container, user: support.User, run_id: uuid.UUID) -> RunRead:
    with bt.db.transaction() as session:
        return service.get_run(session, user.principal, run_id)


def _stored(bt: Container, run: RunRead) -> dict[str, bytes]:
    return {kind: env_of(bt).store.get(ref.path) for kind, ref in run.artifacts.items()}


def test_a_run_in_process_records_its_stats_manifest_and_artifacts(
    bt: Container, user: support.User, queued: Callable[..., uuid.UUID]
) -> None:
    run_id = queued(user, {"fast": 5, "slow": 20})
    job = InProcessJob(bt, user.id, run_id)
    outcome = service.run_backtest(env_of(bt), job, run_id)
    assert job.points == [
        (5, "loading 1d bars"),
        (20, "running strategy on 969 bars"),
        (60, "simulating"),
        (85, "writing artifacts"),
    ]
    run = _read(bt, user, run_id)
    assert outcome == RunOutcome(run_id=run_id, total_return=0.39184900999999983, sharpe=1.3767525269964382)
    assert (run.stats["total_return"], run.stats["sharpe"], run.stats["trade_count"]) == (
        outcome.total_return,
        outcome.sharpe,
        27,
    )
    snapshot = run.manifest["data"]["snapshot_id"]
    assert run.manifest["data"] == {
        "snapshot_id": snapshot,
        "source": "sample",
        "frequency": "1d",
        "universe": support.SYMBOLS,
        "window": support.WINDOW,
        "adjust": "qfq",
        "benchmark": support.BENCHMARK,
    }
    assert run.manifest["params"] == {"fast": 5, "slow": 20}
    assert run.manifest["strategy"]["strategy_name"] == "in-process"
    assert sorted(run.artifacts) == ARTIFACTS
    assert [(k, r.path, r.rows) for k, r in sorted(run.artifacts.items())] == [
        (kind, f"{user.id}/{run_id}/{kind}.parquet", rows)
        for kind, rows in zip(ARTIFACTS, [323, 56, 7, 56, 473, 27], strict=True)
    ]
    stored = _stored(bt, run)
    assert all(hashlib.sha256(stored[k]).hexdigest() == r.sha256 for k, r in run.artifacts.items())
    assert pl.read_parquet(io.BytesIO(stored["logs"]))["message"].to_list() == [
        f"snapshot {snapshot} (sample): 969 1d bars of 3 symbols, 2023-03-01..2024-06-28, adjust qfq, "
        "benchmark 000300.SH",
        'in-process v1 (sha256:c6d7a976973e) params {"fast":5,"slow":20}: 969 target rows',
        "engine 0.3.0, rulebook cn-a-share/2026.07.06-r2, preset a-share, fill next_open",
        'check limit_prices: {"from_data":969,"from_rules":0,"mismatches":0}',
        "56 orders, 56 fills, 27 round trips",
        "6 orders partial: INSUFFICIENT_CASH",
        "final equity 1391849.0100000002, total return 0.39184900999999983",
    ]


def test_a_retried_attempt_and_a_rerun_reproduce_the_same_results_byte_for_byte(
    bt: Container, user: support.User, queued: Callable[..., uuid.UUID]
) -> None:
    """The job handler parses its payload and returns the outcome; attempts replace artifacts with identical
    bytes, and a rerun (same version, params and snapshot) gives the same stats, manifest data and bytes."""
    run_id = queued(user, {"fast": 10, "slow": 40})
    handle = jobs.handler(env_of(bt))
    first = handle(InProcessJob(bt, user.id, run_id))
    run = _read(bt, user, run_id)
    stored = _stored(bt, run)
    assert first == {"run_id": str(run_id), "total_return": run.stats["total_return"], "sharpe": run.stats["sharpe"]}
    assert handle(InProcessJob(bt, user.id, run_id)) == first
    again = _read(bt, user, run_id)
    assert (again.stats, again.manifest, _stored(bt, again)) == (run.stats, run.manifest, stored)

    with bt.db.transaction() as session:
        [rerun_id] = service.rerun(session, env_of(bt), user.principal, run_id).run_ids
    service.run_backtest(env_of(bt), InProcessJob(bt, user.id, rerun_id), rerun_id)
    rerun = _read(bt, user, rerun_id)
    assert (rerun.rerun_of, rerun.params, rerun.stats, rerun.manifest) == (run_id, run.params, run.stats, run.manifest)
    assert _stored(bt, rerun) == stored
    with bt.db.transaction() as session:
        service.cancel_run(session, env_of(bt), user.principal, rerun_id)


def test_a_cancel_stops_the_attempt_at_the_next_progress_point_before_anything_is_written(
    bt: Container, user: support.User, queued: Callable[..., uuid.UUID]
) -> None:
    run_id = queued(user, {"fast": 5, "slow": 20})
    job = InProcessJob(bt, user.id, run_id, cancel_at=85)
    with pytest.raises(Cancelled):
        service.run_backtest(env_of(bt), job, run_id)
    assert [pct for pct, _ in job.points] == [5, 20, 60]
    run = _read(bt, user, run_id)
    assert (run.stats, run.manifest, run.artifacts) == (None, None, {})
    assert not env_of(bt).store.exists(f"{user.id}/{run_id}/equity.parquet")


def test_an_error_in_the_strategy_is_the_users_invalid_input_and_nothing_is_recorded(
    bt: Container, user: support.User, queued: Callable[..., uuid.UUID]
) -> None:
    run_id = queued(user, {"fast": 30, "slow": 20})
    job = InProcessJob(bt, user.id, run_id)
    with pytest.raises(AppError) as caught:
        service.run_backtest(env_of(bt), job, run_id)
    assert (caught.value.code, caught.value.message, caught.value.details["field"]) == (
        "INVALID_INPUT",
        "the strategy raised an error: fast: must be smaller than slow",
        "fast",
    )
    assert [pct for pct, _ in job.points] == [5, 20]
    assert _read(bt, user, run_id).stats is None


def test_an_attempt_acts_as_the_runs_owner_only(
    bt: Container, user: support.User, other_user: support.User, queued: Callable[..., uuid.UUID]
) -> None:
    run_id = queued(user, {"fast": 5, "slow": 20})
    job = InProcessJob(bt, other_user.id, run_id)
    with pytest.raises(AppError) as caught:
        service.run_backtest(env_of(bt), job, run_id)
    assert (caught.value.code, caught.value.message, job.points) == ("NOT_FOUND", "run not found", [])
    assert _read(bt, user, run_id).stats is None
