"""The RQ worker class huice runs: plain RQ `Worker` plus the guarantees RQ alone does not give.

- A work-horse dies with its worker (PR_SET_PDEATHSIG): no orphan keeps running a job whose worker was
  killed, so the reaper's retry never races an invisible first attempt.
- A Redis restart no longer makes a busy worker exit: failed heartbeats while a job runs are logged and
  retried at the next interval instead of ending the worker loop (and, with it, the work-horse); a worker
  that Redis forgot (restart without persistence) registers itself again.
- One spare work-horse waits, forked and warm, for the next job (`warm_horse`). RQ forks a horse per job,
  and a fresh fork spends most of a short job's time starting up: its own database and Redis connections,
  polars' thread pool (which cannot be started before the fork: it does not survive one), the engine's
  first call. The idle worker forks the spare right after a job ends (and at start); the spare takes the
  warm-up steps (a job that arrives meanwhile skips the steps left), then blocks on a pipe. When the worker
  dequeues a job it writes the job's id to the pipe, and the spare runs it on RQ's own path
  (`main_work_horse` → `perform_job`: retries, failure handling, result TTLs unchanged). From then on the
  spare *is* the work-horse: its pid is the worker's `horse_pid`, so monitoring, job timeouts, heartbeats,
  stop commands and the cold shutdown kill it exactly as they kill a freshly forked one; it has its own
  process group and dies with its worker. A spare that died while idle is replaced (at the next idle
  heartbeat, or by a fresh fork when a job arrives); worker teardown kills it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import select
import signal
import time
from collections.abc import Callable, Sequence

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Worker, worker_registration
from rq.executions import Execution
from rq.serializers import JSONSerializer

from job_orchestration.domain import QUEUE_NAMES

log = logging.getLogger("job_orchestration.worker")

_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
_PR_SET_PDEATHSIG = 1


def priority_queues(connection) -> list[Queue]:
    """The RQ queues of `QUEUE_NAMES`, highest first (a worker drains `high` before `default` before `low`)."""
    return [Queue(name, connection=connection, serializer=JSONSerializer) for name in QUEUE_NAMES]


class ResilientWorker(Worker):
    """See the module doc. `warm_horse`: the steps a spare work-horse takes, once forked, before it waits for
    its job (empty: no spare; every job gets a freshly forked horse, as in plain RQ)."""

    def __init__(self, *args, warm_horse: Sequence[Callable[[], None]] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._parent_pid = os.getpid()
        self._warm_horse = tuple(warm_horse)
        self._spare: tuple[int, int] | None = None  # (pid, write end of its pipe)

    def _die_with_worker(self) -> None:
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except OSError:
            log.warning("PR_SET_PDEATHSIG unavailable; a killed worker may leave its work-horse running")
        if os.getppid() != self._parent_pid:  # the worker died before the line above took effect
            os._exit(1)

    def main_work_horse(self, job, queue) -> None:
        self._die_with_worker()
        super().main_work_horse(job, queue)

    # -- the spare work-horse --------------------------------------------------------------------------

    def fork_work_horse(self, job, queue) -> None:
        """Hand the job to the spare when one is alive; fork a fresh horse otherwise."""
        spare, self._spare = self._spare, None
        if spare is not None:
            pid, pipe = spare
            message = json.dumps({"job": job.id, "queue": queue.name, "execution": self.execution.id})
            try:
                if self._spare_alive(pid):  # (a dead one is reaped by the check)
                    try:
                        os.write(pipe, message.encode() + b"\n")
                    except OSError:  # it is dying: make sure, reap it, and a fresh horse runs the job
                        self._end_spare(pid)
                    else:
                        os.environ["RQ_WORKER_ID"], os.environ["RQ_JOB_ID"] = self.name, job.id
                        self._horse_pid = pid
                        self.procline(f"Handed {job.id} to spare {pid} at {time.time()}")
                        return
            finally:
                os.close(pipe)
        super().fork_work_horse(job, queue)

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
        self._keep_spare()

    def _keep_spare(self) -> None:
        """In the idle worker: make sure one live spare waits (replacing one that died)."""
        if not self._warm_horse or self._is_horse or os.getpid() != self._parent_pid:
            return
        if self._horse_pid or self._stop_requested:
            return
        if self._spare is not None:
            pid, pipe = self._spare
            if self._spare_alive(pid):
                return
            log.warning("worker %s: spare work-horse %s died while idle; replacing it", self.name, pid)
            os.close(pipe)
            self._spare = None
        self._fork_spare()

    @staticmethod
    def _spare_alive(pid: int) -> bool:
        try:
            return os.waitpid(pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:
            return False

    @staticmethod
    def _end_spare(pid: int) -> None:
        """Kill a spare not reaped yet (its pid cannot have been reused) and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)

    def _fork_spare(self) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(write_end)
                os.setpgrp()  # like a freshly forked horse: its own process group, which kill_horse kills
                self._run_spare(read_end)
            except BaseException:
                log.exception("worker %s: spare work-horse failed before its job ran", self.name)
            finally:
                os._exit(1)  # never back into the worker's loop
        os.close(read_end)
        self._spare = (pid, write_end)

    def _run_spare(self, pipe: int) -> None:
        """In the spare: warm up, wait for a job, run it as RQ's work-horse (never returns)."""
        self._die_with_worker()
        self.setup_work_horse_signals()
        self._spare = None
        self.procline("spare work-horse: warming up")
        try:
            self.connection.ping()  # this process's own Redis connection (the fork's pool starts empty)
            for step in self._warm_horse:
                if select.select([pipe], [], [], 0)[0]:  # the job is here: it runs now, the rest of the warm-up waits
                    break
                step()
        except _REDIS_DOWN as exc:  # a warm-up is an optimisation: the job still runs, only colder
            log.warning("worker %s: spare work-horse warm-up: Redis unavailable (%s)", self.name, type(exc).__name__)
        except Exception:
            log.exception("worker %s: spare work-horse warm-up failed", self.name)
        self.procline("spare work-horse: waiting for a job")
        message = b""
        while not message.endswith(b"\n"):
            chunk = os.read(pipe, 4096)
            if not chunk:  # the worker closed the pipe (or died): no job for this spare
                os._exit(0)
            message += chunk
        handed = json.loads(message)
        os.environ["RQ_WORKER_ID"], os.environ["RQ_JOB_ID"] = self.name, handed["job"]
        job = self.job_class.fetch(handed["job"], connection=self.connection, serializer=self.serializer)
        queue = self.queue_class(
            handed["queue"],
            connection=self.connection,
            job_class=self.job_class,
            serializer=self.serializer,
            death_penalty_class=self.death_penalty_class,
        )
        execution = Execution.fetch(handed["execution"], job.id, connection=self.connection)
        execution._job = job
        self.execution = execution
        self.main_work_horse(job, queue)

    def kill_spare(self) -> None:
        """Kill the idle spare (worker teardown) and reap it."""
        spare, self._spare = self._spare, None
        if spare is None:
            return
        pid, pipe = spare
        os.close(pipe)
        if self._spare_alive(pid):
            self._end_spare(pid)

    def teardown(self) -> None:
        if not self._is_horse and os.getpid() == self._parent_pid:
            self.kill_spare()
        super().teardown()

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
        self._keep_spare()  # the idle loop heartbeats before every wait for a job

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
