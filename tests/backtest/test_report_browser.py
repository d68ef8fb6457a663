"""The report and a share link in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright
for Python through `executable_path`; `playwright install` is never needed) opens the report file — from a
local HTTP server on 127.0.0.1 and as file:// — and a share link served by the real app under uvicorn on
127.0.0.1, without login. Each page must load with no console error and no request leaving 127.0.0.1 (only
data:/blob: URLs besides), draw the equity chart (non-blank canvas), change its visible range on a zoom
(wheel and a dataZoom action, read back from the chart instance), show Chinese text, and leave a
screenshot (in `HUICE_TEST_ARTIFACTS_DIR`, else the test's tmp dir). A sweep's report likewise: no console
error, nothing leaving 127.0.0.1, the parameter heatmap drawn with one cell per evaluated pair.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from huice.bootstrap import Container
from tests.backtest import support
from tests.backtest.test_backtest_optimisation_bdd import _run_batches, _submitted, _sweep
from tests.backtest.test_sharing_bdd import share, succeed_in_process

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"),
]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    target = Path(os.environ.get("HUICE_TEST_ARTIFACTS_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture
def shared_run(bt: Container, client: Any) -> dict[str, Any]:
    me = support.new_user(bt)
    answer = client.post("/api/backtests", json=support.backtest_body(), headers=me.headers)
    assert answer.status_code == 201, answer.text
    backtest = answer.json()["backtest"]
    run = succeed_in_process(bt, client, me, backtest, {"fast": 5, "slow": 20})
    return {"me": me, "run": run, "backtest": backtest}


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[str]:
    """A plain HTTP server on 127.0.0.1 serving `tmp_path/site`."""
    site = tmp_path / "site"
    site.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def app_server(bt: Container) -> Iterator[str]:
    """The real app (every router) under uvicorn on 127.0.0.1, over the backtest database."""
    import uvicorn

    from huice.api import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(bt), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class Visit:
    """A page with its console errors, page errors and every request it made recorded."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def open(self, url: str) -> Any:
        response = self.page.goto(url, wait_until="load")
        self.page.wait_for_selector("html[data-report-ready='1']", timeout=15000)
        return response

    def close(self) -> None:
        self.context.close()


def _only_local(requests: list[str], document: str) -> None:
    assert requests, "the page made no request at all"
    for url in requests:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or url == document:
            continue
        assert parts.scheme in ("http", "https") and parts.hostname == "127.0.0.1", f"request left 127.0.0.1: {url}"


EQUITY_PIXELS = """() => {
  const canvas = document.querySelector('#chart-equity canvas');
  const ctx = canvas.getContext('2d');
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted++;
  return {painted, total: canvas.width * canvas.height};
}"""
VISIBLE_RANGE = """() => {
  const chart = window.huiceReport.charts['chart-equity'];
  const extent = chart.getModel().getComponent('xAxis', 0).axis.scale.getExtent();
  const zoom = chart.getOption().dataZoom[0];
  return {from: extent[0], to: extent[1], start: zoom.start, end: zoom.end};
}"""


def _check_report_page(visit: Visit, document: str, shot: Path) -> None:
    page = visit.page
    assert "回测报告" in page.inner_text("h1")
    assert "研究用途，不构成投资建议" in page.inner_text("body")
    assert "月度收益" in page.inner_text("body") and "可复现清单" in page.inner_text("body")
    pixels = page.evaluate(EQUITY_PIXELS)
    assert pixels["painted"] > pixels["total"] * 0.02, pixels
    full = page.evaluate(VISIBLE_RANGE)
    assert (full["start"], full["end"]) == (0, 100)
    box = page.locator("#chart-equity").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.3)
    for _ in range(3):
        page.mouse.wheel(0, -300)
        page.wait_for_timeout(100)
    page.wait_for_function(  # the chart applies wheel zooms on its next frames
        "(span) => { const x = window.huiceReport.charts['chart-equity'].getModel().getComponent('xAxis', 0)"
        ".axis.scale.getExtent(); return x[1] - x[0] < span; }",
        arg=full["to"] - full["from"],
        timeout=5000,
    )
    wheeled = page.evaluate(VISIBLE_RANGE)
    assert wheeled["to"] - wheeled["from"] < full["to"] - full["from"], (full, wheeled)
    page.evaluate(
        "() => window.huiceReport.charts['chart-equity'].dispatchAction({type: 'dataZoom', start: 25, end: 50})"
    )
    picked = page.evaluate(VISIBLE_RANGE)
    span = full["to"] - full["from"]
    assert (picked["start"], picked["end"]) == (25, 50)
    assert abs(picked["from"] - (full["from"] + 0.25 * span)) < span * 0.02, (full, picked)
    assert abs(picked["to"] - (full["from"] + 0.5 * span)) < span * 0.02, (full, picked)
    page.evaluate(
        "() => window.huiceReport.charts['chart-equity'].dispatchAction({type: 'dataZoom', start: 0, end: 100})"
    )
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    assert visit.errors == [], visit.errors
    _only_local(visit.requests, document)


