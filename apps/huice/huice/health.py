"""Liveness and readiness: what `/health`, `/ready` and `huice doctor` report.

`/ready` runs seven checks; only the four in `GATES` (PostgreSQL, Redis, migrations at head, a live worker)
decide `ready`. The data provider, the scheduler and the storage (where bars and artifacts live: the local
data directory or the S3 bucket of `HUICE_STORAGE_URL`, probed with one HEAD; never a credential) are
reported beside them with their own `ok` but never gate: a Tushare outage or a late maintenance tick must not
take the API out of a load balancer. `huice
doctor` adds the configuration, the sandbox's layers and the data's freshness, and renders everything as a
checklist (`checklist()`): one line per check, ✓ / ⚠ / ✗ with the figure.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from huice.bootstrap import Container
from huice.migrate import migration_state
from platform_core.db import redact_url
from platform_core.ids import utcnow

GATES = ("postgres", "redis", "migrations", "workers")
# A schedule whose next run is this far in the past is overdue: the tick (`huice serve` / `huice worker`,
# every 5 s) is not running or cannot reach the database.
OVERDUE_AFTER = timedelta(seconds=60)
# `/ready` is probed every few seconds: it reuses a provider probe this young instead of calling Tushare.
PROVIDER_PROBE_TTL_S = 60.0
PROVIDER_PROBE_TIMEOUT_S = 3.0
OK, WARN, FAIL = "ok", "warn", "fail"
MARKS = {OK: "✓", WARN: "⚠", FAIL: "✗"}


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


def readiness(container: Container, *, fresh_probe: bool = False) -> dict[str, Any]:
    """Each check with its verdict; `ready` when every check named in `gates` passed."""
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
        "data_provider": _check(lambda: provider_check(container, fresh=fresh_probe)),
        "scheduler": _check(lambda: scheduler_check(container)),
        "storage": _check(lambda: storage_check(container)),
    }
    return {"ready": all(checks[name]["ok"] for name in GATES), "gates": list(GATES), "checks": checks}


def provider_check(container: Container, *, fresh: bool = False) -> dict[str, Any]:
    """market_data's provider probe; without a token `ok` (offline sample data is a valid set-up), with one
    `ok` only when the probe call answered. Reused for `PROVIDER_PROBE_TTL_S` unless `fresh`."""
    from market_data import service as market
    from market_data.config import env_of

    cached = container.extras.get("provider_probe")
    if not fresh and cached is not None and time.monotonic() - cached[0] < PROVIDER_PROBE_TTL_S:
        status = cached[1]
    else:
        status = market.provider_status(env_of(container), timeout=PROVIDER_PROBE_TIMEOUT_S).model_dump(mode="json")
        container.extras["provider_probe"] = (time.monotonic(), status)
    return {"ok": status["reachable"] is not False, **status}


def storage_check(container: Container) -> dict[str, Any]:
    """Where bars and artifacts live (backend, bucket, prefix, endpoint — no credentials), and a HEAD of one
    key to show the store answers."""
    storage = container.storage
    # `/ready` answers anyone: a local store is named by its backend, never by this machine's path
    described = {k: v for k, v in storage.describe().items() if k != "root"}
    try:
        storage.exists("health/probe")
    except Exception as exc:  # reported with where it was looking, never raised
        return {"ok": False, **described, "error": type(exc).__name__ + ": " + str(exc).splitlines()[0][:200]}
    return {"ok": True, **described}


def scheduler_check(container: Container, now: datetime | None = None) -> dict[str, Any]:
    """monitoring's persisted maintenance schedules with their next and last runs; `ok` when none is overdue."""
    from monitoring import service as monitoring

    now = now or utcnow()
    with container.db.transaction() as session:
        rows = monitoring.schedule_states(session)
    schedules = [
        {
            "name": r.name,
            "enabled": r.enabled,
            "next_run_at": r.next_run_at.isoformat(),
            "last_run_at": r.last_run_at.isoformat() if r.last_run_at else None,
            "overdue": r.enabled and r.next_run_at < now - OVERDUE_AFTER,
        }
        for r in rows
    ]
    return {"ok": not any(s["overdue"] for s in schedules), "schedules": schedules}


