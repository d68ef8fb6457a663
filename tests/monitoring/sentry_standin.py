"""A Sentry stand-in for the error-tracking tests: a real HTTP server on 127.0.0.1 that accepts the SDK's
envelopes (`POST /api/<project>/envelope/`, gzip or uncompressed), keeps every body as received (after
decompression) and parses the event items. Its `dsn` is what HUICE_SENTRY_DSN is set to. No network."""

from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SentryStandIn:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                received.bodies.append(body)
                received.paths.append(self.path)
                answer = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.server.server_address[1]}/1"

    def __enter__(self) -> SentryStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def everything(self) -> str:
        """Every byte received, as text (for "no planted secret anywhere")."""
        return b"\n".join(self.bodies).decode("utf-8", "replace")

    def events(self) -> list[dict[str, Any]]:
        return [payload for body in list(self.bodies) for kind, payload in _items(body) if kind == "event"]

    def wait_event(self, exception_type: str, timeout: float = 20.0) -> dict[str, Any]:
        """The first event whose exception is of `exception_type` (waits for the SDK's background send)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events():
                if exception_type in exception_types(event):
                    return event
            time.sleep(0.1)
        seen = [exception_types(e) for e in self.events()]
        raise AssertionError(f"no {exception_type} event within {timeout}s; events seen: {seen}")


def exception_types(event: dict[str, Any]) -> list[str]:
    return [v.get("type") for v in (event.get("exception") or {}).get("values") or []]


def _items(body: bytes) -> list[tuple[str, Any]]:
    """The (type, payload) items of an envelope: a header line, then per item a header line and a payload
    of `length` bytes (or up to the next newline)."""
    found = []
    pos = body.find(b"\n") + 1
    while 0 < pos < len(body):
        end = body.find(b"\n", pos)
        end = len(body) if end == -1 else end
        if end == pos:
            pos += 1
            continue
        header = json.loads(body[pos:end])
        pos = end + 1
        length = header.get("length")
        if length is None:
            end = body.find(b"\n", pos)
            end = len(body) if end == -1 else end
            payload, pos = body[pos:end], end + 1
        else:
            payload, pos = body[pos : pos + length], pos + length + 1
        try:
            found.append((header.get("type"), json.loads(payload)))
        except ValueError:
            found.append((header.get("type"), payload))
    return found
