"""The Tushare Pro client over real HTTP against the local stand-in: paging, retries, quota, errors, secrecy."""

from __future__ import annotations

import logging
from datetime import date

import polars as pl
import pytest

from market_data.domain import STORED_SCHEMA, StPeriod
from market_data.tushare import TokenBucket, TushareClient, normalize_daily, st_periods_from_names
from market_data.tushare_standin import DAILY_QUOTA_MSG, MINUTE_QUOTA_MSG, TOKEN_MSG, StandinServer, tables
from platform_core.errors import InvalidInput, UpstreamError
from tests.market_data.conftest import client_for


def test_query_returns_rows_in_tushare_units(tushare: StandinServer) -> None:
    with client_for(tushare) as client:
        frame = client.query("daily", {"ts_code": "600010.SH", "start_date": "20250102", "end_date": "20250110"})
    assert frame.columns == ["ts_code", "trade_date", "open", "high", "low", "close", "pre_close", "vol", "amount"]
    assert frame["trade_date"].to_list() == [
        "20250110",
        "20250109",
        "20250108",
        "20250107",
        "20250106",
        "20250103",
        "20250102",
    ]
    assert tushare.requests[0]["api_name"] == "daily"
    assert tushare.requests[0]["params"] == {
        "ts_code": "600010.SH",
        "start_date": "20250102",
        "end_date": "20250110",
        "limit": 6000,
        "offset": 0,
    }
    assert tushare.requests[0]["token"] == "test-token"


def test_paging_walks_offsets_until_a_short_page(tushare: StandinServer) -> None:
    tushare.set_faults(caps={"daily": 100})
    with client_for(tushare, page_sizes={"daily": 100}) as client:
        frame = client.query("daily", {"ts_code": "600010.SH", "start_date": "20240101", "end_date": "20241231"})
    offsets = [r["params"]["offset"] for r in tushare.requests]
    assert offsets == [0, 100, 200]
    expected = tables()["daily"].filter(
        (pl.col("ts_code") == "600010.SH") & pl.col("trade_date").str.starts_with("2024")
    )
    assert 200 < expected.height <= 242
    assert frame.sort("trade_date").equals(expected.sort("trade_date"))


def test_server_errors_are_retried_then_succeed(tushare: StandinServer) -> None:
    tushare.set_faults(http_500=2)
    with client_for(tushare) as client:
        frame = client.query("trade_cal", {"exchange": "SSE", "start_date": "20250101", "end_date": "20250107"})
        assert client.calls == 3
    assert frame["is_open"].to_list() == [0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]


def test_minute_quota_waits_and_retries(tushare: StandinServer) -> None:
    slept: list[float] = []
    tushare.set_faults(quota=1)
    with client_for(tushare, quota_wait=61.0, sleep=slept.append) as client:
        frame = client.query("adj_factor", {"ts_code": "600010.SH", "trade_date": "20250102"})
    assert frame.height == 1
    assert len(slept) == 1 and 61.0 <= slept[0] <= 61.0 * 1.25


def test_backoff_doubles_with_jitter(tushare: StandinServer) -> None:
    slept: list[float] = []
    tushare.set_faults(http_500=3)
    with client_for(tushare, backoff=1.0, max_retries=3, sleep=slept.append) as client:
        client.query("adj_factor", {"ts_code": "600010.SH", "trade_date": "20250102"})
    assert len(slept) == 3
    assert 1.0 <= slept[0] <= 1.25 and 2.0 <= slept[1] <= 2.5 and 4.0 <= slept[2] <= 5.0


def test_daily_quota_is_upstream_error_with_tushare_message(tushare: StandinServer) -> None:
    tushare.set_faults(daily_quota=1)
    with client_for(tushare) as client, pytest.raises(UpstreamError) as caught:
        client.query("daily", {"ts_code": "600010.SH", "trade_date": "20250102"})
    assert caught.value.envelope() == {
        "error": {
            "code": "UPSTREAM_ERROR",
            "message": f"Tushare daily over quota: {DAILY_QUOTA_MSG}",
            "details": {
                "api_name": "daily",
                "code": 40203,
                "upstream_message": DAILY_QUOTA_MSG,
                "retry_advice": "the quota resets later; retry then",
            },
        }
    }
    assert MINUTE_QUOTA_MSG != DAILY_QUOTA_MSG


