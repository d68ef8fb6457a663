"""The request's unit of work commits before the response is sent: a failed commit is a failed request."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from platform_core.http import SessionDep, install_http


def test_commit_failure_turns_into_an_error_response(committed_container) -> None:
    table = f"scratch_{uuid.uuid4().hex[:10]}"
    with committed_container.db.transaction() as s:
        s.execute(text(f"CREATE TABLE {table} (v int UNIQUE DEFERRABLE INITIALLY DEFERRED)"))
    try:
        app = FastAPI()
        app.state.container = committed_container
        install_http(app, max_body_bytes=4096)
        router = APIRouter()

        @router.post("/dup")
        def dup(session: SessionDep) -> dict:
            session.execute(text(f"INSERT INTO {table} VALUES (1), (1)"))  # fails only at COMMIT
            return {"ok": True}

        @router.post("/one")
        def one(session: SessionDep) -> dict:
            session.execute(text(f"INSERT INTO {table} VALUES (7)"))
            return {"ok": True}

        app.include_router(router)
        with TestClient(app, raise_server_exceptions=False) as client:
            failed = client.post("/dup")
            assert failed.status_code == 500
            assert failed.json()["error"]["code"] == "INTERNAL_ERROR"
            assert client.post("/one").json() == {"ok": True}
        with committed_container.db.transaction() as s:
            assert s.execute(text(f"SELECT array_agg(v) FROM {table}")).scalar_one() == [7]
    finally:
        with committed_container.db.transaction() as s:
            s.execute(text(f"DROP TABLE {table}"))
