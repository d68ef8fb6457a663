"""`huice demo seed`: a demo account with results ready, built through each context's published services.

It creates (or finds) the demo user with a known password, accepts the research-use disclaimer for it,
loads the offline sample if no sample is loaded, copies three templates into strategies, creates one
backtest per strategy and runs it in this process through the same job runner the workers use
(`job_orchestration.attempt.execute` → the `backtest.run` handler). Idempotent: a second seed finds every
object by name and runs only what has no succeeded run yet. Refused in production unless forced.
A finished parameter sweep is not seeded: there is no optimisation feature yet to seed it with.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from platform_core.errors import Forbidden, InternalError, InvalidInput
from platform_core.pagination import PageParams

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "Demo-Huice-2026"  # noqa: S105 - the demo account's published password, printed once
SYMBOLS = ["600010.SH", "000010.SZ", "300010.SZ", "688010.SH"]
BENCHMARK = "000300.SH"
WINDOW = (date(2022, 1, 4), date(2024, 12, 31))
STRATEGIES: list[tuple[str, dict[str, Any]]] = [
    ("ma_cross", {"fast": 5, "slow": 20}),
    ("rsi_reversion", {}),
    ("bollinger_breakout", {}),
]
RUN_TIMEOUT_S = 300.0


@dataclass
class DemoResult:
    """What the seed did: the login, and per strategy its ids and the succeeded run."""

    email: str
    password: str | None = field(default=None, metadata={"doc": "only when the account was created now"})
    created_user: bool = False
    strategies: list[dict[str, Any]] = field(default_factory=list)
    runs_executed: int = 0
    sweep: dict[str, Any] | None = None


def parse_window(start: str | None, end: str | None) -> tuple[date, date]:
    """The demo window from `--start` / `--end` (defaults: `WINDOW`); INVALID_INPUT for a bad date."""
    try:
        return (date.fromisoformat(start) if start else WINDOW[0], date.fromisoformat(end) if end else WINDOW[1])
    except ValueError:
        raise InvalidInput("dates are YYYY-MM-DD", field="start" if start else "end") from None


def seed(
    container: Any,
    *,
    force: bool = False,
    symbols: list[str] | None = None,
    window: tuple[date, date] | None = None,
    benchmark: str | None = BENCHMARK,
    progress: Callable[[str], None] | None = None,
) -> DemoResult:
    """Seed the demo account (see the module doc). `symbols` / `window` must lie within the loaded sample."""
    from backtest import service as backtests
    from backtest.config import env_of as backtest_env
    from backtest.schemas import BacktestCreate, RunCreate
    from market_data import service as market
    from market_data.config import env_of as market_env
    from strategy_management import service as strategies
    from strategy_management.config import env_of as strategy_env
    from strategy_management.schemas import FromTemplate
    from user_auth import service as accounts
    from user_auth.config import env_of as auth_env

    if container.settings.env == "production" and not force:
        raise Forbidden("the demo account is not seeded in production mode; pass --force to do it anyway")
    say = progress or (lambda _message: None)
    symbols = symbols or SYMBOLS
    start, end = window or WINDOW
    result = DemoResult(email=DEMO_EMAIL)
    db = container.db
    with db.transaction() as session:
        loaded = market.load_sample(session, market_env(container), if_empty=True)
        say("sample data: " + ("already loaded" if loaded.skipped else f"loaded {loaded.rows} rows"))
        principal = accounts.find_account(session, DEMO_EMAIL)
        if principal is None:
            principal = accounts.create_user(session, auth_env(container), email=DEMO_EMAIL, password=DEMO_PASSWORD)
            result.created_user, result.password = True, DEMO_PASSWORD
        accounts.accept_disclaimer(session, principal)
    say(f"demo user {DEMO_EMAIL}: " + ("created" if result.created_user else "exists"))
    env = backtest_env(container)
    for template, params in STRATEGIES:
        name = f"demo {template}"
        with db.transaction() as session:
            existing = strategies.list_strategies(session, principal, PageParams(limit=200, offset=0), q=name)
            strategy = next((s for s in existing.items if s.name == name), None)
            if strategy is None:
                strategy = strategies.create_from_template(
                    session, strategy_env(container), principal, FromTemplate(template=template, name=name)
                )
            backtest = next(
                (
                    b
                    for b in backtests.list_backtests(session, principal, PageParams(limit=200, offset=0)).items
                    if b.notes == name
                ),
                None,
            )
            if backtest is None:
                body = BacktestCreate.model_validate(
                    {
                        "strategyRef": {"strategy_id": str(strategy.id), "params": params},
                        "context": {
                            "universe": symbols,
                            "frequency": "1d",
                            "window": {"start": start.isoformat(), "end": end.isoformat()},
                            "benchmark": benchmark,
                        },
                        "notes": name,
                    }
                )
                backtest = backtests.create_backtest(session, env, principal, body).backtest
            runs = backtests.list_runs(session, principal, PageParams(limit=200, offset=0), backtest_id=backtest.id)
            done = next((r for r in runs.items if r.status == "succeeded"), None)
            pending = None
            if done is None:
                pending = backtests.submit_runs(session, env, principal, backtest.id, RunCreate()).run_ids[0]
        if pending is not None:
            say(f"{name}: running")
            done = _run_here(container, principal, pending)
            result.runs_executed += 1
        say(f"{name}: run {done.run_id} {done.status}")
        result.strategies.append(
            {
                "template": template,
                "strategy_id": str(strategy.id),
                "backtest_id": str(backtest.id),
                "run_id": str(done.run_id),
                "status": done.status,
                "total_return": (done.stats or {}).get("total_return"),
            }
        )
    result.sweep = _sweep(container, principal, uuid.UUID(result.strategies[0]["backtest_id"]), say)
    return result


SWEEP_GRID = {"fast": [5, 10, 15, 20, 25], "slow": [30, 60]}  # 10 combinations: enough for DSR and PBO


def _sweep(container: Any, principal: Any, backtest_id: uuid.UUID, say: Callable[[str], None]) -> dict[str, Any]:
    """A finished grid sweep of the first demo backtest (10 combinations), its batches run in this process as
    the workers would; an earlier seed's finished sweep is reused."""
    from backtest import service as backtests
    from backtest.config import env_of as backtest_env
    from backtest.schemas import RunCreate
    from job_orchestration import attempt
    from job_orchestration.config import env_of as jobs_env

    page = PageParams(limit=50, offset=0)
    with container.db.transaction() as session:
        found = backtests.list_optimizations(session, principal, page, backtest_id=backtest_id).items
        sweep = next((o for o in found if o.status == "succeeded"), None)
        if sweep is None:
            body = RunCreate.model_validate({"mode": "grid", "gridSpec": SWEEP_GRID})
            opt_id = backtests.submit_runs(
                session, backtest_env(container), principal, backtest_id, body
            ).optimization_id
    if sweep is None:
        say("demo sweep: running 10 combinations")
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            with container.db.transaction() as session:
                sweep = backtests.get_optimization(session, backtest_env(container), principal, opt_id)
            queued = [b for b in sweep.batches if b.status == "queued"]
            if sweep.status in ("succeeded", "failed", "cancelled", "early_stopped") or not queued:
                if sweep.status in ("succeeded", "failed", "cancelled", "early_stopped"):
                    break
                time.sleep(0.5)
                continue
            job_id = queued[0].job_id
            attempt.execute(jobs_env(container), job_id, worker_name="demo-seed", pid=os.getpid(), kill=lambda: None)
        if sweep.status != "succeeded":
            raise InternalError(f"demo sweep {opt_id} ended {sweep.status}")
    say(f"demo sweep {sweep.optimization_id}: {sweep.status}, {sweep.evaluated} evaluated")
    best = sweep.best.model_dump(mode="json") if sweep.best else None
    return {"optimization_id": str(sweep.optimization_id), "status": sweep.status, "evaluated": sweep.evaluated,
            "best": best}  # fmt: skip


def _run_here(container: Any, principal: Any, run_id: uuid.UUID) -> Any:
    """One attempt of the run's job in this process (what a worker does); if a worker took it first, wait."""
    from backtest import service as backtests
    from job_orchestration import attempt
    from job_orchestration.config import env_of as jobs_env

    with container.db.transaction() as session:
        job_id = backtests.get_run(session, principal, run_id).job_id
    attempt.execute(jobs_env(container), job_id, worker_name="demo-seed", pid=os.getpid(), kill=lambda: None)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        with container.db.transaction() as session:
            run = backtests.get_run(session, principal, run_id)
        if run.status in ("succeeded", "failed", "cancelled"):
            if run.status != "succeeded":
                raise InternalError(f"demo run {run_id} ended {run.status}: {run.error.message if run.error else ''}")
            return run
        if time.monotonic() > deadline:
            raise InternalError(f"demo run {run_id} did not finish within {RUN_TIMEOUT_S:.0f} s")
        time.sleep(0.5)
