"""A local stand-in for the Tushare Pro HTTP API, serving the synthetic sample dataset in Tushare's shapes.

For tests and demos (never in production paths): `python -m market_data.tushare_standin --port 7070`, then
`HUICE_TUSHARE_URL=http://127.0.0.1:7070 TUSHARE_TOKEN=demo huice data sync ...`. It speaks the protocol
(POST JSON `api_name/token/params/fields` → `code/msg/data.fields/data.items`), honours `limit`/`offset`,
caps rows per call like the real service, and has switchable faults: HTTP 500s, per-minute and daily quota
messages, malformed JSON, slow replies, smaller row caps. It answers `daily_basic` (by `trade_date` or
`ts_code`) and `index_weight` (by `index_code` with `trade_date` or a date range) from
`market_data.sample_reference`. Daily `vol` is in lots and `amount` in thousand CNY,
as Tushare delivers them; `daily` has no row on suspended days (`suspend_d` has them).
"""

from __future__ import annotations

import argparse
import functools
import json
import threading
import time
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import polars as pl

from market_data import sample, sample_reference
from market_data.calendars import xshg_sessions
from market_data.domain import Freq
from market_data.tushare import PAGE_SIZES

MINUTE_QUOTA_MSG = "抱歉，您每分钟最多访问该接口2次，权限的具体详情访问：https://tushare.pro/document/1?doc_id=108。"
DAILY_QUOTA_MSG = "抱歉，您每天最多访问该接口8000次，权限的具体详情访问：https://tushare.pro/document/1?doc_id=108。"
TOKEN_MSG = "您的token不对，请确认。"  # noqa: S105 - Tushare's error text, not a secret


def _ymd(column: str) -> pl.Expr:
    return pl.col(column).dt.strftime("%Y%m%d")


@functools.lru_cache(maxsize=1)
def tables() -> dict[str, pl.DataFrame]:
    """The sample dataset as Tushare tables (string dates, Tushare units)."""
    data = sample.generate()
    daily = data.bars[Freq.DAILY]
    stocks = daily.filter(pl.col("symbol") != sample.BENCHMARK)
    traded = stocks.filter(~pl.col("suspended"))
    bar_cols = [
        pl.col("symbol").alias("ts_code"),
        _ymd("date").alias("trade_date"),
        "open",
        "high",
        "low",
        "close",
        "pre_close",
        (pl.col("volume") / 100).alias("vol"),
        (pl.col("amount") / 1000).alias("amount"),
    ]
    suspended = stocks.filter(pl.col("suspended"))
    resumed = stocks.sort("symbol", "date").filter(pl.col("suspended").shift(1).over("symbol") & ~pl.col("suspended"))
    insts = [i for i in data.instruments if i.kind == "stock"]
    return {
        "daily": traded.select(bar_cols),
        "index_daily": daily.filter(pl.col("symbol") == sample.BENCHMARK).select(bar_cols),
        "daily_basic": sample_reference.daily_basic(daily).select(
            pl.col("symbol").alias("ts_code"),
            _ymd("date").alias("trade_date"),
            *("close", "pe", "pb", "ps", "dv_ratio", "total_mv", "circ_mv", "turnover_rate"),
        ),
        "index_weight": sample_reference.index_weights(sample.SAMPLE_START, sample.SAMPLE_END).select(
            "index_code", "con_code", _ymd("trade_date").alias("trade_date"), "weight"
        ),
        "adj_factor": stocks.select(pl.col("symbol").alias("ts_code"), _ymd("date").alias("trade_date"), "adj_factor"),
        "stk_limit": stocks.filter(pl.col("up_limit").is_not_null()).select(
            _ymd("date").alias("trade_date"), pl.col("symbol").alias("ts_code"), "pre_close", "up_limit", "down_limit"
        ),
        "suspend_d": pl.concat(
            [
                suspended.select(
                    pl.col("symbol").alias("ts_code"),
                    _ymd("date").alias("trade_date"),
                    pl.lit(None, pl.Utf8).alias("suspend_timing"),
                    pl.lit("S").alias("suspend_type"),
                ),
                resumed.select(
                    pl.col("symbol").alias("ts_code"),
                    _ymd("date").alias("trade_date"),
                    pl.lit(None, pl.Utf8).alias("suspend_timing"),
                    pl.lit("R").alias("suspend_type"),
                ),
            ]
        ),
        "stock_basic": pl.DataFrame(
            [
                {
                    "ts_code": i.symbol,
                    "symbol": i.symbol[:6],
                    "name": sample.current_name(i),
                    "area": "样本",
                    "industry": "样本行业",
                    "market": sample.MARKET_NAMES[i.board],
                    "exchange": i.exchange,
                    "list_status": "D" if i.delist_date else "L",
                    "list_date": i.list_date.strftime("%Y%m%d"),
                    "delist_date": i.delist_date.strftime("%Y%m%d") if i.delist_date else None,
                }
                for i in insts
            ]
        ),
        "namechange": pl.DataFrame(
            [
                {
                    "ts_code": code,
                    "name": name,
                    "start_date": start.strftime("%Y%m%d"),
                    "end_date": end.strftime("%Y%m%d") if end else None,
                    "ann_date": start.strftime("%Y%m%d"),
                    "change_reason": "ST" if "ST" in name else "其他",
                }
                for code, name, start, end in data.names
            ]
        ),
        **{
            f"stk_mins:{freq.value}": data.bars[freq].select(
                pl.col("symbol").alias("ts_code"),
                pl.col("ts").dt.strftime("%Y-%m-%d %H:%M:%S").alias("trade_time"),
                "open",
                "close",
                "high",
                "low",
                pl.col("volume").alias("vol"),
                "amount",
            )
            for freq in (Freq.MIN5, Freq.MIN15)
        },
    }


