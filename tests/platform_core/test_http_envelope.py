"""Every error path of the HTTP layer answers in the one envelope, with the request id echoed."""

from __future__ import annotations

import logging

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from platform_core.errors import Conflict, NotFound
from platform_core.http import SessionDep, install_http


class Item(BaseModel):
    name: str = Field(min_length=1)
    qty: int = Field(ge=1)


def _app(container) -> FastAPI:
    app = FastAPI()
    app.state.container = container
    install_http(app, max_body_bytes=2048)
    router = APIRouter()

    @router.post("/items")
    def create(item: Item) -> Item:
        return item

    @router.get("/missing")
    def missing() -> None:
        raise NotFound("item 42 not found", details={"id": 42})

    @router.get("/conflict")
    def conflict() -> None:
        raise Conflict("already there")

    @router.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    @router.get("/tx")
    def tx(session: SessionDep) -> dict:
        from sqlalchemy import text

        return {"one": session.execute(text("SELECT 1")).scalar_one()}

    app.include_router(router, prefix="/api")
    return app


@pytest.fixture
def client(container):
    with TestClient(_app(container), raise_server_exceptions=False) as c:
        yield c


def test_validation_error_names_the_field(client: TestClient) -> None:
    r = client.post("/api/items", json={"name": "x", "qty": 0})
    assert r.status_code == 422
    body = r.json()
    assert body["error"]["code"] == "INVALID_INPUT"
    assert body["error"]["details"]["field"] == "qty"
    assert body["error"]["message"] == "invalid input: qty"


def test_malformed_json(client: TestClient) -> None:
    r = client.post("/api/items", content=b'{"name": ', headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "INVALID_INPUT"
    assert r.json()["error"]["message"] == "malformed JSON body"


def test_unknown_route_and_wrong_method(client: TestClient) -> None:
    r = client.get("/api/nope")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "NOT_FOUND", "message": "no route GET /api/nope", "details": {}}}
    r = client.delete("/api/items")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "INVALID_INPUT"
    assert r.json()["error"]["message"] == "method DELETE not allowed on /api/items"


def test_app_errors_keep_their_code_and_details(client: TestClient) -> None:
    r = client.get("/api/missing")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "NOT_FOUND", "message": "item 42 not found", "details": {"id": 42}}}
    assert client.get("/api/conflict").status_code == 409


def test_oversized_body_is_413(client: TestClient) -> None:
    r = client.post("/api/items", content=b"x" * 5000, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert r.json()["error"]["details"] == {"limit_bytes": 2048}


def test_oversized_chunked_body_is_413(client: TestClient) -> None:
    def chunks():  # no content-length: streamed
        for _ in range(10):
            yield b"x" * 1000

    r = client.post("/api/items", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_unexpected_exception_hides_internals_and_logs_trace(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    r = client.get("/api/boom", headers={"X-Request-ID": "req-boom-1"})
    assert r.status_code == 500
    body = r.json()
    assert body["error"]["code"] == "INTERNAL_ERROR"
    assert body["error"]["details"] == {"request_id": "req-boom-1"}
    assert "hunter2" not in r.text and "secret internals" not in r.text
    assert r.headers["X-Request-ID"] == "req-boom-1"
    record = next(rec for rec in caplog.records if rec.name == "huice.http" and rec.levelno == logging.ERROR)
    assert record.exc_info is not None


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    assert client.get("/api/tx", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    generated = client.get("/api/tx").headers["X-Request-ID"]
    assert len(generated) == 32
    bad = client.get("/api/tx", headers={"X-Request-ID": "bad id with spaces"}).headers["X-Request-ID"]
    assert bad != "bad id with spaces" and len(bad) == 32


def test_session_dependency_gives_a_working_transaction(client: TestClient) -> None:
    assert client.get("/api/tx").json() == {"one": 1}