def doctor(container: Container) -> dict[str, Any]:
    """Readiness (with a fresh provider probe) plus configuration sanity, the sandbox's layers on this kernel
    and the data's freshness, for operators; `checklist` is the same report as ✓/⚠/✗ lines."""
    settings = container.settings
    report = readiness(container, fresh_probe=True)
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
        "storage": container.storage.describe(),
    }
    try:
        report["workers"] = live_workers(container)
    except Exception:
        report["workers"] = []
    report["sandbox"] = _check(sandbox_layers)
    provider = {k: v for k, v in report["checks"]["data_provider"].items() if k not in ("ok", "latency_ms")}
    report["data_provider"] = {"tushare_token": bool(provider.get("token_configured")), **provider}
    report["schedules"] = report["checks"]["scheduler"].get("schedules", [])
    report["data_freshness"] = _check(lambda: freshness(container))
    report["checklist"] = checklist(report)
    return report


def sandbox_layers() -> dict[str, Any]:
    """The confined runner's layers on this kernel (Landlock ABI and signal scoping, seccomp, rlimits), which
    of them stop signals to other processes, and a real confined run."""
    from strategy_management import service as strategies

    return strategies.sandbox_report()


def freshness(container: Container) -> dict[str, Any]:
    """market_data's published freshness: the newest snapshot, its last daily bar, sessions behind today."""
    from market_data import service as market
    from market_data.config import env_of

    with container.db.transaction() as session:
        fresh = market.data_freshness(session, env_of(container))
    snapshot = fresh.newest_snapshot
    return {
        "newest_snapshot": str(snapshot.id) if snapshot else None,
        "source": snapshot.source if snapshot else None,
        "last_daily_date": fresh.last_daily_date.isoformat() if fresh.last_daily_date else None,
        "sessions_behind": fresh.sessions_behind,
        "tushare_token_configured": fresh.tushare_token_configured,
    }


# --- the checklist --------------------------------------------------------------------------------------


def checklist(report: dict[str, Any]) -> list[dict[str, str]]:
    """The doctor report as lines a person reads: `{"check", "status": ok|warn|fail, "text"}`; the figure in
    the text (latency, N of M workers, the kernel's layers, next/last runs)."""
    checks, config = report["checks"], report["config"]
    lines = [
        _line("postgres", checks["postgres"], lambda c: f"{c['latency_ms']:g} ms"),
        _line("redis", checks["redis"], lambda c: f"{c['latency_ms']:g} ms"),
        _line("migrations", checks["migrations"], _migrations_text),
        _workers_line(checks["workers"], config["workers_configured"]),
        _sandbox_line(report["sandbox"]),
        _secret_line(config),
        _provider_line(checks["data_provider"]),
        _storage_line(checks["storage"]),
        *_schedule_lines(checks["scheduler"]),
        _freshness_line(report["data_freshness"]),
    ]
    return lines


def _entry(check: str, status: str, text: str) -> dict[str, str]:
    return {"check": check, "status": status, "text": text}


def _line(name: str, check: dict[str, Any], text) -> dict[str, str]:
    if not check["ok"]:
        return _entry(name, FAIL, check.get("error") or text(check))
    return _entry(name, OK, text(check))


def _migrations_text(c: dict[str, Any]) -> str:
    if c.get("at_head"):
        return f"at head ({len(c.get('heads', []))} branches)"
    missing = sorted(set(c.get("heads", [])) - set(c.get("current", [])))
    return f"not at head: {len(missing)} of {len(c.get('heads', []))} branches behind — run huice db upgrade"


def _workers_line(check: dict[str, Any], configured: int) -> dict[str, str]:
    if "error" in check:
        return _entry("workers", FAIL, check["error"])
    alive = check.get("alive", 0)
    text = f"{alive} of {configured} configured alive"
    if alive == 0:
        return _entry("workers", FAIL, text + " — start huice serve or huice worker")
    return _entry("workers", OK if alive >= configured else WARN, text)


