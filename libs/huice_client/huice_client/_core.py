"""The request machinery under every `Client` method: routes declared once, the error envelope, tokens.

Each public method of `Client` is declared with `@endpoint("METHOD /path", query=..., body=...)` and returns a
`Call` (path values, query values, JSON body); the decorator sends it. The declaration is the one place a
route is named, so `huice_client.routes()` lists exactly what the client calls and a test compares it with the
server's `/openapi.json`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ValidationError

Returns = Literal["json", "bytes", "none", "stream"]


class HuiceError(Exception):
    """An error answered by the server (or the transport): the envelope's code, message and details, and
    the HTTP status (0 when no answer arrived) and the route that answered (when known)."""

    def __init__(
        self,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        status: int = 0,
        route: Route | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details or {}
        self.status = status
        self.route = route


class _Envelope(BaseModel):
    class _Error(BaseModel):
        code: str
        message: str
        details: dict[str, Any] = {}

    error: _Error


class TokenPair(BaseModel):
    """What login and refresh answer: the bearer token, the refresh token and who they belong to."""

    access_token: str
    refresh_token: str
    expires_at: str
    user: dict[str, Any]


@dataclass(frozen=True)
class Route:
    """One REST operation the client calls: method, path template, query names and request-body schema
    (`None`: no body; `""`: an optional inline body)."""

    method: str
    path: str
    query: tuple[str, ...] = ()
    body: str | None = None
    returns: Returns = "json"
    renew: bool = True  # a 401 renews the access token and retries (not for the sign-in routes themselves)

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Call:
    """What a method sends: path values, query values (None values are left out) and a JSON body."""

    path: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


_ROUTES: dict[str, Route] = {}


def endpoint(
    spec: str,
    *,
    query: tuple[str, ...] = (),
    body: str | None = None,
    returns: Returns = "json",
    renew: bool = True,
) -> Callable[[Callable[..., Call | None]], Callable[..., Any]]:
    """Declare a `Client` method's route; the method builds the `Call`, the decorator sends it."""
    method, path = spec.split(" ", 1)
    route = Route(method, path, tuple(query), body, returns, renew)

    def decorate(fn: Callable[..., Call | None]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def send(self: Any, *args: Any, **kwargs: Any) -> Any:
            return self._send(route, fn(self, *args, **kwargs) or Call())

        send.__huice_route__ = route  # type: ignore[attr-defined]
        _ROUTES[fn.__name__] = route
        return send

    return decorate


def routes() -> dict[str, Route]:
    """Every route the client calls, by method name."""
    return dict(_ROUTES)


def error_from(response: httpx.Response) -> HuiceError:
    """The server's envelope as a `HuiceError`; a non-envelope answer (a proxy's page) keeps its status."""
    try:
        envelope = _Envelope.model_validate(response.json())
    except (ValueError, ValidationError):
        code = "UNAUTHORIZED" if response.status_code == 401 else "UPSTREAM_ERROR"
        message = f"HTTP {response.status_code} from {response.request.url.path}"
        return HuiceError(code, message, {}, response.status_code)
    e = envelope.error
    return HuiceError(e.code, e.message, e.details, response.status_code)


def sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Parse a text/event-stream into `{"id", "event", "data"}` dicts (data JSON-decoded when it parses)."""
    event: dict[str, Any] = {}
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                text = "\n".join(data)
                try:
                    event["data"] = json.loads(text)
                except ValueError:
                    event["data"] = text
                event.setdefault("event", "message")
                yield event
            event, data = {}, []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name in ("id", "event"):
                event[name] = value


def clean(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}
