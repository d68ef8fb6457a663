"""One RQ worker process: bootstrap the container, then take work from the priority queues.

The worker class is job_orchestration's `ResilientWorker` (work-horses die with their worker; a Redis
restart does not end a busy worker). Its RQ heartbeat TTL is `HUICE_WORKER_HEARTBEAT_TTL`, so an idle
worker refreshes its heartbeat well within the window the readiness check accepts.
"""

from __future__ import annotations

import logging
import os
import socket

from rq import Queue
from rq.serializers import JSONSerializer

from huice.bootstrap import build_container
from job_orchestration.rq_worker import ResilientWorker
from platform_core.logging import configure_logging
from platform_core.runtime import set_runtime
from platform_core.settings import CoreSettings

log = logging.getLogger("huice.worker")

QUEUE_NAMES = ("high", "default", "low")


def queues(connection) -> list[Queue]:
    """The priority queues, highest first (a worker drains `high` before `default` before `low`)."""
    return [Queue(name, connection=connection, serializer=JSONSerializer) for name in QUEUE_NAMES]


def run_worker_process(burst: bool = False) -> None:
    """Build everything before taking work (RQ forks a work-horse per job from this prepared process)."""
    settings = CoreSettings()
    configure_logging(settings.log_level, settings.log_format)
    container = build_container(settings)
    set_runtime(container)
    name = f"huice-{socket.gethostname()}-{os.getpid()}"
    ttl = settings.worker_heartbeat_ttl
    worker = ResilientWorker(
        queues(container.redis),
        connection=container.redis,
        name=name,
        serializer=JSONSerializer,
        worker_ttl=ttl,
        job_monitoring_interval=max(1, ttl // 4),
    )
    log.info("worker %s listening on %s", name, ",".join(QUEUE_NAMES))
    try:
        worker.work(burst=burst, logging_level=settings.log_level.upper())
    finally:
        container.close()