def _sandbox_line(s: dict[str, Any]) -> dict[str, str]:
    if not s["ok"]:
        return _entry("sandbox", FAIL, s.get("error") or "the confined probe run failed")
    landlock = s.get("landlock") or {}
    layers = ["seccomp" if s.get("seccomp") else "no seccomp"]
    layers.append(f"landlock ABI {landlock['abi']}" if landlock.get("abi") else "no landlock")
    signals = ", ".join(s.get("signals_stopped_by") or []) or "nothing"
    return _entry("sandbox", OK, f"{' + '.join(layers)} on {s.get('kernel')}; signals stopped by {signals}")


def _secret_line(config: dict[str, Any]) -> dict[str, str]:
    if not config["default_secret"]:
        return _entry("secret", OK, "HUICE_SECRET_KEY set")
    if config["env"] == "production":
        return _entry("secret", WARN, "the default secret in production — set HUICE_SECRET_KEY")
    return _entry("secret", OK, f"dev default ({config['env']}; set HUICE_SECRET_KEY in production)")


def _provider_line(c: dict[str, Any]) -> dict[str, str]:
    if "error" in c and "token_configured" not in c:
        return _entry("data provider", FAIL, c["error"])
    if not c["token_configured"]:
        return _entry("data provider", WARN, "no Tushare token: offline sample data only (set TUSHARE_TOKEN)")
    if c["reachable"]:
        return _entry("data provider", OK, f"tushare: token set, reachable in {c['latency_ms']:g} ms")
    return _entry("data provider", FAIL, f"tushare: token set, unreachable: {c.get('error')}")


def _storage_line(c: dict[str, Any]) -> dict[str, str]:
    if c.get("backend") == "s3":
        where = f"s3://{c['bucket']}/{c['prefix']}".rstrip("/") + (
            f" at {c['endpoint_url']}" if c["endpoint_url"] else ""
        )
        if not c["ok"]:
            return _entry("storage", FAIL, f"{where} unreachable — {c.get('error')}")
        return _entry("storage", OK, f"{where}, reachable in {c['latency_ms']:g} ms")
    if not c["ok"]:
        return _entry("storage", FAIL, c.get("error", "unknown"))
    return _entry("storage", OK, "local data directory (set HUICE_STORAGE_URL=s3://… to share it across machines)")


def _schedule_lines(c: dict[str, Any]) -> list[dict[str, str]]:
    if "schedules" not in c:
        return [_entry("scheduler", FAIL, c.get("error", "unknown"))]
    if not c["schedules"]:
        return [_entry("scheduler", WARN, "no schedules yet (huice serve or huice worker creates them)")]
    return [_schedule_line(s) for s in c["schedules"]]


def _schedule_line(s: dict[str, Any]) -> dict[str, str]:
    name = f"schedule {s['name']}"
    if not s["enabled"]:
        return _entry(name, OK, "disabled")
    last = _stamp(s["last_run_at"]) if s["last_run_at"] else "never"
    text = f"next {_stamp(s['next_run_at'])}, last {last}"
    if s["overdue"]:
        return _entry(name, WARN, f"overdue: {text} — is huice serve or huice worker running?")
    return _entry(name, OK, text)


def _stamp(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")


def _freshness_line(c: dict[str, Any]) -> dict[str, str]:
    if not c["ok"]:
        return _entry("data freshness", FAIL, c.get("error", "unknown"))
    if c["newest_snapshot"] is None:
        return _entry("data freshness", WARN, "no market data yet — huice data load-sample or huice data sync")
    behind = c["sessions_behind"]
    text = f"{c['source']} data to {c['last_daily_date']}"
    text += f", {behind} sessions behind" if behind is not None else ", beyond the stored calendar"
    stale = c["tushare_token_configured"] and (behind is None or behind > 1)
    return _entry("data freshness", WARN if stale else OK, text)


def render_checklist(report: dict[str, Any]) -> str:
    """The doctor report as text: `✓ postgres        3.1 ms`, one check a line, then the verdict naming the
    gating checks that failed."""
    lines = report["checklist"]
    width = max(len(line["check"]) for line in lines)
    body = [f"{MARKS[line['status']]} {line['check'].ljust(width)}  {line['text']}" for line in lines]
    failed = [name for name in report["gates"] if not report["checks"][name]["ok"]]
    verdict = "ready" if report["ready"] else f"not ready ({', '.join(failed)} failed)"
    return "\n".join([*body, "", f"huice is {verdict}"])
