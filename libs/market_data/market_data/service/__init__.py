"""The use cases of market_data — the functions other contexts and the faces (API, CLI) call.

Every function takes the caller's session (it flushes, never commits); those that read the bar store or
the Tushare settings take the context's `MarketDataEnv` (`market_data.config.env_of(container)`) right
after it. Market data is not owned by a user: no function takes a principal (the faces authenticate).

- reference (`reference`): `validate_symbols`, `trading_sessions`, `calendar`, `get_instruments` (the
  instrument frame of the contract), `search_instruments`, `instrument_detail`.
- bars (`bars`): `get_bars` (the bar frame of `spec/BarFrameContract.md`), `get_benchmark`, and the
  faces' renderings `bars_view` (JSON) and `bars_csv`.
- snapshots (`snapshots`): `latest_snapshot`, `get_snapshot`, `list_snapshots`, `coverage`.
- writes, each ending in a new snapshot: `load_sample` (`sample_loading`, the offline synthetic data),
  `make_client` and `sync` (`tushare_sync`, incremental fetches from Tushare Pro); `provider_status` (one
  probe call).
- integrity (`integrity`): `check`.

Published for other contexts: `get_bars`, `get_benchmark`, `get_instruments`, `trading_sessions`,
`validate_symbols`, `latest_snapshot`, `get_snapshot`, `coverage`, `data_freshness` (monitoring),
`provider_status` (the app's `/ready` and `huice doctor`).
The building blocks the use cases share
(`snapshots.publish` / `Partition` / `resolve_snapshot`, `bars.read_bars`, `tushare_sync.missing_ranges`)
stay in their modules: they are not part of the surface.
"""

from market_data.service.bars import bars_csv, bars_view, get_bars, get_benchmark
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
from market_data.service.snapshots import coverage, data_freshness, get_snapshot, latest_snapshot, list_snapshots
from market_data.service.tushare_sync import make_client, provider_status, sync

__all__ = [
    "bars_csv",
    "bars_view",
    "calendar",
    "check",
    "coverage",
    "data_freshness",
    "get_bars",
    "get_benchmark",
    "get_instruments",
    "get_snapshot",
    "instrument_detail",
    "latest_snapshot",
    "list_snapshots",
    "load_sample",
    "make_client",
    "provider_status",
    "search_instruments",
    "sync",
    "trading_sessions",
    "validate_symbols",
]
