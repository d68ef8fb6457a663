"""The schema edge: every request value is checked once, before any route runs.

PostgreSQL cannot store some values that JSON and URLs can carry: text with a NUL character (`\\u0000`),
integers outside the signed 64-bit range, non-finite numbers (`1e999`, `NaN`). `edge_guard` is an
app-wide dependency (installed by `platform_core.http.install_http`, so it is the first dependency of every
route, before authentication and before the unit of work opens) that refuses them in every path value,
query value and JSON body (keys included) with 422 INVALID_INPUT naming the field. It also holds the API
to its declared dates: where the API declares a `date` (a path or query parameter, or `format: date` in
the body's schema) only `YYYY-MM-DD` is accepted — not pydantic's lax datetimes (`2024-01-01T00:00:00`)
or unix timestamps.

Integers that fit 64 bits but not the 32-bit column behind them are bounded where declared (`INT32_MAX`);
`db_value_error` is the last backstop, turning PostgreSQL's out-of-range / invalid-character errors into
INVALID_INPUT naming the widest integer the request carried.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any, Union, get_args, get_origin

from fastapi import Request
from pydantic import TypeAdapter

from platform_core.errors import InvalidInput

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MAX = 2**31 - 1

_INT_LITERAL = re.compile(r"\s*[+-]?\d+\s*")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_STATE_KEY = "edge_integers"
_MAX_DEPTH = 64
_MAX_INT_DIGITS = 40

NUL = "nul_character"
INT_RANGE = "int_out_of_range"
NON_FINITE = "non_finite_number"
DATE_FORMAT = "date_format"
_MESSAGES = {
    NUL: "must not contain a NUL character (\\u0000)",
    INT_RANGE: f"must be an integer between {INT64_MIN} and {INT64_MAX}",
    NON_FINITE: "must be a finite number",
    DATE_FORMAT: "must be a date as YYYY-MM-DD",
}


def refuse(field: str, kind: str) -> InvalidInput:
    """The INVALID_INPUT of the edge: `field: reason`, in the same shape as a validation error."""
    message = _MESSAGES[kind]
    return InvalidInput(
        f"{field}: {message}", field=field, details={"errors": [{"field": field, "message": message, "type": kind}]}
    )


def _join(prefix: str, key: Any) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def scan(value: Any, field: str = "", depth: int = 0) -> Iterator[tuple[str, str | int]]:
    """Walk a decoded JSON value: yield `(field, kind)` for what PostgreSQL cannot store and
    `(field, n)` for every integer (the backstop names the widest)."""
    if isinstance(value, str):
        if "\x00" in value:
            yield field, NUL
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        yield (field, INT_RANGE) if not INT64_MIN <= value <= INT64_MAX else (field, value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield field, NON_FINITE
    elif depth < _MAX_DEPTH and isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                yield _join(field, key.replace("\x00", "\\u0000")), NUL
            yield from scan(item, _join(field, key), depth + 1)
    elif depth < _MAX_DEPTH and isinstance(value, list):
        for index, item in enumerate(value):
            yield from scan(item, _join(field, index), depth + 1)


# --- what a route declares --------------------------------------------------------------------------------


def _is(annotation: Any, kind: type) -> bool:
    """`annotation` is `kind` or an optional / union containing it (bool is not an int, datetime not a date)."""
    if get_origin(annotation) in (Union, type(int | None)):
        return any(_is(arg, kind) for arg in get_args(annotation))
    if annotation is bool or (kind is date and annotation is datetime):
        return False
    return isinstance(annotation, type) and issubclass(annotation, kind) and not issubclass(annotation, bool)


def _params(dependant: Any) -> Iterator[tuple[str, Any, Any]]:
    for field in dependant.path_params:
        yield "path", field.alias, field.field_info.annotation
    for field in dependant.query_params:
        yield "query", field.alias, field.field_info.annotation
    for sub in dependant.dependencies:
        yield from _params(sub)


def _body_annotations(dependant: Any) -> Iterator[tuple[str | None, Any]]:
    """The body parameters: `(None, annotation)` for a single body, `(name, annotation)` when embedded."""
    bodies = list(_bodies(dependant))
    if len(bodies) == 1 and not getattr(bodies[0].field_info, "embed", False):
        yield None, bodies[0].field_info.annotation
    else:
        for body in bodies:
            yield body.alias, body.field_info.annotation


def _bodies(dependant: Any) -> Iterator[Any]:
    yield from dependant.body_params
    for sub in dependant.dependencies:
        yield from _bodies(sub)


def _date_paths(schema: dict[str, Any], defs: dict[str, Any], path: tuple, seen: frozenset) -> Iterator[tuple]:
    """Paths (`*` = any key or index) where the JSON schema declares `format: date`."""
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        if name not in seen:
            yield from _date_paths(defs.get(name, {}), defs, path, seen | {name})
        return
    if schema.get("format") == "date":
        yield path
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            yield from _date_paths(option, defs, path, seen)
    for name, sub in schema.get("properties", {}).items():
        yield from _date_paths(sub, defs, (*path, name), seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _date_paths(schema[key], defs, (*path, "*"), seen)
    for sub in schema.get("prefixItems", []):
        yield from _date_paths(sub, defs, (*path, "*"), seen)


class RouteShape:
    """What the edge needs to know of one route: its integer and date parameters and its body's dates."""

    def __init__(self, dependant: Any) -> None:
        params = list(_params(dependant))
        self.integers = {(where, name) for where, name, annotation in params if _is(annotation, int)}
        self.dates = {(where, name) for where, name, annotation in params if _is(annotation, date)}
        self.body_dates: set[tuple] = set()
        for name, annotation in _body_annotations(dependant):
            schema = TypeAdapter(annotation).json_schema(mode="validation")
            prefix = () if name is None else (name,)
            self.body_dates.update(_date_paths(schema, schema.get("$defs", {}), prefix, frozenset()))