def test_wrong_token_fails_fast_and_the_token_never_leaks(
    tushare: StandinServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with client_for(tushare, token="s3cret-wrong-token") as client, pytest.raises(UpstreamError) as caught:
        client.query("daily", {"ts_code": "600010.SH"})
        assert client.calls == 1
    assert caught.value.message == f"Tushare daily error 40101: {TOKEN_MSG}"
    assert caught.value.details["retry_advice"] == "check the token (TUSHARE_TOKEN) and the endpoint's permission"
    assert len(tushare.requests) == 1
    assert "s3cret-wrong-token" not in str(caught.value.envelope())
    assert "s3cret-wrong-token" not in caplog.text


def test_malformed_replies_exhaust_retries(tushare: StandinServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tushare.set_faults(malformed=5)
    with client_for(tushare, max_retries=2) as client, pytest.raises(UpstreamError) as caught:
        client.query("daily", {"ts_code": "600010.SH"})
    assert caught.value.envelope()["error"] == {
        "code": "UPSTREAM_ERROR",
        "message": "Tushare daily failed after 3 attempts: malformed reply (not the Tushare JSON protocol)",
        "details": {
            "api_name": "daily",
            "attempts": 3,
            "retry_advice": "Tushare is unavailable or over quota; retry later (a re-run fetches only what is missing)",
        },
    }
    assert "test-token" not in caplog.text


def test_timeouts_are_retried(tushare: StandinServer) -> None:
    tushare.set_faults(slow=1, slow_seconds=1.0)
    with client_for(tushare, timeout=0.3) as client:
        frame = client.query("adj_factor", {"ts_code": "600010.SH", "trade_date": "20250102"})
        assert client.calls == 2
    assert frame["adj_factor"].len() == 1


def test_unreachable_server_is_upstream_error() -> None:
    client = TushareClient(base_url="http://127.0.0.1:9", token="t", max_retries=1, backoff=0.0, timeout=1.0)
    with client, pytest.raises(UpstreamError) as caught:
        client.query("daily", {})
    assert caught.value.message == "Tushare daily failed after 2 attempts: network error (ConnectError)"


def test_missing_token_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as caught:
        TushareClient(base_url="http://127.0.0.1:9", token=None)
    assert caught.value.envelope()["error"]["message"] == (
        "no Tushare token configured: set TUSHARE_TOKEN (or HUICE_TUSHARE_TOKEN)"
    )


def test_token_bucket_spaces_calls_at_the_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(60, capacity=2, clock=lambda: now[0], sleep=sleep)
    waits = [bucket.acquire() for _ in range(4)]
    assert waits[:2] == [0.0, 0.0]
    assert waits[2] == pytest.approx(1.0) and waits[3] == pytest.approx(1.0)


def test_normalize_daily_converts_units_and_adds_suspended_rows() -> None:
    daily = pl.DataFrame(
        {
            "ts_code": ["600010.SH"],
            "trade_date": ["20250103"],
            "open": [10.0],
            "high": [11.0],
            "low": [9.5],
            "close": [10.5],
            "pre_close": [10.0],
            "vol": [1234.0],
            "amount": [1296.123],
        }
    )
    adj = pl.DataFrame({"ts_code": ["600010.SH"] * 2, "trade_date": ["20250102", "20250103"], "adj_factor": [1.5, 1.5]})
    limits = pl.DataFrame(
        {"ts_code": ["600010.SH"], "trade_date": ["20250103"], "up_limit": [11.0], "down_limit": [9.0]}
    )
    sus = pl.DataFrame(
        {"ts_code": ["600010.SH"], "trade_date": ["20250102"], "suspend_timing": [None], "suspend_type": ["S"]}
    )
    st = [StPeriod("600010.SH", date(2025, 1, 3), None, "ST样本")]
    frame = normalize_daily("600010.SH", daily, adj, limits, sus, st)
    assert frame.schema == pl.Schema(STORED_SCHEMA)
    assert frame.drop("ts").to_dicts() == [
        {
            "symbol": "600010.SH",
            "date": date(2025, 1, 2),
            "open": None,
            "high": None,
            "low": None,
            "close": None,
            "pre_close": None,
            "volume": 0.0,
            "amount": 0.0,
            "up_limit": None,
            "down_limit": None,
            "adj_factor": 1.5,
            "suspended": True,
            "is_st": False,
        },
        {
            "symbol": "600010.SH",
            "date": date(2025, 1, 3),
            "open": 10.0,
            "high": 11.0,
            "low": 9.5,
            "close": 10.5,
            "pre_close": 10.0,
            "volume": 123400.0,
            "amount": 1296123.0,
            "up_limit": 11.0,
            "down_limit": 9.0,
            "adj_factor": 1.5,
            "suspended": False,
            "is_st": True,
        },
    ]
    assert [str(t) for t in frame["ts"]] == ["2025-01-02 15:00:00", "2025-01-03 15:00:00"]


def test_st_periods_come_from_st_names() -> None:
    names = pl.DataFrame(
        {
            "ts_code": ["600100.SH"] * 3,
            "name": ["样本", "*ST样本", "样本"],
            "start_date": ["20100101", "20170502", "20180630"],
            "end_date": ["20170501", "20180629", None],
        }
    )
    periods = st_periods_from_names(names)
    assert [(p.symbol, str(p.start_date), str(p.end_date), p.name) for p in periods] == [
        ("600100.SH", "2017-05-02", "2018-06-29", "*ST样本")
    ]
