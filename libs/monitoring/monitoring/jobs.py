"""The maintenance job kinds (registered by the composition app with job_orchestration) and the schedule
tick: each handler parses its payload and makes one service call in the lease-checked transaction.

- `monitoring.evaluate_alerts` → `service.evaluate_alerts`
- `monitoring.retention` → `service.run_retention`
- `monitoring.tushare_refresh` → `service.tushare_refresh`

`ScheduleLoop` is the tick: a daemon thread of the supervising process (`huice serve`, `huice worker`)
that submits the due schedules every `interval_s` seconds (`service.run_due`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from monitoring import service
from monitoring.config import MonitoringEnv
from monitoring.service.schedules import EVALUATE_KIND, RETENTION_KIND
from monitoring.service.summary import TUSHARE_REFRESH_KIND

log = logging.getLogger("monitoring.schedules")
Handler = Callable[[Any], dict[str, Any]]


def handlers(env: MonitoringEnv) -> dict[str, tuple[Handler, int]]:
    """Each kind's handler bound to this process's env, with its wall budget (s)."""

    def evaluate(ctx: Any) -> dict[str, Any]:
        with ctx.transaction() as session:
            report = service.evaluate_alerts(session, env)
        return {
            "firing": [v.rule for v in report.verdicts if v.firing],
            "transitions": [f"{t.rule}:{t.transition}" for t in report.transitions],
            "notified": report.notified,
        }

    def retention(ctx: Any) -> dict[str, Any]:
        with ctx.transaction() as session:
            return service.run_retention(session, env).model_dump(mode="json")

    def refresh(ctx: Any) -> dict[str, Any]:
        days = int(ctx.payload.get("days", env.settings.tushare_refresh_days))

        def progress(stage: str, done: int, total: int) -> None:
            ctx.progress(100.0 * done / total if total else 0.0, stage)

        # not ctx.transaction(): it locks the job's row for the whole sync, and every progress report updates
        # that row (it would wait forever); the lease is proven before the commit instead
        with env.db.transaction() as session:
            result = service.tushare_refresh(session, env, days=days, progress=progress)
            ctx.heartbeat()
        return result

    return {EVALUATE_KIND: (evaluate, 120), RETENTION_KIND: (retention, 900), TUSHARE_REFRESH_KIND: (refresh, 7200)}


class ScheduleLoop:
    """Submit the due schedules every `interval_s`; errors (database down) are logged and the loop goes on."""

    def __init__(self, env: MonitoringEnv, interval_s: float = 5.0) -> None:
        self.env = env
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="monitoring-schedules", daemon=True)

    def start(self) -> ScheduleLoop:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def tick(self) -> int:
        with self.env.db.transaction() as session:
            return len(service.run_due(session, self.env))

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except Exception as exc:  # keep going through database/Redis outages
                log.warning("schedule tick failed: %s", type(exc).__name__)
