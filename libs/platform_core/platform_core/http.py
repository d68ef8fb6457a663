"""HTTP plumbing shared by every router: error envelope handlers, request ids, body limit, session deps.

`install_http(app, max_body_bytes=...)` wires the middleware and exception handlers onto a FastAPI app.
`ClientConcurrencyMiddleware` shares each API process fairly between callers (see its doc).
Routers declare `SessionDep` to get the request's unit of work: it commits after the route returns and
before the response is sent, so a failed commit is a failed request, never a lie.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import re
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from anyio import CancelScope, CapacityLimiter
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from platform_core.db import settled
from platform_core.edge import INT_RANGE, NUL, edge_guard, refuse, widest_integer
from platform_core.errors import AppError, ErrorCode, error_envelope, validation_errors
from platform_core.logging import redact, request_id_var

log = logging.getLogger("huice.http")
T = TypeVar("T")

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_STATUS_CODES = {
    400: ErrorCode.INVALID_INPUT,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.INVALID_INPUT,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.INVALID_INPUT,
    422: ErrorCode.INVALID_INPUT,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}


class ErrorBody(BaseModel):
    code: ErrorCode
    message: str
    details: dict[str, Any] = {}


class ErrorEnvelope(BaseModel):
    """The one error shape of the API."""

    error: ErrorBody


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting the envelope for the given statuses."""
    descriptions = {
        401: "UNAUTHORIZED",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        409: "CONFLICT",
        413: "PAYLOAD_TOO_LARGE",
        422: "INVALID_INPUT",
        429: "RATE_LIMITED",
        500: "INTERNAL_ERROR",
        502: "UPSTREAM_ERROR",
        503: "SERVICE_UNAVAILABLE",
    }
    return {s: {"model": ErrorEnvelope, "description": descriptions.get(s, "error")} for s in statuses}


COMMON_ERROR_RESPONSES = error_responses(413, 422, 500)


def envelope_response(
    status: int, code: ErrorCode | str, message: str, details: dict | None = None, headers: dict | None = None
) -> JSONResponse:
    return JSONResponse(error_envelope(code, message, details), status_code=status, headers=headers)


def _validation_details(exc: RequestValidationError) -> dict[str, Any]:
    errors = validation_errors(exc.errors())
    details: dict[str, Any] = {"errors": errors}
    if errors:
        details["field"] = errors[0]["field"]
    return details


