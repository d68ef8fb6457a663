"""Syncing as a job of the job runtime: submit one (`POST /api/market/sync`, `huice data sync`), read and
cancel it, and `run_sync` — what the `market_data.sync` job (and `huice data sync --local`) executes, with
progress reports (partitions done/total, calls, rows, the current quota wait, ETA).

The job runtime is reached through `MarketDataEnv.jobs` (the `SyncJobs` port the composition app provides):
cancel and retry are the runtime's (`/api/jobs/{id}:cancel|:retry`, `huice jobs cancel|retry`); a retried or
repeated sync resumes from the partitions already staged (see `tushare_sync`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from sqlalchemy.orm import Session

from market_data.config import MarketDataEnv, SyncJobs
from market_data.schemas import SyncJobRead, SyncProgress, SyncRequest, SyncResult
from market_data.service._common import parse_freq
from market_data.service.tushare_sync import make_client, sync
from market_data.tushare import TushareClient
from platform_core.errors import InternalError, InvalidInput
from user_auth.principal import Principal

SYNC_KIND = "market_data.sync"
Report = Callable[[SyncProgress], None]


def submit_sync(session: Session, env: MarketDataEnv, principal: Principal | None, body: SyncRequest) -> SyncJobRead:
    """Check the request (dates, symbols or `all`, frequency, a configured token) and submit it as a
    `market_data.sync` job; INVALID_INPUT before anything is queued. `principal` None = the operator (CLI)."""
    check_request(env, body)
    return _port(env).submit(session, principal, body.model_dump(mode="json"))


def sync_job(session: Session, env: MarketDataEnv, job_id: uuid.UUID) -> SyncJobRead:
    """A sync job with its latest progress report and, once finished, its result or error; NOT_FOUND for
    an unknown id or a job of another kind."""
    return _port(env).get(session, job_id)


def cancel_sync(session: Session, env: MarketDataEnv, job_id: uuid.UUID) -> SyncJobRead:
    """Ask a sync job to stop (it stops at its next partition; what it staged stays for the next run)."""
    return _port(env).cancel(session, job_id)


def sync_workers(env: MarketDataEnv) -> int:
    """How many workers are alive to run a submitted sync (0: it waits in the queue)."""
    return _port(env).live_workers()


def check_request(env: MarketDataEnv, body: SyncRequest) -> None:
    """What can be refused before a sync is queued."""
    if body.start > body.end:
        raise InvalidInput(
            f"start {body.start} is after end {body.end}", details={"start": str(body.start), "end": str(body.end)}
        )
    if "bars" in body.datasets and not body.symbols and not body.all:
        raise InvalidInput("name --symbols or pass --all", field="symbols")
    parse_freq(body.freq)
    if env.settings.tushare_token is None:
        raise InvalidInput(
            "no Tushare token configured: set TUSHARE_TOKEN (or HUICE_TUSHARE_TOKEN)", field="tushare_token"
        )


def run_sync(
    session: Session, env: MarketDataEnv, body: SyncRequest, *, report: Report, client: TushareClient | None = None
) -> SyncResult:
    """Run a sync in this process, reporting progress after every partition and during every quota wait."""
    with client or make_client(env) as tushare:
        tracker = _Tracker(tushare, report)
        if tushare.budget is not None:
            tushare.budget.on_wait = tracker.waiting
        return sync(
            session,
            env,
            client=tushare,
            symbols=body.symbols,
            all_symbols=body.all,
            freq=body.freq,
            start=body.start,
            end=body.end,
            mode=body.mode,
            datasets=tuple(body.datasets),
            progress=tracker.advance,
        )


class _Tracker:
    """Turns the sync's partition counts and the budget's waits into `SyncProgress` reports."""

    def __init__(self, client: TushareClient, report: Report) -> None:
        self.client, self.report = client, report
        self.started = time.monotonic()
        self.calls0, self.rows0, self.waited0 = client.calls, client.rows, client.waited_s
        self.stage, self.done, self.total = "planning", 0, 0

    def advance(self, stage: str, done: int, total: int) -> None:
        self.stage, self.done, self.total = stage, done, total
        self.report(self._progress(0.0))

    def waiting(self, api_name: str, seconds: float) -> None:
        self.report(self._progress(seconds, f"waiting {seconds:.1f}s for the {api_name} rate budget"))

    def _progress(self, wait_s: float, stage: str | None = None) -> SyncProgress:
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        return SyncProgress(
            stage=stage or self.stage,
            partitions_done=self.done,
            partitions_total=self.total,
            calls=self.client.calls - self.calls0,
            rows=self.client.rows - self.rows0,
            wait_s=round(wait_s, 3),
            waited_s=round(self.client.waited_s - self.waited0, 3),
            elapsed_s=round(elapsed, 3),
            eta_s=round(eta, 1) if eta is not None else None,
        )


def _port(env: MarketDataEnv) -> SyncJobs:
    if env.jobs is None:
        raise InternalError("the job runtime is not wired into this process (market_data.sync)")
    return env.jobs
