"""The `market_data.sync` job kind (registered by the composition app with job_orchestration): the handler
parses its payload (a `SyncRequest`) and makes one service call, `service.run_sync`, reporting progress as
the job's progress (the message is the `SyncProgress` JSON).

The sync runs in a transaction of its own, not the lease-locking `ctx.transaction()`: that one locks the
job's row for its whole length, and the progress reports and heartbeats of this long job update that row.
Before the snapshot is committed the handler proves it still holds the lease (`ctx.heartbeat()`), so a late
or duplicate attempt cannot publish; a cancelled job stops at its next progress report (rolled back, the
staged partitions kept for the retry).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from market_data import service
from market_data.config import MarketDataEnv
from market_data.schemas import SyncProgress, SyncRequest
from platform_core.db import Database

SYNC_KIND = service.SYNC_KIND
SYNC_BUDGET_S = 6 * 3600  # a whole market since 2015 at the default rate is ~2 hours of calls
SYNC_MAX_ATTEMPTS = 3  # each retry resumes from the staged partitions


def handler(env: MarketDataEnv, db: Database) -> Callable[[Any], dict[str, Any]]:
    """The handler bound to this process's env and database."""

    def run(ctx: Any) -> dict[str, Any]:
        body = SyncRequest.model_validate(ctx.payload)

        def report(progress: SyncProgress) -> None:
            total = progress.partitions_total
            ctx.progress(100.0 * progress.partitions_done / total if total else 0.0, progress.model_dump_json())

        with db.transaction() as session:
            result = service.run_sync(session, env, body, report=report)
            ctx.heartbeat()  # still this attempt's lease: commit the snapshot
        return result.model_dump(mode="json")

    return run