def _install_exception_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        if exc.code == ErrorCode.INTERNAL_ERROR:
            log.error("internal error: %s", exc.message)
        return envelope_response(exc.http_status, exc.code, exc.message, redact(exc.details), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        malformed = any(e["type"] == "json_invalid" for e in details["errors"])
        message = "malformed JSON body" if malformed else f"invalid input: {details.get('field') or 'request'}"
        return envelope_response(422, ErrorCode.INVALID_INPUT, message, details)

    @app.exception_handler(DataError)
    async def _db_value(request: Request, exc: DataError) -> JSONResponse:
        kind = _unstorable(exc)
        if kind is None:
            raise exc
        field = (widest_integer(request) if kind == INT_RANGE else None) or "request"
        log.warning("value refused by PostgreSQL on %s %s: %s", request.method, request.url.path, field)
        error = refuse(field, kind)
        return envelope_response(error.http_status, error.code, error.message, error.details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, ErrorCode.INTERNAL_ERROR)
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"method {request.method} not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        status = 422 if exc.status_code == 400 else exc.status_code
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
        return envelope_response(status, code, message, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path (Starlette's 405 names only the first route's)."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        match, _ = route.matches({**request.scope, "method": ""})
        if match != Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


# PostgreSQL's data exceptions caused by a value the edge let through (the backstop of `platform_core.edge`).
_OUT_OF_RANGE = {"22003"}  # numeric_value_out_of_range
_BAD_CHARACTER = {"22021", "22P05"}  # character_not_in_repertoire, untranslatable_character


def _unstorable(exc: DataError) -> str | None:
    """INT_RANGE or NUL when PostgreSQL (or psycopg, for NUL bytes) refused a value, else None."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in _OUT_OF_RANGE:
        return INT_RANGE
    if sqlstate in _BAD_CHARACTER or "NUL (0x00)" in str(exc.orig):
        return NUL
    return None


Observer = Callable[[Scope, int, float], None]


class RequestContextMiddleware:
    """Accept or create `X-Request-ID`, echo it, bind it to logs, add the headers recorded with
    `add_response_headers` (rate limits, quota hints) unless the response has them already, write one access
    line per request and hand it to `observe` (the composition app's metrics: scope, status, seconds). One
    layer for all of it, outermost: each layer is one more `send` wrapper every response message passes."""

    def __init__(self, app: ASGIApp, observe: Observer | None = None) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":  # the last one wins
                incoming = value.decode("latin-1")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        raw_id = request_id.encode("latin-1")
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", raw_id))
                message["headers"] = headers
            await send(message)

        async def send_from_app(message: Message) -> None:
            if message["type"] == "http.response.start":
                _add_recorded_headers(scope, message)
            await send_with_id(message)

        try:
            await self.app(scope, receive, send_from_app)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if response_started:
                raise
            response = envelope_response(
                500,
                ErrorCode.INTERNAL_ERROR,
                "internal error; quote the request id to support",
                {"request_id": request_id},
            )
            await response(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            log.info(
                "%s %s %s",
                scope.get("method"),
                scope.get("path"),
                status,
                extra={"status": status, "duration_ms": round(seconds * 1000, 2)},
            )
            request_id_var.reset(token)
            if self.observe is not None:
                self.observe(scope, status, seconds)


async def send_envelope(
    send: Send,
    status: int,
    code: ErrorCode,
    message: str,
    details: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> None:
    """Answer from a middleware (before any route ran) with the error envelope."""
    body = json.dumps(error_envelope(code, message, details)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class BodySizeLimitMiddleware:
    """Refuse bodies above `max_bytes` with 413 in the envelope (by Content-Length, and while streaming)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send: Send) -> None:
        await send_envelope(
            send,
            413,
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"request body larger than {self.max_bytes} bytes",
            {"limit_bytes": self.max_bytes},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._reject(send)
            return
        if length is not None:
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): buffer up to the limit, then replay to the app.
        chunks: list[Message] = []
        received = 0
        while True:
            message = await receive()
            chunks.append(message)
            if message["type"] != "http.request":
                break
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                await self._reject(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return chunks.pop(0) if chunks else await receive()

        await self.app(scope, replay, send)


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class _Lane:
    """One caller's share of this process: requests past the gate (all, and the writes among them), and
    those waiting for a turn — reads and writes in a queue each, every entry tagged with its arrival."""

    active: int = 0
    writing: int = 0
    reads: deque[tuple[int, asyncio.Future[None]]] = field(default_factory=deque)
    writes: deque[tuple[int, asyncio.Future[None]]] = field(default_factory=deque)

    @property
    def waiting(self) -> int:
        return len(self.reads) + len(self.writes)


class _WaitedTooLong(Exception):
    """A request waited longer than the gate's `max_wait_s` for its turn."""


class ClientConcurrencyMiddleware:
    """Fair shares of an API process: each caller (one credential) has at most `max_active` requests past
    this gate at once, of which at most `max_writes` writes (POST, PUT, PATCH, DELETE: a save, a validation
    or a backtest create starts a confined run of the caller's code, a read never does); more wait here,
    without a thread, a database connection or a read body, and a freed turn goes to the oldest waiting
    request that may take it — so a caller's reads pass their own queued writes. Beyond `max_waiting`
    waiting ones the request is refused at once with 429 RATE_LIMITED and `Retry-After`, and so is one that
    waited `max_wait_s` without a turn (the gate answers before a client's timeout would). One user firing
    50 saves at once thereby runs one at a time per process (the CPU of one confined run), never takes more
    than `max_active` threads and pooled connections, and another user's request goes straight through.

    The caller is the SHA-256 of the `Authorization` header (an access token, an API key): a forged or
    foreign credential can only queue behind itself. Requests without one (login, register, public share
    views, health) pass ungated: they have their own throttles. A turn ends when the response starts, so
    a long stream (SSE) holds no slot while it streams. Per process, in memory: the limits are per API
    process (`HUICE_API_WORKERS` of them)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_active: int,
        max_waiting: int,
        max_writes: int | None = None,
        max_wait_s: float | None = None,
        retry_after_s: int = 1,
    ) -> None:
        self.app = app
        self.max_wait_s = max_wait_s
        self.max_active = max_active
        self.max_writes = min(max_writes or max_active, max_active)
        self.max_waiting = max_waiting
        self.retry_after_s = retry_after_s
        self._lanes: dict[str, _Lane] = {}
        self._arrivals = itertools.count()

    @staticmethod
    def caller(scope: Scope) -> str | None:
        for name, value in scope["headers"]:
            if name == b"authorization" and value.strip():
                return hashlib.sha256(value.strip()).hexdigest()
        return None

    @property
    def lanes(self) -> int:
        """Callers with a request past the gate or waiting (idle callers are forgotten)."""
        return len(self._lanes)

    def _may_enter(self, lane: _Lane, write: bool) -> bool:
        return lane.active < self.max_active and (not write or lane.writing < self.max_writes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = self.caller(scope) if scope["type"] == "http" else None
        if key is None:
            await self.app(scope, receive, send)
            return
        write = scope.get("method", "GET") not in READ_METHODS
        lane = self._lanes.setdefault(key, _Lane())
        queue = lane.writes if write else lane.reads
        if not queue and self._may_enter(lane, write):
            self._enter(lane, write)
        elif lane.waiting >= self.max_waiting:
            await self._refuse(send, f"{self.max_waiting} waiting")
            if lane.active == 0 and not lane.waiting:
                self._lanes.pop(key, None)
            return
        else:
            loop = asyncio.get_running_loop()
            turn = loop.create_future()
            entry = (next(self._arrivals), turn)
            queue.append(entry)
            # a turn not handed over within `max_wait_s` ends as a 429 (the timer and `_hand_over` both run on
            # this loop: whichever comes first decides, and `_hand_over` skips a future that is already done)
            timer = None
            if self.max_wait_s is not None:
                timer = loop.call_later(self.max_wait_s, lambda: turn.done() or turn.set_exception(_WaitedTooLong()))
            try:
                await turn
            except _WaitedTooLong:
                with contextlib.suppress(ValueError):
                    queue.remove(entry)
                if lane.active == 0 and not lane.waiting:
                    self._lanes.pop(key, None)
                await self._refuse(send, f"waited {self.max_wait_s:g} s for a turn")
                return
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled() and turn.exception() is None:
                    self._release(key, lane, write)  # the turn was handed over as the caller went away
                else:  # still waiting (or already skipped by a `_hand_over` that saw it cancelled)
                    with contextlib.suppress(ValueError):
                        queue.remove(entry)
                raise
            finally:
                if timer is not None:
                    timer.cancel()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._release(key, lane, write)

        async def send_releasing(message: Message) -> None:
            if message["type"] == "http.response.start":
                release()
            await send(message)

        try:
            await self.app(scope, receive, send_releasing)
        finally:
            release()

    async def _refuse(self, send: Send, why: str) -> None:
        await send_envelope(
            send,
            429,
            ErrorCode.RATE_LIMITED,
            f"too many requests of yours in progress (at most {self.max_active} at once, {self.max_writes} "
            f"of them writes; {why}); try again shortly",
            {
                "limit": "concurrent_requests",
                "max": self.max_active,
                "max_writes": self.max_writes,
                "retry_after": self.retry_after_s,
            },
            {"Retry-After": str(self.retry_after_s)},
        )

    @staticmethod
    def _enter(lane: _Lane, write: bool) -> None:
        lane.active += 1
        lane.writing += write

    def _release(self, key: str, lane: _Lane, write: bool) -> None:
        """End a turn, then hand the free turns over (or forget the idle caller)."""
        lane.active -= 1
        lane.writing -= write
        self._hand_over(lane)
        if lane.active == 0:
            self._lanes.pop(key, None)

    def _hand_over(self, lane: _Lane) -> None:
        """Give turns to the oldest waiting requests that may take one, until none may."""
        while True:
            for queue in (lane.reads, lane.writes):
                while queue and queue[0][1].done():  # cancelled while waiting
                    queue.popleft()
            heads = [(q[0][0], q, q is lane.writes) for q in (lane.reads, lane.writes) if q]
            heads = [head for head in heads if self._may_enter(lane, head[2])]
            if not heads:
                return
            _, queue, write = min(heads, key=lambda head: head[0])
            _, turn = queue.popleft()
            self._enter(lane, write)
            turn.set_result(None)


_EXTRA_HEADERS = "extra_response_headers"
_SUCCESS_HEADERS = "success_response_headers"
_SUCCESS_SOURCES = "success_response_header_sources"


def add_response_headers(request: Request, headers: dict[str, str], *, success_only: bool = False) -> None:
    """Headers for this request's response, whatever answers it (the route, an error handler): added by
    `RequestContextMiddleware` unless the response already has them; `success_only` ones only to 2xx/3xx."""
    key = _SUCCESS_HEADERS if success_only else _EXTRA_HEADERS
    state = request.scope.setdefault("state", {})
    state.setdefault(key, {}).update(headers)


def add_success_headers_from(request: Request, source: Callable[[], dict[str, str]]) -> None:
    """Headers for this request's 2xx/3xx response that exist only once the route has run (what its unit
    of work counted): `source` is called when the response starts, after the route and its commit — so a
    dependency needs no code after a `yield` (and FastAPI no exit of its own) to add them."""
    state = request.scope.setdefault("state", {})
    state.setdefault(_SUCCESS_SOURCES, []).append(source)


def recorded_response_headers(request: Request) -> dict[str, str]:
    """The headers recorded so far with `add_response_headers` (not the `success_only` ones)."""
    return dict((request.scope.get("state") or {}).get(_EXTRA_HEADERS) or {})


def _add_recorded_headers(scope: Scope, message: Message) -> None:
    """Add the headers recorded with `add_response_headers` to a response start (those it lacks)."""
    state = scope.get("state") or {}
    extra = dict(state.get(_EXTRA_HEADERS) or {})
    if message["status"] < 400:
        extra.update(state.get(_SUCCESS_HEADERS) or {})
        for source in state.get(_SUCCESS_SOURCES) or ():
            extra.update(source())
    if extra:
        headers = list(message.get("headers", []))
        present = {k.lower() for k, _ in headers}
        headers += [
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in extra.items()
            if k.lower().encode("latin-1") not in present
        ]
        message["headers"] = headers


def install_http(
    app: FastAPI,
    *,
    max_body_bytes: int,
    client_max_active: int = 4,
    client_max_waiting: int = 64,
    client_max_writes: int = 1,
    client_max_wait_s: float | None = 30.0,
    observe: Observer | None = None,
) -> None:
    """Error handlers, the schema edge (`platform_core.edge.edge_guard`, first dependency of every route
    added afterwards) and the request-context (request id, recorded headers, access line, `observe`),
    per-caller concurrency and body-size middleware, outermost first."""
    _install_exception_handlers(app)
    app.router.dependencies.insert(0, Depends(edge_guard))
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(
        ClientConcurrencyMiddleware,
        max_active=client_max_active,
        max_waiting=client_max_waiting,
        max_writes=client_max_writes,
        max_wait_s=client_max_wait_s,
    )
    app.add_middleware(RequestContextMiddleware, observe=observe)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's unit of work (see module doc). Opened on the event loop (a new `Session` does no I/O
    until its first statement); its commit or rollback runs in a worker thread, shielded from cancellation
    like FastAPI's own exit of a sync generator dependency: one thread hop per request instead of two. A
    unit already committed by the route's own hop (`run_committed`) ends on the loop: nothing is left to do."""
    unit = request.app.state.container.db.transaction()
    session = unit.__enter__()
    exit_limiter = CapacityLimiter(1)  # the exit never waits for a free thread (see fastapi.concurrency)
    try:
        yield session
    except BaseException as exc:
        if settled(session):
            if not unit.__exit__(type(exc), exc, exc.__traceback__):
                raise
            return
        with CancelScope(shield=True):
            suppressed = await anyio.to_thread.run_sync(
                unit.__exit__, type(exc), exc, exc.__traceback__, limiter=exit_limiter
            )
        if not suppressed:
            raise
    else:
        if settled(session):
            unit.__exit__(None, None, None)
            return
        with CancelScope(shield=True):
            await anyio.to_thread.run_sync(unit.__exit__, None, None, None, limiter=exit_limiter)


async def run_committed(session: Session, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` — a route's blocking work over its `SessionDep` — then the commit of the unit
    of work, in one worker-thread hop: the session's exit then finds nothing left and ends on the loop
    (two hops per request instead of three, for the most polled reads). A failed commit still fails the
    request; `fn` raising leaves the rollback to the exit, as for any route. After-commit hooks `fn`
    registered wait for the exit (which then takes its own hop), so they still run after the commit."""

    def work() -> T:
        result = fn(*args, **kwargs)
        session.commit()
        return result

    return await anyio.to_thread.run_sync(work)


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_container(request: Request) -> Any:
    """The composition root built at start-up (settings, db, redis, registries)."""
    return request.app.state.container
