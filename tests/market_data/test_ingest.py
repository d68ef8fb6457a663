"""Sync from the Tushare stand-in (round trip to the sample), incremental re-runs, interruption, checks."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from sqlalchemy.orm import Session

from market_data import sample, service
from market_data.config import MarketDataEnv
from market_data.domain import Freq, Source
from market_data.service.snapshots import Partition, publish
from market_data.service.tushare_sync import missing_ranges
from market_data.tushare_standin import StandinServer
from platform_core.errors import InvalidInput, UpstreamError
from quant.contract import validate_bars
from tests.market_data.conftest import client_for

SYMBOLS = ["600010.SH", "300080.SZ", "688010.SH", "830010.BJ"]


def _sync(
    session: Session,
    env: MarketDataEnv,
    server: StandinServer,
    symbols: list[str],
    start: date,
    end: date,
    freq: str = "1d",
):
    with client_for(server, max_retries=1) as client:
        return service.sync(session, env, client=client, symbols=symbols, freq=freq, start=start, end=end)


def test_sync_stores_exactly_the_sample_shapes(session: Session, market: MarketDataEnv, tushare) -> None:
    start, end = date(2020, 6, 1), date(2021, 6, 30)
    result = _sync(session, market, tushare, SYMBOLS, start, end)
    assert result.created is True and result.snapshot.source == "tushare" and result.symbols == 4
    synced = service.get_bars(session, market, symbols=SYMBOLS, freq="1d", start=start, end=end, adjust="none")
    validate_bars(synced)
    expected = sample.generate(SYMBOLS, start, end).bars[Freq.DAILY]
    assert result.fetched_rows == expected.height
    assert synced.select(expected.columns).equals(expected.sort("symbol", "ts"))
    assert synced.filter(pl.col("suspended")).height == expected.filter(pl.col("suspended")).height
    st = synced.filter(pl.col("symbol") == "300080.SZ").select("date", "is_st")
    assert st.filter(pl.col("is_st"))["date"].max() == date(2021, 5, 10)  # ST period ends (from namechange)
    assert not st.filter(pl.col("date") > date(2021, 5, 10))["is_st"].any()


def test_rerun_fetches_nothing_and_keeps_the_snapshot(session: Session, market: MarketDataEnv, tushare) -> None:
    first = _sync(session, market, tushare, SYMBOLS, date(2024, 1, 1), date(2024, 3, 31))
    tushare.reset()
    again = _sync(session, market, tushare, SYMBOLS, date(2024, 1, 1), date(2024, 3, 31))
    assert again.created is False and again.fetched_rows == 0
    assert again.snapshot.id == first.snapshot.id
    assert tushare.requests == []


def test_extending_the_range_fetches_only_the_missing_days(session: Session, market: MarketDataEnv, tushare) -> None:
    first = _sync(session, market, tushare, ["600010.SH"], date(2024, 1, 1), date(2024, 3, 31))
    tushare.reset()
    second = _sync(session, market, tushare, ["600010.SH"], date(2024, 1, 1), date(2024, 6, 30))
    windows = {(r["params"]["start_date"], r["params"]["end_date"]) for r in tushare.bar_requests()}
    assert windows == {("20240401", "20240630")}
    assert second.snapshot.id != first.snapshot.id
    old = service.get_bars(
        session,
        market,
        symbols=["600010.SH"],
        freq="1d",
        start=date(2024, 1, 1),
        end=date(2024, 6, 30),
        snapshot_id=first.snapshot.id,
        adjust="none",
    )
    new = service.get_bars(
        session,
        market,
        symbols=["600010.SH"],
        freq="1d",
        start=date(2024, 1, 1),
        end=date(2024, 6, 30),
        snapshot_id=second.snapshot.id,
        adjust="none",
    )
    assert old["date"].max() <= date(2024, 3, 31) < new["date"].max()
    assert new.filter(pl.col("date") <= date(2024, 3, 31)).equals(old)


def test_minute_sync_matches_the_sample(session: Session, market: MarketDataEnv, tushare) -> None:
    start, end = date(2025, 11, 3), date(2025, 11, 7)
    for freq in (Freq.MIN5, Freq.MIN15):
        _sync(session, market, tushare, ["688010.SH"], start, end, freq=freq.value)
        synced = service.get_bars(
            session, market, symbols=["688010.SH"], freq=freq.value, start=start, end=end, adjust="none"
        )
        expected = sample.generate(["688010.SH"], start, end).bars[freq]
        validate_bars(synced)
        assert synced.height == 5 * (48 if freq is Freq.MIN5 else 16)
        assert synced.select(expected.columns).equals(expected)


def test_benchmark_index_syncs_through_index_daily(session: Session, market: MarketDataEnv, tushare) -> None:
    _sync(session, market, tushare, ["000300.SH"], date(2025, 1, 1), date(2025, 1, 31))
    assert {r["api_name"] for r in tushare.bar_requests()} == {"index_daily"}
    bench = service.get_benchmark(session, market, "000300.SH", date(2025, 1, 1), date(2025, 1, 31))
    expected = sample.generate(["000300.SH"], date(2025, 1, 1), date(2025, 1, 31)).bars[Freq.DAILY]
    assert bench.select("date", "open", "high", "low", "close", "volume", "amount").equals(
        expected.select("date", "open", "high", "low", "close", "volume", "amount")
    )


def test_all_syncs_every_listed_instrument(session: Session, market: MarketDataEnv, tushare) -> None:
    with client_for(tushare, max_retries=1) as client:
        result = service.sync(
            session,
            market,
            client=client,
            symbols=None,
            all_symbols=True,
            freq="1d",
            start=date(2025, 12, 29),
            end=date(2025, 12, 31),
        )
    assert result.symbols == 50
    assert result.snapshot.coverage["1d"]["symbols"] == 49  # 600110.SH was delisted in 2021


def test_interrupted_sync_leaves_the_previous_snapshot_intact(session: Session, market: MarketDataEnv, tushare) -> None:
    first = _sync(session, market, tushare, ["600010.SH"], date(2024, 1, 1), date(2024, 1, 31))
    tushare.set_faults(daily_quota=1)
    with pytest.raises(UpstreamError):
        _sync(session, market, tushare, ["600010.SH", "000010.SZ"], date(2024, 1, 1), date(2024, 2, 29))
    assert service.latest_snapshot(session).id == first.snapshot.id
    again = _sync(session, market, tushare, ["600010.SH", "000010.SZ"], date(2024, 1, 1), date(2024, 2, 29))
    assert again.created is True
    assert service.check(session, market, snapshot_id=again.snapshot.id).ok is True


def test_sync_refuses_bad_input(session: Session, market: MarketDataEnv, tushare) -> None:
    with pytest.raises(InvalidInput) as caught:
        _sync(session, market, tushare, ["600010.SH", "999999.SH", "600000.XX"], date(2024, 1, 1), date(2024, 1, 31))
    assert caught.value.envelope() == {
        "error": {
            "code": "INVALID_INPUT",
            "message": "unknown or malformed symbols: 600000.XX",
            "details": {"field": "symbols", "malformed": ["600000.XX"], "unknown": []},
        }
    }
    with pytest.raises(InvalidInput) as caught:
        _sync(session, market, tushare, ["600010.SH", "999999.SH"], date(2024, 1, 1), date(2024, 1, 31))
    assert caught.value.details == {"field": "symbols", "malformed": [], "unknown": ["999999.SH"]}
    with pytest.raises(InvalidInput) as caught:
        _sync(session, market, tushare, ["600010.SH"], date(2024, 2, 1), date(2024, 1, 1))
    assert caught.value.message == "start 2024-02-01 is after end 2024-01-01"
    with pytest.raises(InvalidInput) as caught:
        _sync(session, market, tushare, ["600010.SH"], date(2024, 1, 1), date(2024, 1, 31), freq="1h")
    assert caught.value.message == "unsupported frequency '1h'; use one of ['1d', '5min', '15min']"


def test_missing_ranges_keep_coverage_contiguous() -> None:
    d = date
    assert missing_ranges(None, d(2024, 1, 1), d(2024, 1, 31)) == [(d(2024, 1, 1), d(2024, 1, 31))]
    assert missing_ranges((d(2024, 1, 1), d(2024, 1, 31)), d(2024, 1, 5), d(2024, 1, 20)) == []
    assert missing_ranges((d(2024, 2, 1), d(2024, 2, 29)), d(2024, 4, 1), d(2024, 4, 30)) == [
        (d(2024, 3, 1), d(2024, 4, 30))
    ]
    assert missing_ranges((d(2024, 2, 1), d(2024, 2, 29)), d(2024, 1, 1), d(2024, 3, 31)) == [
        (d(2024, 1, 1), d(2024, 1, 31)),
        (d(2024, 3, 1), d(2024, 3, 31)),
    ]


def test_check_passes_on_the_sample_and_reports_each_problem(session: Session, market: MarketDataEnv, loaded) -> None:
    report = service.check(session, market)
    assert report.ok is True and report.issues == [] and report.symbols == 9
    bars = sample.generate(["600010.SH"], date(2025, 1, 2), date(2025, 1, 10)).bars[Freq.DAILY]
    broken = pl.concat(
        [
            bars.filter(pl.col("date") != date(2025, 1, 6)),  # a missing session
            bars.filter(pl.col("date") == date(2025, 1, 8)),  # a duplicated session
        ]
    ).with_columns(
        pl.when(pl.col("date") == date(2025, 1, 2))
        .then(pl.col("low") * 0 + 99.0)
        .otherwise(pl.col("high"))
        .alias("high"),
        pl.when(pl.col("date") == date(2025, 1, 3)).then(-100.0).otherwise(pl.col("volume")).alias("volume"),
    )
    part = Partition(market.store.write("1d", "600010.SH", broken), date(2025, 1, 2), date(2025, 1, 10))
    snap, _ = publish(session, Source.SAMPLE, [part], store=market.store)
    report = service.check(session, market, symbols=["600010.SH"], snapshot_id=snap.id)
    assert report.ok is False
    assert report.counts == {
        "ohlc": 0,
        "volume": 1,
        "limits": 1,
        "duplicate_sessions": 1,
        "missing_sessions": 1,
        "non_sessions": 0,
    }
    assert [(i.check, str(i.date)) for i in report.issues] == [
        ("limits", "2025-01-02"),
        ("volume", "2025-01-03"),
        ("missing_sessions", "2025-01-06"),
        ("duplicate_sessions", "2025-01-08"),
    ]
    assert (
        service.get_bars(
            session,
            market,
            symbols=["600010.SH"],
            freq="1d",
            start=date(2025, 1, 2),
            end=date(2025, 1, 10),
            snapshot_id=loaded.snapshot.id,
        ).height
        == 7
    )