_SHAPES: dict[int, tuple[Any, RouteShape]] = {}


def shape_of(dependant: Any) -> RouteShape:
    """The route's shape, computed once per route."""
    cached = _SHAPES.get(id(dependant))
    if cached is None or cached[0] is not dependant:
        cached = (dependant, RouteShape(dependant))
        _SHAPES[id(dependant)] = cached
    return cached[1]


# --- the guard ----------------------------------------------------------------------------------------------


def _dates_at(value: Any, path: tuple, field: str = "") -> Iterator[tuple[str, Any]]:
    if not path:
        yield field, value
        return
    head, rest = path[0], path[1:]
    if head == "*":
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            yield from _dates_at(item, rest, _join(field, key))
    elif isinstance(value, dict) and head in value:
        yield from _dates_at(value[head], rest, _join(field, head))


def _check_param(where: str, name: str, raw: str, shape: RouteShape, integers: list) -> None:
    field = f"{where}.{name}"
    if "\x00" in name or "\x00" in raw:
        raise refuse(field.replace("\x00", "\\u0000"), NUL)
    if (where, name) in shape.integers and _INT_LITERAL.fullmatch(raw):
        number = int(raw) if len(raw) <= _MAX_INT_DIGITS else INT64_MAX + 1  # int() refuses 4,300+ digits
        if not INT64_MIN <= number <= INT64_MAX:
            raise refuse(field, INT_RANGE)
        integers.append((field, number))
    if (where, name) in shape.dates and not _ISO_DATE.fullmatch(raw):
        raise refuse(field, DATE_FORMAT)


def _is_json(content_type: str) -> bool:
    """FastAPI's rule: no content type, `application/json` or `application/*+json` is parsed as JSON."""
    media = content_type.split(";", 1)[0].strip().lower()
    return not media or media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _json_body(request: Request, raw: bytes) -> Any:
    if not raw or not _is_json(request.headers.get("content-type", "")):
        return None
    try:
        return json.loads(raw)
    except ValueError:  # malformed JSON is the body parser's to report
        return None


async def edge_guard(request: Request) -> None:
    """Refuse NUL characters, integers outside 64 bits, non-finite numbers and non-ISO dates in the path,
    the query and the JSON body, before the route (and its authentication and unit of work) runs."""
    shape = shape_of(request.scope["route"].dependant)
    integers: list[tuple[str, int]] = []
    for name, value in request.headers.items():
        if "\x00" in value:
            raise refuse(f"header.{name}", NUL)
    for name, value in request.path_params.items():
        _check_param("path", name, str(value), shape, integers)
    for name, value in request.query_params.multi_items():
        _check_param("query", name, value, shape, integers)
    body = _json_body(request, await request.body())
    if body is not None:
        for field, found in scan(body):
            if isinstance(found, str):
                raise refuse(field or "body", found)
            integers.append((field or "body", found))
        for path in shape.body_dates:
            for field, value in _dates_at(body, path):
                if value is not None and not (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
                    raise refuse(field or "body", DATE_FORMAT)
    setattr(request.state, _STATE_KEY, integers)


def widest_integer(request: Request) -> str | None:
    """The field of the request's integer farthest outside the 32-bit range (what overflowed a column)."""
    integers = getattr(request.state, _STATE_KEY, None) or []
    outside = [(abs(n), field) for field, n in integers if not -INT32_MAX - 1 <= n <= INT32_MAX]
    return max(outside)[1] if outside else None
