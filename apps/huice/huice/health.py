"""Liveness and readiness: what `/health`, `/ready` and `huice doctor` report."""

from __future__ import annotations

import time
from typing import Any

from huice.bootstrap import Container
from huice.migrate import migration_state
from platform_core.db import redact_url


def _check(fn) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = fn() or {}
        ok = bool(detail.pop("ok", True))
    except Exception as exc:  # a readiness probe reports failures, it never raises
        ok, detail = False, {"error": type(exc).__name__ + ": " + str(exc).splitlines()[0][:200]}
    return {"ok": ok, "latency_ms": round((time.perf_counter() - started) * 1000, 1), **detail}


def live_workers(container: Container) -> list[dict[str, Any]]:
    """RQ workers whose heartbeat is recent enough (job_orchestration's one definition of a live worker)."""
    from job_orchestration import service as jobs
    from job_orchestration.config import env_of

    return [
        {**w.model_dump(), "last_heartbeat": w.last_heartbeat.isoformat()} for w in jobs.live_workers(env_of(container))
    ]


def readiness(container: Container) -> dict[str, Any]:
    """Each check with its verdict; `ready` only when all pass."""
    checks = {
        "postgres": _check(lambda: container.db.ping()),
        "redis": _check(lambda: {"ok": bool(container.redis.ping())}),
        "migrations": _check(
            lambda: (
                (s := migration_state(container.db.engine, container.servers.database_url))
                and {"ok": s["at_head"], **s}
            )
        ),
        "workers": _check(lambda: (w := live_workers(container)) is not None and {"ok": len(w) > 0, "alive": len(w)}),
    }
    return {"ready": all(c["ok"] for c in checks.values()), "checks": checks}


def doctor(container: Container) -> dict[str, Any]:
    """Readiness plus configuration sanity and the sandbox's layers on this kernel, for operators."""
    settings = container.settings
    report = readiness(container)
    report["config"] = {
        "env": settings.env,
        "data_dir": str(settings.resolved_data_dir),
        "database": redact_url(container.servers.database_url),
        "redis": redact_url(container.servers.redis_url)
        if "@" in container.servers.redis_url
        else container.servers.redis_url,
        "embedded": container.servers.embedded,
        "default_secret": settings.secret_key.get_secret_value().startswith("dev-secret"),
        "workers_configured": settings.workers,
    }
    try:
        report["workers"] = live_workers(container)
    except Exception:
        report["workers"] = []
    report["sandbox"] = _check(sandbox_layers)
    report["data_provider"], report["schedules"] = _provider_and_schedules(container)
    return report


def sandbox_layers() -> dict[str, Any]:
    """The confined runner's layers on this kernel (Landlock ABI and signal scoping, seccomp, rlimits), which
    of them stop signals to other processes, and a real confined run."""
    from strategy_management import service as strategies

    return strategies.sandbox_report()


def _provider_and_schedules(container: Container) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Whether a Tushare token is configured, and monitoring's maintenance schedules (next/last run)."""
    from market_data.config import env_of as market_env_of
    from monitoring import service as monitoring

    provider = {"tushare_token": market_env_of(container).settings.tushare_token is not None}
    try:
        with container.db.transaction() as session:
            rows = monitoring.schedule_states(session)
            schedules = [
                {
                    "name": r.name,
                    "enabled": r.enabled,
                    "next_run_at": r.next_run_at.isoformat(),
                    "last_run_at": r.last_run_at.isoformat() if r.last_run_at else None,
                }
                for r in rows
            ]
    except Exception as exc:  # a report, never a failure
        schedules = [{"error": type(exc).__name__}]
    return provider, schedules
