"""Whole-market syncs by date against the Tushare stand-in: 4 calls per session, the same bars as a by-symbol
sync, resumption after an interrupt that fetches only the missing partitions, and one rate budget per token
and endpoint shared by processes through Redis."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import date

import polars as pl
import pytest

from market_data import sample, service
from market_data.domain import Freq
from market_data.rate_budget import RedisRateBudget
from market_data.tushare_standin import StandinServer
from platform_core.pagination import PageParams
from tests.market_data.conftest import standin_settings

START, END = date(2025, 3, 3), date(2025, 3, 7)  # one week: 5 sessions
SESSIONS = 5


def _stock_codes() -> list[str]:
    return [i.symbol for i in sample.generate().instruments if i.kind == "stock"]


def _bar_calls(server: StandinServer) -> list[tuple[str, str | None, str | None]]:
    return [(r["api_name"], r["params"].get("trade_date"), r["params"].get("ts_code")) for r in server.bar_requests()]


def _sync(session, market, server, **kwargs):
    with standin_settings(market, server), service.make_client(market) as client:
        return service.sync(session, market, client=client, freq="1d", start=START, end=END, **kwargs)


def test_a_whole_market_update_makes_four_calls_per_session(session, market, tushare) -> None:
    result = _sync(session, market, tushare, symbols=None, all_symbols=True)
    calls = _bar_calls(tushare)
    assert result.plan == "by_date"
    assert len(calls) == 4 * SESSIONS  # not 4 per symbol
    assert {api for api, _, _ in calls} == {"daily", "adj_factor", "stk_limit", "suspend_d"}
    assert all(day is not None and code is None for _, day, code in calls)
    stored = service.get_bars(
        session, market, symbols=_stock_codes(), freq="1d", start=START, end=END, adjust="none",
        snapshot_id=result.snapshot.id,
    )  # fmt: skip
    expected = sample.generate(_stock_codes(), START, END).bars[Freq.DAILY]
    expected = expected.filter(pl.col("symbol").is_in(stored["symbol"].unique().implode()))
    assert stored.height == expected.height > 0
    assert stored.select(expected.columns).equals(expected.sort("symbol", "ts"))


def test_the_by_date_plan_stores_what_the_by_symbol_plan_stores(session, market, tushare) -> None:
    codes = _stock_codes()[:6]
    by_date = _sync(session, market, tushare, symbols=codes, mode="by_date")
    read = {"symbols": codes, "freq": "1d", "start": START, "end": END, "adjust": "none"}
    first = service.get_bars(session, market, **read, snapshot_id=by_date.snapshot.id)
    session.rollback()
    tushare.reset()
    by_symbol = _sync(session, market, tushare, symbols=codes, mode="by_symbol")
    assert by_symbol.plan == "by_symbol"
    assert {code for _, _, code in _bar_calls(tushare)} == set(codes)
    assert service.get_bars(session, market, **read, snapshot_id=by_symbol.snapshot.id).equals(first)


def test_an_interrupted_sync_resumes_with_only_the_missing_partitions(session, market, tushare) -> None:
    def ctrl_c_after_two(label: str, done: int, total: int) -> None:
        if done == 2 * 4:  # partitions: 4 endpoints per session
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _sync(session, market, tushare, symbols=None, all_symbols=True, progress=ctrl_c_after_two)
    assert len(_bar_calls(tushare)) == 4 * 2
    session.rollback()  # what the CLI's transaction does on Ctrl-C: no snapshot was recorded
    tushare.reset()
    seen: list[str] = []
    result = _sync(
        session, market, tushare, symbols=None, all_symbols=True, progress=lambda lbl, d, t: seen.append((lbl, d, t))
    )
    calls = _bar_calls(tushare)
    assert len(calls) == 4 * (SESSIONS - 2)  # the two staged sessions are not fetched again
    assert {day for _, day, _ in calls} == {"20250305", "20250306", "20250307"}
    days = ["2025-03-03", "2025-03-04", "2025-03-05", "2025-03-06", "2025-03-07"]
    endpoints = ["daily", "adj_factor", "stk_limit", "suspend_d"]
    assert seen == [(f"{d} {e}", i, 20) for i, (d, e) in enumerate(((d, e) for d in days for e in endpoints), 1)]
    assert result.created
    assert not (market.store.root / "staging" / "by-date" / "20250303").exists()  # published: unstaged
    stored = service.get_bars(
        session, market, symbols=_stock_codes(), freq="1d", start=START, end=END, adjust="none",
        snapshot_id=result.snapshot.id,
    )  # fmt: skip
    assert sorted(stored["date"].unique().to_list()) == [date(2025, 3, d) for d in range(3, 8)]


def test_a_partial_by_date_sync_records_no_snapshot(session, market, tushare) -> None:
    before = service.list_snapshots(session, page=PageParams()).total

    def fail_on_third(label: str, done: int, total: int) -> None:
        if done == 3 * 4:
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        _sync(session, market, tushare, symbols=None, all_symbols=True, progress=fail_on_third)
    assert service.list_snapshots(session, page=PageParams()).total == before


def test_an_unknown_mode_is_invalid_input(session, market, tushare) -> None:
    from platform_core.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        _sync(session, market, tushare, symbols=["600010.SH"], mode="sideways")
    assert caught.value.details["valid"] == ["auto", "by_date", "by_symbol"]


CLIENT_SCRIPT = """
import sys
from market_data.rate_budget import RedisRateBudget
from market_data.tushare import TushareClient
url, redis_url, n, budget_key = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
client = TushareClient(base_url=url, token="test-token", rate_per_minute=60000, backoff=0.0, max_retries=0)
client.budget = RedisRateBudget(redis_url, budget_key, calls=3, window_s=2)
for _ in range(n):
    client.query("adj_factor", {"trade_date": "20250303"})
print(client.waited_s)
"""


def test_two_processes_share_one_rate_budget_per_token_and_endpoint(tushare, test_servers) -> None:
    key = f"token-{uuid.uuid4().hex}"  # a fresh budget (the budget is keyed by a hash of the token)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT_SCRIPT, tushare.url, test_servers.redis_url, "3", key],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    waits = [float(p.communicate(timeout=60)[0].strip()) for p in procs]
    stamps = sorted(r["at"] for r in tushare.requests if r["api_name"] == "adj_factor")
    assert len(stamps) == 6
    # 3 calls per 2 s window in all, across both processes: no 2-second span holds a fourth call (the slack is
    # the time between taking a slot and the request reaching the server, e.g. a first connection's set-up;
    # without sharing, all six would arrive within a fraction of a second)
    assert all(stamps[i + 3] - stamps[i] >= 1.6 for i in range(len(stamps) - 3)), stamps
    assert sum(waits) > 0  # someone waited for the shared window (and said so)


def test_the_budget_falls_back_to_the_local_bucket_when_redis_is_down() -> None:
    local: list[str] = []
    budget = RedisRateBudget(
        "redis://127.0.0.1:1/0", "t", calls=1, window_s=60, fallback=lambda api: local.append(api) or 0.0,
        timeout_s=0.2,
    )  # fmt: skip
    started = time.monotonic()
    assert budget.acquire("daily") == 0.0
    assert budget.acquire("daily") == 0.0  # no shared window to wait for: the local bucket decides
    assert local == ["daily", "daily"]
    assert time.monotonic() - started < 5
