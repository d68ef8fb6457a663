"""The use cases of market_data — the functions other contexts and the faces (API, CLI) call.

Every function takes the caller's session (it flushes, never commits); those that read the bar store or
the Tushare settings take the context's `MarketDataEnv` (`market_data.config.env_of(container)`) right
after it. Market data is not owned by a user: no function takes a principal (the faces authenticate).

- reference (`reference`): `validate_symbols`, `trading_sessions`, `calendar`, `get_instruments` (the
  instrument frame of the contract), `search_instruments`, `instrument_detail`.
- bars (`bars`): `get_bars` (the bar frame of `spec/BarFrameContract.md`), `get_benchmark`, `get_inputs`
  (both and the instruments in one pass, a backtest's inputs; `warm_reads`: its statements), and the faces'
  renderings `bars_view` (JSON) and `bars_csv`.
- snapshots (`snapshots`): `default_snapshot` (what unpinned reads and new backtests use, by
  `snapshots.DEFAULT_RULE`), `default_snapshot_detail`, `set_default_snapshot`, `latest_snapshot` (the
  newest), `get_snapshot`, `list_snapshots`, `coverage`.
- writes, each ending in a new snapshot: `load_sample` (`sample_loading`, the offline synthetic data),
  `make_client` and `sync` (`tushare_sync`, incremental fetches from Tushare Pro); `provider_status` (one
  probe call).
- syncs as jobs (`sync_jobs`): `submit_sync`, `sync_job`, `cancel_sync`, `sync_workers` (through the
  `SyncJobs` port of the env) and `run_sync` (what the `market_data.sync` job and `huice data sync --local`
  execute, with progress).
- integrity (`integrity`): `check`.
- point in time (`universe`): `index_members` (constituents as of a session), `listed_universe`,
  `fundamentals` (daily_basic as a frame) and its view `fundamentals_view`.

Published for other contexts: `get_bars`, `get_benchmark`, `get_inputs`, `warm_reads`, `get_instruments`,
`trading_sessions`, `validate_symbols`, `default_snapshot`, `latest_snapshot`, `get_snapshot`, `coverage`,
`data_freshness` (monitoring), `index_members`, `listed_universe`, `fundamentals`, `universe_membership`,
`provider_status` (the app's `/ready` and `huice doctor`).
The building blocks the use cases share
(`snapshots.publish` / `Partition` / `resolve_snapshot`, `bars.read_bars`, `tushare_sync.missing_ranges`)
stay in their modules: they are not part of the surface.
"""

from market_data.service.bars import bars_csv, bars_view, get_bars, get_benchmark, get_inputs, warm_reads
from market_data.service.integrity import check
from market_data.service.reference import (
    calendar,
    get_instruments,
    instrument_detail,
    search_instruments,
    trading_sessions,
    validate_symbols,
)
from market_data.service.sample_loading import load_sample
from market_data.service.snapshots import (
    coverage,
    data_freshness,
    default_snapshot,
    default_snapshot_detail,
    get_snapshot,
    latest_snapshot,
    list_snapshots,
    set_default_snapshot,
)
from market_data.service.sync_jobs import SYNC_KIND, cancel_sync, run_sync, submit_sync, sync_job, sync_workers
from market_data.service.tushare_sync import make_client, provider_status, sync
from market_data.service.universe import (
    fundamentals,
    fundamentals_view,
    index_members,
    listed_universe,
    universe_membership,
)

__all__ = [
    "SYNC_KIND",
    "bars_csv",
    "bars_view",
    "calendar",
    "cancel_sync",
    "check",
    "coverage",
    "data_freshness",
    "default_snapshot",
    "default_snapshot_detail",
    "fundamentals",
    "fundamentals_view",
    "get_bars",
    "get_benchmark",
    "get_inputs",
    "get_instruments",
    "get_snapshot",
    "index_members",
    "instrument_detail",
    "latest_snapshot",
    "list_snapshots",
    "listed_universe",
    "load_sample",
    "make_client",
    "provider_status",
    "run_sync",
    "search_instruments",
    "set_default_snapshot",
    "submit_sync",
    "sync",
    "sync_job",
    "sync_workers",
    "trading_sessions",
    "universe_membership",
    "validate_symbols",
    "warm_reads",
]
