"""The context map of the composition root: which contexts exist and how each is plugged in.

Each context publishes (by convention) `<ctx>.api:router`, `<ctx>.cli:app` and its tables' metadata in
`<ctx>.repository:metadata`; optional wiring (own settings, job kinds) goes in a `wire_<ctx>` function
here, so contexts never import the app. Adding a context = one `ContextSpec` line (+ a wire function).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import APIRouter
    from sqlalchemy import MetaData
    from typer import Typer

    from huice.bootstrap import Container


@dataclass(frozen=True)
class ContextSpec:
    name: str
    cli_name: str | None
    cli_help: str = ""
    has_api: bool = True
    has_tables: bool = True
    wire: Callable[[Container], None] | None = None

    def _attr(self, module: str, attr: str) -> Any:
        return getattr(importlib.import_module(f"{self.name}.{module}"), attr)

    def router(self) -> APIRouter | None:
        return self._attr("api", "router") if self.has_api else None

    def root_router(self) -> APIRouter | None:
        """Routes served outside `/api` (e.g. backtest's public share pages `/s/{token}`), if any."""
        if not self.has_api:
            return None
        return getattr(importlib.import_module(f"{self.name}.api"), "root_router", None)

    def cli(self) -> Typer | None:
        return self._attr("cli", "app") if self.cli_name else None

    def metadata(self) -> MetaData | None:
        return self._attr("repository", "metadata") if self.has_tables else None


def wire_user_auth(container: Container) -> None:
    """user_auth: its settings (HUICE_AUTH_*), signed with the platform secret, plus DB, throttle and rate limiter."""
    from job_orchestration.config import JobSettings
    from user_auth.config import UserAuthSettings, build_env

    settings = UserAuthSettings(secret_key=container.settings.secret_key)
    # the catalogue shows the concurrency job_orchestration enforces (HUICE_JOBS_PLAN_LIMITS)
    env = build_env(settings, container.db, container.servers.redis_url, concurrent_jobs=JobSettings().plan_limits)
    container.extras["user_auth"] = env
    container.extras.setdefault("_closers", []).append(env.close)


def wire_job_orchestration(container: Container) -> None:
    """job_orchestration: its settings (HUICE_JOBS_*), the job-kind registry (with the diagnostic kinds),
    the database and Redis it runs on; then market_data's sync on it (wired before the runtime existed)."""
    from job_orchestration.config import JobSettings, build_env

    container.extras["job_orchestration"] = build_env(
        JobSettings(), container.db, container.redis, container.servers.redis_url
    )
    wire_market_data_jobs(container)


def wire_market_data_jobs(container: Container) -> None:
    """The `market_data.sync` job kind and the port market_data submits it through (`SyncJobs`)."""
    from huice.market_sync import JobRuntimeSyncJobs
    from job_orchestration.config import env_of as jobs_env_of
    from market_data.config import env_of as market_env_of
    from market_data.jobs import SYNC_BUDGET_S, SYNC_KIND, SYNC_MAX_ATTEMPTS, handler

    jobs_env, market_env = jobs_env_of(container), market_env_of(container)
    market_env.jobs = JobRuntimeSyncJobs(jobs_env)
    jobs_env.registry.register(
        SYNC_KIND,
        handler(market_env, container.db),
        queue="low",
        max_attempts=SYNC_MAX_ATTEMPTS,
        budget_s=SYNC_BUDGET_S,
    )


def wire_market_data(container: Container) -> None:
    """market_data: its settings (Tushare token/URL/rates), the Parquet store under `market/` of the storage
    (`<data_dir>/market`, or `s3://…/market` with HUICE_STORAGE_URL) and the Redis that carries the Tushare
    rate budget shared by every process."""
    from market_data.config import build_env

    container.extras["market_data"] = build_env(
        container.settings.resolved_data_dir, redis_url=container.servers.redis_url, storage=container.storage
    )


def wire_strategy_management(container: Container) -> None:
    """strategy_management: its settings (HUICE_STRATEGY_*), the confined runner's limits and the admission
    of interactive runs, which counts each user's runs in Redis (its own client with short timeouts)."""
    from redis import Redis

    from strategy_management.config import StrategySettings, build_env

    redis = Redis.from_url(container.servers.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    env = build_env(StrategySettings(), redis)
    container.extras["strategy_management"] = env
    container.extras.setdefault("_closers", []).append(env.admission.close)


def one_job_spares(run: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A job kind that may run strategy code: a work-horse serves one job, which mostly makes one confined
    call, so a taken warm child is not replaced (the job itself starts one, through
    `strategy_management.service.warm_runner`, only when it has user code to run: a template runs in
    process, and a spare started for it would take a core from the run)."""
    from strategy_management.confined_runner import configure_spares

    def job(ctx: Any) -> Any:
        configure_spares(replenish=False)
        return run(ctx)

    return job


def wire_backtest(container: Container) -> None:
    """backtest: its settings (HUICE_BACKTEST_*), the artifact store under `artifacts/` of the storage, and the
    `backtest.run` and `backtest.optimize` job kinds registered with job_orchestration (which never imports
    backtest); user_auth's env for counting runs against the plan's monthly quota."""
    from backtest.config import build_env
    from backtest.jobs import KIND, OPTIMIZE_KIND, batch_ended, handler, optimize_handler, warm
    from job_orchestration.config import env_of as jobs_env_of
    from market_data.config import env_of as market_env_of
    from user_auth.config import env_of as auth_env_of

    env = build_env(
        container.settings.resolved_data_dir,
        storage=container.storage,
        market=market_env_of(container),
        strategies=container.extras["strategy_management"],
        jobs=jobs_env_of(container),
        redis_url=container.servers.redis_url,
        auth=auth_env_of(container),
    )
    container.extras["backtest"] = env
    if env.throttle is not None:
        container.extras.setdefault("_closers", []).append(env.throttle.close)
    jobs_env_of(container).registry.register(
        KIND,
        one_job_spares(handler(env)),
        queue="default",
        max_attempts=env.settings.max_attempts,
        budget_s=env.settings.default_budget_s,
        warm=warm,
    )
    jobs_env_of(container).registry.register(
        OPTIMIZE_KIND,
        one_job_spares(optimize_handler(env)),
        queue="default",
        max_attempts=env.settings.max_attempts,
        budget_s=env.settings.default_budget_s,
        on_ended=batch_ended(env),
    )


def wire_monitoring(container: Container) -> None:
    """monitoring: its settings (HUICE_MONITOR_*, HUICE_METRICS_TOKEN), the envs of the
    contexts it reads, this process's HTTP metrics, and its maintenance job kinds registered with
    job_orchestration (alert evaluation, retention, the daily Tushare refresh)."""
    from backtest.config import env_of as backtest_env_of
    from job_orchestration.config import env_of as jobs_env_of
    from market_data.config import env_of as market_env_of
    from monitoring.config import MonitoringSettings, build_env
    from monitoring.jobs import handlers
    from user_auth.config import env_of as auth_env_of

    env = build_env(
        MonitoringSettings(),
        container.db,
        container.settings.resolved_data_dir,
        auth=auth_env_of(container),
        market=market_env_of(container),
        jobs=jobs_env_of(container),
        backtest=backtest_env_of(container),
    )
    container.extras["monitoring"] = env
    registry = jobs_env_of(container).registry
    for kind, (handler, budget_s) in handlers(env).items():
        registry.register(kind, handler, queue="low", max_attempts=2, budget_s=budget_s)


CONTEXTS: list[ContextSpec] = [
    ContextSpec("user_auth", "auth", "Accounts, logins, API keys, roles and the audit log.", wire=wire_user_auth),
    ContextSpec(
        "market_data",
        "data",
        "Market data: sample/Tushare bars, calendar, instruments, snapshots.",
        wire=wire_market_data,
    ),
    ContextSpec(
        "job_orchestration", "jobs", "Jobs: status, cancel, retry, events; queue stats.", wire=wire_job_orchestration
    ),
    ContextSpec(
        "strategy_management",
        "strategy",
        "Strategies: versions, templates, validation, export/import.",
        wire=wire_strategy_management,
    ),
    ContextSpec(
        "backtest",
        "backtest",
        "Backtests: runs on the service (create, run, follow, export); local runs.",
        wire=wire_backtest,
    ),
    ContextSpec(
        "monitoring",
        "monitor",
        "Monitoring: operations summary, alerts, maintenance schedules (admins).",
        wire=wire_monitoring,
    ),
]


def configure_contexts(container: Container) -> None:
    """Let each context wire itself into the container (settings, job kinds) — called once at start-up."""
    for spec in CONTEXTS:
        if spec.wire is not None:
            spec.wire(container)
    from huice.transport import in_process_client

    container.extras["cli_client"] = in_process_client


def all_metadata() -> list[MetaData]:
    return [md for spec in CONTEXTS if (md := spec.metadata()) is not None]
