"""The schema edge (`platform_core.edge`): NUL characters, integers outside 64 bits, non-finite numbers and
non-ISO dates are refused in every path, query and JSON body value before the route runs, with 422
INVALID_INPUT naming the field; PostgreSQL's own out-of-range / bad-character errors are the backstop."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import text

from platform_core.edge import INT64_MAX, INT64_MIN, scan
from platform_core.http import SessionDep, install_http

BIG = 2**63


class Window(BaseModel):
    start: date
    end: date | None = None


class Order(BaseModel):
    name: str
    qty: int
    windows: list[Window] = []
    extra: dict[str, Any] = {}


def _app(container: Any) -> FastAPI:
    app = FastAPI()
    app.state.container = container
    install_http(app, max_body_bytes=100_000)
    router = APIRouter()

    @router.get("/things/{name}")
    def thing(name: str, n: int = 0, day: date | None = None, q: str | None = None) -> dict:
        return {"name": name, "n": n, "day": day, "q": q}

    @router.post("/orders")
    def order(body: Order) -> Order:
        return body

    @router.get("/cast")
    def cast(session: SessionDep, n: Annotated[int, Query()]) -> dict:
        return {"n": session.execute(text("SELECT CAST(:n AS integer)"), {"n": n}).scalar_one()}

    @router.get("/nul")
    def nul(session: SessionDep, q: str = "") -> dict:
        return {"q": session.execute(text("SELECT CAST(:q AS text)"), {"q": q + "\x00"}).scalar_one()}

    @router.get("/other-data-error")
    def other(session: SessionDep) -> dict:
        return {"x": session.execute(text("SELECT 1 / 0")).scalar_one()}

    app.include_router(router, prefix="/api")
    return app


@pytest.fixture
def client(container: Any):
    with TestClient(_app(container), raise_server_exceptions=False) as c:
        yield c


def _refused(response: Any, field: str, kind: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_INPUT"
    assert error["details"]["field"] == field
    assert error["details"]["errors"][0]["type"] == kind
    assert error["message"].startswith(f"{field}: ")


def test_scan_finds_what_postgresql_cannot_store() -> None:
    value = {"a": "ok", "b": ["x", "y\x00"], "c\x00": 1, "d": {"e": BIG, "f": True}, "g": float("inf"), "h": 7}
    found = list(scan(value))
    assert ("b.1", "nul_character") in found
    assert ("c\\u0000", "nul_character") in found
    assert ("d.e", "int_out_of_range") in found
    assert ("g", "non_finite_number") in found
    assert ("h", 7) in found and ("c\x00", 1) in found
    assert not any(field == "d.f" for field, _ in found)  # a boolean is not an integer
    assert list(scan([INT64_MIN, INT64_MAX])) == [("0", INT64_MIN), ("1", INT64_MAX)]


def test_nul_in_a_path_or_query_value_is_refused(client: TestClient) -> None:
    _refused(client.get("/api/things/a%00b"), "path.name", "nul_character")
    _refused(client.get("/api/things/a?q=x%00"), "query.q", "nul_character")
    _refused(client.get("/api/things/a?undeclared=%00"), "query.undeclared", "nul_character")
    assert client.get("/api/things/a?q=fine").json()["q"] == "fine"


def test_nul_in_a_header_is_refused(client: TestClient) -> None:
    _refused(client.get("/api/things/a", headers={"User-Agent": "x\x00y"}), "header.user-agent", "nul_character")


def test_nul_anywhere_in_a_json_body_is_refused(client: TestClient) -> None:
    _refused(client.post("/api/orders", json={"name": "a\x00", "qty": 1}), "name", "nul_character")
    body = {"name": "a", "qty": 1, "extra": {"deep": [{"k": "\x00"}]}}
    _refused(client.post("/api/orders", json=body), "extra.deep.0.k", "nul_character")
    _refused(
        client.post("/api/orders", json={"name": "a", "qty": 1, "extra": {"\x00": 1}}), "extra.\\u0000", "nul_character"
    )


def test_integers_outside_64_bits_are_refused(client: TestClient) -> None:
    _refused(client.get(f"/api/things/a?n={BIG}"), "query.n", "int_out_of_range")
    _refused(client.get(f"/api/things/a?n={INT64_MIN - 1}"), "query.n", "int_out_of_range")
    _refused(client.get("/api/things/a?n=" + "9" * 5000), "query.n", "int_out_of_range")
    _refused(client.post("/api/orders", json={"name": "a", "qty": BIG}), "qty", "int_out_of_range")
    _refused(
        client.post("/api/orders", json={"name": "a", "qty": 1, "extra": {"n": -BIG - 1}}),
        "extra.n",
        "int_out_of_range",
    )
    assert client.get(f"/api/things/a?n={INT64_MAX}").json()["n"] == INT64_MAX
    # A string query parameter may hold any digits: only declared integers are bounded.
    assert client.get(f"/api/things/a?q={BIG}").json()["q"] == str(BIG)


def test_non_finite_numbers_are_refused(client: TestClient) -> None:
    raw = b'{"name": "a", "qty": 1, "extra": {"x": 1e999}}'
    _refused(client.post("/api/orders", content=raw), "extra.x", "non_finite_number")
    raw = b'{"name": "a", "qty": 1, "extra": {"x": NaN}}'
    _refused(
        client.post("/api/orders", content=raw, headers={"content-type": "application/json"}),
        "extra.x",
        "non_finite_number",
    )


@pytest.mark.parametrize("value", ["2024-01-01T00:00:00", "2024-01-01T00:00:00Z", "1704067200", "2024-1-1"])
def test_a_date_parameter_takes_only_yyyy_mm_dd(client: TestClient, value: str) -> None:
    _refused(client.get(f"/api/things/a?day={value}"), "query.day", "date_format")
    assert client.get("/api/things/a?day=2024-01-01").json()["day"] == "2024-01-01"


@pytest.mark.parametrize("value", ["2024-01-01T00:00:00", 1704067200, "1704067200"])
def test_a_date_in_a_body_takes_only_yyyy_mm_dd(client: TestClient, value: Any) -> None:
    body = {"name": "a", "qty": 1, "windows": [{"start": "2024-01-01"}, {"start": "2024-02-01", "end": value}]}
    _refused(client.post("/api/orders", json=body), "windows.1.end", "date_format")
    body["windows"][1]["end"] = "2024-03-01"
    assert client.post("/api/orders", json=body).status_code == 200


def test_malformed_json_is_still_the_body_parsers_to_report(client: TestClient) -> None:
    r = client.post("/api/orders", content=b'{"name": ', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["message"] == "malformed JSON body"


def test_postgresql_out_of_range_is_invalid_input_naming_the_widest_integer(client: TestClient) -> None:
    """The backstop: a value inside 64 bits that overflows a 32-bit column."""
    _refused(client.get(f"/api/cast?n={2**40}"), "query.n", "int_out_of_range")
    assert client.get("/api/cast?n=7").json() == {"n": 7}


def test_a_nul_that_reaches_psycopg_is_invalid_input(client: TestClient) -> None:
    _refused(client.get("/api/nul?q=x"), "request", "nul_character")


def test_other_database_errors_stay_internal(client: TestClient) -> None:
    r = client.get("/api/other-data-error")
    assert r.status_code == 500 and r.json()["error"]["code"] == "INTERNAL_ERROR"


def test_an_integer_literal_too_long_to_parse_is_invalid_input(client: TestClient) -> None:
    raw = b'{"name": "a", "qty": ' + b"9" * 5000 + b"}"
    r = client.post("/api/orders", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "INVALID_INPUT"