def _trade_cal(params: dict[str, Any]) -> pl.DataFrame:
    start = date(int(params["start_date"][:4]), int(params["start_date"][4:6]), int(params["start_date"][6:]))
    end = date(int(params["end_date"][:4]), int(params["end_date"][4:6]), int(params["end_date"][6:]))
    sessions = xshg_sessions()
    open_days = set(sessions)
    rows, previous = [], None
    last_before = [d for d in sessions if d < start]
    previous = last_before[-1] if last_before else None
    day = start
    while day <= min(end, date(2026, 12, 31)):
        rows.append(
            {
                "exchange": "SSE",
                "cal_date": day.strftime("%Y%m%d"),
                "is_open": int(day in open_days),
                "pretrade_date": previous.strftime("%Y%m%d") if previous else None,
            }
        )
        if day in open_days:
            previous = day
        day += timedelta(days=1)
    return pl.DataFrame(
        rows, schema={"exchange": pl.Utf8, "cal_date": pl.Utf8, "is_open": pl.Int64, "pretrade_date": pl.Utf8}
    )


def select_rows(api_name: str, params: dict[str, Any]) -> pl.DataFrame:
    """The rows an endpoint answers for `params` (before fields, paging and caps)."""
    if api_name == "trade_cal":
        return _trade_cal(params)
    key = f"stk_mins:{params.get('freq')}" if api_name == "stk_mins" else api_name
    table = tables().get(key)
    if table is None:
        raise KeyError(api_name)
    if params.get("ts_code"):
        table = table.filter(pl.col("ts_code").is_in(str(params["ts_code"]).split(",")))
    if api_name == "index_weight":
        table = table.filter(pl.col("index_code") == params.get("index_code"))
    if api_name == "stock_basic":
        return table.filter(pl.col("list_status") == params.get("list_status", "L"))
    column = "trade_time" if api_name == "stk_mins" else ("start_date" if api_name == "namechange" else "trade_date")
    if params.get("trade_date"):
        table = table.filter(pl.col(column) == params["trade_date"])
    if params.get("start_date"):
        table = table.filter(pl.col(column) >= params["start_date"])
    if params.get("end_date"):
        table = table.filter(pl.col(column) <= params["end_date"])
    code = "con_code" if api_name == "index_weight" else "ts_code"
    return table.sort(column, code, descending=[True, False])  # Tushare answers newest first


