"""The periodic upkeep of the job runtime: `MaintenanceLoop` runs the reaper's use cases (`service.dispatch`,
`service.reap`) in the supervising process of `huice serve` / `huice worker`. Several loops may run at once
(an advisory lock lets one reaper pass run at a time, rows are taken with SKIP LOCKED).
"""

from __future__ import annotations

import logging
import threading

from job_orchestration import service
from job_orchestration.config import JobsEnv

log = logging.getLogger("job_orchestration.reaper")


class MaintenanceLoop:
    """A daemon thread: `dispatch` every `dispatch_interval_s`, `reap` every `reap_interval_s`.

    Errors (PostgreSQL or Redis down) are logged and the loop carries on, so it comes back by itself.
    """

    def __init__(self, env: JobsEnv) -> None:
        self.env = env
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-maintenance", daemon=True)
        self._last_reap = 0.0

    def start(self) -> MaintenanceLoop:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def tick(self, monotonic_now: float) -> None:
        env = self.env
        if monotonic_now - self._last_reap >= env.settings.reap_interval_s:
            self._last_reap = monotonic_now
            with env.db.transaction() as session:
                report = service.reap(session, env)
            if any((report.retried, report.failed, report.cancelled, report.reenqueued)):
                log.warning("reaper: %s", report.model_dump(mode="json", exclude={"dispatched", "skipped"}))
        else:
            with env.db.transaction() as session:
                service.dispatch(session, env)

    def _run(self) -> None:
        import time

        settings = self.env.settings
        interval = min(settings.dispatch_interval_s, settings.reap_interval_s)
        while not self._stop.wait(interval):
            try:
                self.tick(time.monotonic())
            except Exception as exc:  # keep going through database/Redis outages
                log.warning("job maintenance pass failed: %s", type(exc).__name__)