def test_the_report_file_works_offline_in_chromium(
    browser: Any, client: Any, shared_run: dict, static_server: str, tmp_path: Path, shots: Path
) -> None:
    answer = support.artifact(client, shared_run["me"], shared_run["run"]["run_id"], "report", "html")
    assert answer.status_code == 200, answer.text
    (tmp_path / "site" / "report.html").write_bytes(answer.content)
    for document, shot in (
        (f"{static_server}/report.html", shots / "report-http.png"),
        ((tmp_path / "site" / "report.html").as_uri(), shots / "report-file.png"),
    ):
        visit = Visit(browser)
        try:
            visit.open(document)
            _check_report_page(visit, document, shot)
        finally:
            visit.close()


def test_a_share_link_opens_without_login_in_chromium(
    browser: Any, client: Any, shared_run: dict, app_server: str, shots: Path
) -> None:
    created = share(client, shared_run["me"], shared_run["run"]["run_id"], {"expires_in": "1d"})
    assert created.status_code == 201, created.text
    document = f"{app_server}/s/{created.json()['token']}"
    visit = Visit(browser)
    try:
        response = visit.open(document)
        assert response.status == 200
        assert "connect-src 'none'" in response.headers["content-security-policy"]
        assert shared_run["backtest"]["strategy"]["strategy_name"] in visit.page.inner_text("h1")
        _check_report_page(visit, document, shots / "share-link.png")
    finally:
        visit.close()
    revoked = client.delete(f"/api/shares/{created.json()['id']}", headers=shared_run["me"].headers)
    assert revoked.status_code == 200
    visit = Visit(browser)
    try:
        assert visit.page.goto(document).status == 404
    finally:
        visit.close()


@pytest.fixture
def finished_sweep(bt: Container, client: Any) -> dict[str, Any]:
    me = support.new_user(bt)
    answer = client.post("/api/backtests", json=support.backtest_body(), headers=me.headers)
    assert answer.status_code == 201, answer.text
    backtest = answer.json()["backtest"]
    body = {"mode": "grid", "gridSpec": {"fast": [5, 10, 20, 40], "slow": [30, 60, 90]}}
    opt = _submitted(_sweep(client, me, backtest, body))
    read = _run_batches(bt, client, me, opt["id"])
    assert read["status"] == "succeeded" and read["evaluated"] == 11, read
    return {"me": me, "id": opt["id"], "read": read}


HEATMAP_PIXELS = EQUITY_PIXELS.replace("#chart-equity", "#chart-heatmap")


def test_the_sweep_report_works_offline_in_chromium(
    browser: Any, client: Any, finished_sweep: dict, static_server: str, tmp_path: Path, shots: Path
) -> None:
    me, opt_id = finished_sweep["me"], finished_sweep["id"]
    answer = client.get(f"/api/optimizations/{opt_id}/report", headers=me.headers)
    assert answer.status_code == 200, answer.text
    heat = client.get(
        f"/api/optimizations/{opt_id}/heatmap", params={"x": "fast", "y": "slow"}, headers=me.headers
    ).json()
    evaluated = sum(v is not None for row in heat["z"] for v in row)
    assert evaluated == 11  # fast 40 / slow 30 is rejected by the strategy: one empty cell
    (tmp_path / "site" / "sweep.html").write_bytes(answer.content)
    for document, shot in (
        (f"{static_server}/sweep.html", shots / "sweep-report-http.png"),
        ((tmp_path / "site" / "sweep.html").as_uri(), shots / "sweep-report-file.png"),
    ):
        visit = Visit(browser)
        try:
            visit.open(document)
            page = visit.page
            assert "参数优化报告" in page.inner_text("h1")
            text = page.inner_text("body")
            assert "研究用途，不构成投资建议" in text and "参数热力图" in text and "过拟合诊断" in text
            assert "收缩夏普比率" in text and "回测过拟合概率" in text
            pixels = page.evaluate(HEATMAP_PIXELS)
            assert pixels["painted"] > pixels["total"] * 0.05, pixels
            cells = page.evaluate("() => window.huiceReport.charts['chart-heatmap'].getOption().series[0].data.length")
            assert cells == evaluated
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 20_000
            assert visit.errors == [], visit.errors
            _only_local(visit.requests, document)
        finally:
            visit.close()