class StandinServer:
    """The stand-in on 127.0.0.1 (port 0 = any free port), in a background thread."""

    def __init__(self, *, token: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.token = token
        self._lock = threading.Lock()
        self.faults: dict[str, Any] = {}
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, body = server.handle(self.rfile.read(length))
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    return

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._http = ThreadingHTTPServer((host, port), Handler)
        self._http.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StandinServer:
        tables()
        self._thread = threading.Thread(target=self._http.serve_forever, name="tushare-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        with self._lock:
            self.faults = {}
            self.requests = []

    def set_faults(self, **faults: Any) -> None:
        """`http_500=n`, `quota=n`, `daily_quota=n`, `malformed=n`, `slow=n` (+ `slow_seconds`), `caps={api: rows}`;
        `daily_quota_after=n`: n more bar calls are answered, then every call gets the daily-quota message."""
        with self._lock:
            self.faults.update(faults)

    def bar_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["api_name"] not in ("trade_cal", "stock_basic", "namechange")]

    def _take(self, name: str) -> bool:
        with self._lock:
            if self.faults.get(name, 0) > 0:
                self.faults[name] -= 1
                return True
            return False

    def _quota_used_up(self, api_name: str) -> bool:
        with self._lock:
            left = self.faults.get("daily_quota_after")
            if left is None:
                return False
            if left <= 0:
                return True
            if api_name not in ("trade_cal", "stock_basic", "namechange"):
                self.faults["daily_quota_after"] = left - 1
            return False

    def handle(self, raw: bytes) -> tuple[int, bytes]:
        try:
            request = json.loads(raw)
            api_name, params = request["api_name"], dict(request.get("params") or {})
        except (json.JSONDecodeError, KeyError, TypeError):
            return 200, _reply(40001, "请求格式错误", None)
        with self._lock:
            self.requests.append(
                {"api_name": api_name, "params": params, "token": request.get("token"), "at": time.monotonic()}
            )
        if self._take("slow"):
            time.sleep(float(self.faults.get("slow_seconds", 2.0)))
        if self._take("http_500"):
            return 500, b"<html>502 Bad Gateway</html>"
        if self._take("malformed"):
            return 200, b'{"code": 0, "data": {"fields": ['
        if request.get("token") != self.token:
            return 200, _reply(40101, TOKEN_MSG, None)
        if self._take("quota"):
            return 200, _reply(40203, MINUTE_QUOTA_MSG, None)
        if self._take("daily_quota") or self._quota_used_up(api_name):
            return 200, _reply(40203, DAILY_QUOTA_MSG, None)
        return 200, self._answer(api_name, params, request.get("fields") or "")

    def _answer(self, api_name: str, params: dict[str, Any], fields: str) -> bytes:
        try:
            rows = select_rows(api_name, params)
        except KeyError:
            return _reply(40102, f"接口名称错误：{api_name}", None)
        if fields:
            wanted = [f for f in fields.split(",") if f in rows.columns]
            rows = rows.select(wanted)
        cap = int(self.faults.get("caps", {}).get(api_name, PAGE_SIZES.get(api_name, 5000)))
        offset = int(params.get("offset") or 0)
        limit = min(int(params.get("limit") or cap), cap)
        page = rows.slice(offset, limit)
        return _reply(
            0,
            "",
            {
                "fields": page.columns,
                "items": [list(r) for r in page.iter_rows()],
                "has_more": offset + page.height < rows.height,
            },
        )


def _reply(code: int, msg: str, data: dict[str, Any] | None) -> bytes:
    return json.dumps({"request_id": "standin", "code": code, "msg": msg, "data": data}, ensure_ascii=False).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the sample dataset over the Tushare Pro protocol.")
    parser.add_argument("--port", type=int, default=7070)
    parser.add_argument("--token", default="demo")
    args = parser.parse_args()
    with StandinServer(token=args.token, port=args.port) as server:
        print(f"Tushare stand-in on {server.url}; Ctrl-C to stop")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
