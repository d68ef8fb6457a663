"""`/api/market`: authentication, reads (JSON and CSV), admin-only sync and check, error envelopes."""

from __future__ import annotations

import csv
import io
import uuid

from market_data.config import MarketDataEnv
from market_data.tushare_standin import StandinServer
from tests.market_data.conftest import standin_settings


def test_every_route_needs_a_signed_in_caller(api, loaded) -> None:
    for path in (
        "/api/market/instruments",
        "/api/market/snapshots",
        "/api/market/coverage",
        "/api/market/calendar?start=2025-01-01&end=2025-01-31",
    ):
        response = api.get(path)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "UNAUTHORIZED"


def test_instruments_search_filter_and_detail(api, loaded, make_user, auth_headers_for) -> None:
    headers = auth_headers_for(make_user())
    page = api.get("/api/market/instruments", params={"board": "star"}, headers=headers).json()
    assert page["total"] == 1 and page["items"][0]["symbol"] == "688010.SH"
    assert page["items"][0]["source"] == "sample"
    found = api.get("/api/market/instruments", params={"q": "样本北证"}, headers=headers).json()
    assert [i["symbol"] for i in found["items"]] == ["830010.BJ"]
    detail = api.get("/api/market/instruments/300080.SZ", headers=headers).json()
    assert detail["st_periods"] == [{"start_date": "2019-05-06", "end_date": "2021-05-10", "name": "ST样本创业08"}]
    assert {c["freq"] for c in detail["coverage"]} == {"1d"}
    missing = api.get("/api/market/instruments/999999.SH", headers=headers)
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {"code": "NOT_FOUND", "message": "instrument 999999.SH not found", "details": {"symbol": "999999.SH"}}
    }


def test_bars_as_json_and_csv(api, loaded, make_user, auth_headers_for) -> None:
    headers = auth_headers_for(make_user())
    params = {"symbols": "600010.SH,688010.SH", "start": "2025-06-02", "end": "2025-06-06", "adjust": "none"}
    body = api.get("/api/market/bars", params=params, headers=headers).json()
    assert body["snapshot_id"] == loaded.snapshot.id and body["source"] == "sample"
    assert body["columns"][:4] == ["symbol", "date", "ts", "open"]
    days = ["2025-06-03", "2025-06-04", "2025-06-05", "2025-06-06"]  # 06-02 is the Dragon Boat holiday
    assert [(r["symbol"], r["date"]) for r in body["rows"]] == [
        (s, d) for s in ("600010.SH", "688010.SH") for d in days
    ]
    text = api.get("/api/market/bars", params={**params, "format": "csv"}, headers=headers)
    assert text.headers["content-type"].startswith("text/csv")
    assert text.content.startswith(b"\xef\xbb\xbf")  # a UTF-8 BOM: Excel in a Chinese locale reads it as UTF-8
    rows = list(csv.DictReader(io.StringIO(text.content.decode("utf-8-sig"))))
    assert len(rows) == len(body["rows"])
    assert rows[0]["symbol"] == body["rows"][0]["symbol"] and float(rows[0]["close"]) == body["rows"][0]["close"]


def test_bad_bar_requests_are_invalid_input(api, loaded, make_user, auth_headers_for) -> None:
    headers = auth_headers_for(make_user())
    response = api.get(
        "/api/market/bars",
        params={"symbols": "999999.SH,600000.XX", "start": "2025-01-01", "end": "2025-01-31"},
        headers=headers,
    )
    assert response.status_code == 422
    assert response.json() == {
        "error": {
            "code": "INVALID_INPUT",
            "message": "unknown or malformed symbols: 600000.XX, 999999.SH",
            "details": {"field": "symbols", "malformed": ["600000.XX"], "unknown": ["999999.SH"]},
        }
    }
    response = api.get(
        "/api/market/bars",
        params={"symbols": "600010.SH", "start": "2025-01-01", "end": "2025-01-31", "freq": "1h"},
        headers=headers,
    )
    assert response.json()["error"]["message"] == "unsupported frequency '1h'; use one of ['1d', '5min', '15min']"


def test_calendar_coverage_and_snapshots(api, loaded, make_user, auth_headers_for) -> None:
    headers = auth_headers_for(make_user())
    cal = api.get("/api/market/calendar", params={"start": "2025-01-01", "end": "2025-01-10"}, headers=headers)
    assert cal.json() == {
        "start": "2025-01-01",
        "end": "2025-01-10",
        "source": "xshg",
        "sessions": ["2025-01-02", "2025-01-03", "2025-01-06", "2025-01-07", "2025-01-08", "2025-01-09", "2025-01-10"],
    }
    cov = api.get("/api/market/coverage", params={"freq": "5min"}, headers=headers).json()
    assert [c["symbol"] for c in cov] == ["000010.SZ", "300010.SZ", "600010.SH", "688010.SH", "830010.BJ"]
    assert all(c["rows"] == 20 * 48 for c in cov)
    snaps = api.get("/api/market/snapshots", headers=headers).json()
    assert snaps["total"] == 1 and snaps["items"][0]["id"] == loaded.snapshot.id
    assert snaps["items"][0]["coverage"]["1d"] == {
        "symbols": 9,
        "rows": loaded.snapshot.coverage["1d"]["rows"],
        "first_date": "2015-01-05",
        "last_date": "2025-12-31",
    }
    detail = api.get(f"/api/market/snapshots/{loaded.snapshot.id}", headers=headers).json()
    assert len(detail["partitions"]) == 9 + 5 + 5


def test_sync_and_check_are_for_admins(
    api, loaded, make_user, auth_headers_for, market: MarketDataEnv, tushare: StandinServer
) -> None:
    user = auth_headers_for(make_user())
    body = {"symbols": ["600010.SH"], "freq": "1d", "start": "2025-01-01", "end": "2025-01-31"}
    for path, payload in (("/api/market/sync", body), ("/api/market/check", {})):
        response = api.post(path, json=payload, headers=user)
        assert response.status_code == 403
        assert response.json()["error"] == {"code": "FORBIDDEN", "message": "administrators only", "details": {}}
    admin = auth_headers_for(make_user(role="admin"))
    report = api.post("/api/market/check", json={"symbols": ["600010.SH"]}, headers=admin).json()
    assert report["ok"] is True and report["symbols"] == 1 and report["issues"] == []
    with standin_settings(market, tushare):
        queued = api.post("/api/market/sync", json=body, headers=admin)
        assert queued.status_code == 202, queued.text
        job = queued.json()
        assert job["status"] == "queued" and job["result"] is None and "test-token" not in queued.text
        assert api.get(f"/api/market/sync/{job['job_id']}", headers=admin).json()["job_id"] == job["job_id"]
        assert api.get(f"/api/market/sync/{job['job_id']}", headers=user).status_code == 403
        unknown = api.get(f"/api/market/sync/{uuid.uuid4()}", headers=admin)
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "NOT_FOUND"
        bad = api.post("/api/market/sync", json={**body, "start": "2025-02-01"}, headers=admin)
        assert bad.status_code == 422 and bad.json()["error"]["message"] == "start 2025-02-01 is after end 2025-01-31"
