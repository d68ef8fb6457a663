"""The RQ worker class huice runs: plain RQ `Worker` plus the guarantees RQ alone does not give.

- A work-horse dies with its worker (PR_SET_PDEATHSIG): no orphan keeps running a job whose worker was
  killed, so the reaper's retry never races an invisible first attempt.
- A Redis restart no longer makes a busy worker exit: failed heartbeats while a job runs are logged and
  retried at the next interval instead of ending the worker loop (and, with it, the work-horse); a worker
  that Redis forgot (restart without persistence) registers itself again.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import time

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Worker, worker_registration
from rq.serializers import JSONSerializer

from job_orchestration.domain import QUEUE_NAMES

log = logging.getLogger("job_orchestration.worker")

_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
_PR_SET_PDEATHSIG = 1


def priority_queues(connection) -> list[Queue]:
    """The RQ queues of `QUEUE_NAMES`, highest first (a worker drains `high` before `default` before `low`)."""
    return [Queue(name, connection=connection, serializer=JSONSerializer) for name in QUEUE_NAMES]


class ResilientWorker(Worker):
    """See the module doc."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._parent_pid = os.getpid()

    def main_work_horse(self, job, queue) -> None:
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except OSError:
            log.warning("PR_SET_PDEATHSIG unavailable; a killed worker may leave its work-horse running")
        if os.getppid() != self._parent_pid:  # the worker died before the line above took effect
            os._exit(1)
        super().main_work_horse(job, queue)

    def maintain_heartbeats(self, job, execution) -> None:
        try:
            super().maintain_heartbeats(job, execution)
        except _REDIS_DOWN as exc:
            log.warning("worker %s: heartbeat failed while a job runs (%s); retrying", self.name, type(exc).__name__)

    def heartbeat(self, timeout=None, pipeline=None) -> None:
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)
            return
        try:
            super().heartbeat(timeout)
            self._reregister_if_forgotten(timeout)
        except _REDIS_DOWN as exc:
            log.warning("worker %s: heartbeat failed (%s)", self.name, type(exc).__name__)

    def _reregister_if_forgotten(self, timeout) -> None:
        """After Redis lost its data (restart without persistence) the worker registers itself again."""
        if self.birth_date is None or self.connection.hexists(self.key, "birth"):
            return
        log.warning("worker %s: Redis forgot this worker; registering again", self.name)
        with self.connection.pipeline() as pipeline:
            pipeline.hset(self.key, mapping=self.serialize())
            worker_registration.register(self, pipeline)
            pipeline.expire(self.key, timeout or self.worker_ttl + 60)
            pipeline.execute()

    def execute_job(self, job, queue) -> None:
        try:
            super().execute_job(job, queue)
        except _REDIS_DOWN as exc:
            # the work-horse finished (or never started); only RQ's own bookkeeping failed.
            log.warning("worker %s: Redis unavailable around job %s (%s)", self.name, job.id, type(exc).__name__)
            if self.horse_pid:
                self.wait_for_horse()
            self._horse_pid = 0
            time.sleep(1.0)
