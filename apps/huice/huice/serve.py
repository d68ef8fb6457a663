"""`huice serve` and `huice worker`: servers up, migrations, supervised API and worker processes, clean stop."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable

from huice import migrate
from huice.bootstrap import Servers, start_servers
from huice.supervisor import Supervisor
from platform_core.settings import CoreSettings

log = logging.getLogger("huice.serve")


def _child_env(settings: CoreSettings, servers: Servers) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.update(
        {
            "HUICE_DATABASE_URL": servers.database_url,
            "HUICE_REDIS_URL": servers.redis_url,
            "HUICE_DATA_DIR": str(settings.resolved_data_dir),
        }
    )
    return env


def api_command(settings: CoreSettings, *, host: str | None = None, port: int | None = None) -> list[str]:
    """The command of the API process. uvicorn's own proxy-header handling is off (by default it believes
    X-Forwarded-For from 127.0.0.1, and FORWARDED_ALLOW_IPS would widen that): the app trusts forwarded headers
    only from HUICE_TRUSTED_PROXIES (`huice.api`). One process is plain uvicorn; with `HUICE_API_WORKERS` > 1,
    `huice.api_processes`: one acceptor on the port dealing the connections round robin to that many uvicorn
    server processes (each builds its own container; state shared between requests lives in
    PostgreSQL/Redis), all in the API's process group, so stopping it stops them all. (uvicorn's own
    `--workers` let one process accept a whole burst of connections and the others idle.)"""
    host, port = host or settings.api_host, str(port or settings.api_port)
    if settings.api_workers > 1:
        return [
            sys.executable, "-m", "huice.api_processes", "--host", host, "--port", port,
            "--workers", str(settings.api_workers), "--timeout-graceful-shutdown", "5",
        ]  # fmt: skip
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "huice.api:app_factory",
        "--factory",
        "--host",
        host,
        "--port",
        port,
        "--no-proxy-headers",
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "5",
    ]


def _install_signal_handlers(stop: Callable[[], None]) -> None:
    def handler(signum, frame):
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def run(
    settings: CoreSettings,
    *,
    api: bool,
    workers: int,
    host: str | None = None,
    port: int | None = None,
    run_migrations: bool = True,
    on_ready: Callable[[Servers], None] | None = None,
) -> int:
    """Run until SIGINT/SIGTERM; returns the exit code. Stops children before the embedded servers."""
    servers = start_servers(settings)
    supervisor = Supervisor()
    maintenance = None
    _install_signal_handlers(supervisor.stopping.set)
    try:
        if run_migrations:
            migrate.upgrade(servers.database_url)
            log.info("database migrated to head")
        env = _child_env(settings, servers)
        python = sys.executable
        if api:
            supervisor.add("api", api_command(settings, host=host, port=port), env)
        for i in range(workers):
            supervisor.add(f"worker-{i + 1}", [python, "-m", "huice", "worker-process"], env)
        supervisor.start_all()
        maintenance = _start_job_maintenance(settings, servers)
        if on_ready is not None:
            on_ready(servers)
        log.info("huice running", extra={"api": api, "workers": workers, "embedded": servers.embedded})
        supervisor.run_until_stopped()
        return 0
    finally:
        if maintenance is not None:
            maintenance.stop()
        supervisor.stop_all()
        servers.stop()
        log.info("huice stopped")


class _JobMaintenance:
    """The job reaper/dispatcher thread and monitoring's schedule tick of the supervising process, with the
    container they run on."""

    def __init__(self, settings: CoreSettings, servers: Servers) -> None:
        from huice.bootstrap import build_container, start_error_tracking
        from job_orchestration.config import env_of
        from job_orchestration.maintenance import MaintenanceLoop

        # a Servers copy without the embedded handles: closing this container must not stop the servers
        from monitoring.config import env_of as monitoring_env_of
        from monitoring.jobs import ScheduleLoop

        self.container = build_container(settings, servers=Servers(servers.database_url, servers.redis_url))
        start_error_tracking(self.container, "maintenance")
        self.loop = MaintenanceLoop(env_of(self.container)).start()
        # monitoring's persisted schedules (alerts, retention, Tushare refresh) are submitted as jobs here
        self.schedules = ScheduleLoop(monitoring_env_of(self.container)).start()

    def stop(self) -> None:
        self.schedules.stop()
        self.loop.stop()
        self.container.close()


def _start_job_maintenance(settings: CoreSettings, servers: Servers) -> _JobMaintenance:
    """Reap dead/lost jobs and admit waiting ones periodically (in `huice serve` and `huice worker`)."""
    return _JobMaintenance(settings, servers)
