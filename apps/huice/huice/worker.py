"""One RQ worker process: bootstrap the container, then take work from the priority queues."""

from __future__ import annotations

import logging
import os
import socket

from rq import Queue, Worker
from rq.serializers import JSONSerializer

from huice.bootstrap import build_container
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
    worker = Worker(queues(container.redis), connection=container.redis, name=name, serializer=JSONSerializer)
    log.info("worker %s listening on %s", name, ",".join(QUEUE_NAMES))
    try:
        worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level.upper())
    finally:
        container.close()
