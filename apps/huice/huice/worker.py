"""One RQ worker process: bootstrap the container, then take work from the priority queues.

The worker class is job_orchestration's `ResilientWorker` (work-horses die with their worker; a Redis
restart does not end a busy worker; one spare work-horse, forked and warmed while the worker is idle, runs
the next job: `WARM_HORSE` is its warm-up). Its RQ heartbeat TTL is `HUICE_WORKER_HEARTBEAT_TTL`, so an idle
worker refreshes its heartbeat (every TTL − 15 s) within the live-worker window (`HUICE_JOBS_WORKER_ALIVE_S`)
that `/ready`, `huice doctor` and the queue statistics accept.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import socket

from rq.serializers import JSONSerializer

from huice.bootstrap import Container, build_container, start_error_tracking
from job_orchestration.jobs import prepare_work_horse
from job_orchestration.rq_worker import ResilientWorker, priority_queues
from platform_core.logging import configure_logging
from platform_core.runtime import set_runtime
from platform_core.settings import CoreSettings

log = logging.getLogger("huice.worker")


WARM_MODULES = (
    "numpy.ma",  # imported lazily on the engine's path: else every work-horse imports it again
    "quant.contract",
    "quant.market",
    "quant.kernel",
    "quant.kernel_plain",
    "quant.kernel_scalar",
    "quant.metrics",
    "quant.results",
    "quant.engine",
    "quant.grid",
    "quant.event",
    "quant.templates",
    "polars._utils.parquet",  # writing an artifact imports it (a module of Python only: no thread pool)
    "job_orchestration.jobs",  # the RQ entry point, which RQ imports by name in each work-horse
)


def prewarm(container: Container | None = None) -> None:
    """Do once in the worker parent what every forked work-horse would otherwise repeat: import the engine
    (its modules are loaded on first use), load the built-in templates, configure the ORM mappers, with
    `container` compile the statements of an attempt and of the job kinds into its engine's cache and set
    up its dialect (`job_orchestration.attempt.warm`, which closes the connections it used), and freeze
    the heap this leaves out of the garbage collector (`freeze_heap`). It computes nothing with polars: its
    thread pool, once started, does not survive `fork`, and a work-horse's first polars call would then
    wait forever (`tests/huice/test_worker_prewarm.py`)."""
    for name in WARM_MODULES:
        importlib.import_module(name)
    from sqlalchemy.orm import configure_mappers

    from quant.templates import TEMPLATE_NAMES, load_template

    for name in TEMPLATE_NAMES:
        load_template(name)
    configure_mappers()
    if container is not None:
        from job_orchestration.attempt import warm
        from job_orchestration.config import env_of

        warm(env_of(container))
    freeze_heap()


def freeze_heap() -> None:
    """Move everything the process holds now into the collector's permanent generation (`gc.freeze`; the
    worker parent before it forks, a served API process after start-up): a work-horse's (or a request's)
    collections then never traverse the start-up heap's ~10^5 objects — a full collection over them
    costs a horse tens of milliseconds and writes to (copy-on-write faults in) every page it touches.
    Objects made afterwards are collected as usual; the frozen ones live as long as the worker anyway."""
    gc.collect()
    gc.freeze()


def warm_engine() -> None:
    """A spare work-horse's warm-up step (`WARM_HORSE`): run the engine once on a small synthetic series,
    so that polars' thread pool starts in the horse itself (it could not be started in the parent, see
    `prewarm`) and the engine's first-call costs are paid while the worker is idle, not by the next job."""
    from quant import EngineConfig, run_backtest
    from quant.synthetic import gbm_bars

    run_backtest("ma_cross", gbm_bars(sessions=60), {"fast": 5, "slow": 20}, EngineConfig())


# what a spare work-horse does before it waits for its job (`ResilientWorker`): its own database
# connection first, then the engine
WARM_HORSE = (prepare_work_horse, warm_engine)


def start_zygote() -> None:
    """Start the confined runner's zygote in the worker parent, before the first fork: every work-horse
    then asks it for its confined child (forked, already imported, in milliseconds) instead of starting
    an interpreter per job. Without it (it could not start) the horses start their children themselves."""
    from strategy_management.confined_runner import wait_for_zygote

    if not wait_for_zygote(120):
        log.warning("the confined runner's zygote is unavailable: work-horses start their own children")


def run_worker_process(burst: bool = False) -> None:
    """Build everything before taking work (RQ forks a work-horse per job from this prepared process)."""
    settings = CoreSettings()
    configure_logging(settings.log_level, settings.log_format)
    container = build_container(settings)
    start_error_tracking(container, "worker")  # before the first fork: every work-horse inherits the client
    set_runtime(container)  # the one process-level hand-off: read only by the RQ entry job_orchestration.jobs.run
    prewarm(container)
    start_zygote()
    name = f"huice-{socket.gethostname()}-{os.getpid()}"
    ttl = settings.worker_heartbeat_ttl
    queues = priority_queues(container.redis)
    worker = ResilientWorker(
        queues,
        connection=container.redis,
        name=name,
        serializer=JSONSerializer,
        worker_ttl=ttl,
        job_monitoring_interval=max(1, ttl // 4),
        warm_horse=WARM_HORSE,
    )
    log.info("worker %s listening on %s", name, ",".join(q.name for q in queues))
    try:
        worker.work(burst=burst, logging_level=settings.log_level.upper())
    finally:
        container.close()
