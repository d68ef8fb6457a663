"""The request's unit of work commits before the response is sent: a failed commit is a failed request."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from platform_core.db import on_commit
from platform_core.errors import AppError, ErrorCode
from platform_core.http import SessionDep, install_http, run_committed


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


def test_a_route_committing_in_its_own_hop_fails_on_a_failed_commit_and_runs_hooks_after(committed_container) -> None:
    table = f"scratch_{uuid.uuid4().hex[:10]}"
    with committed_container.db.transaction() as s:
        s.execute(text(f"CREATE TABLE {table} (v int UNIQUE DEFERRABLE INITIALLY DEFERRED)"))
    seen: list[list[int] | None] = []

    def committed_rows() -> list[int] | None:
        with committed_container.db.transaction() as s:
            return s.execute(text(f"SELECT array_agg(v ORDER BY v) FROM {table}")).scalar_one()

    try:
        app = FastAPI()
        app.state.container = committed_container
        install_http(app, max_body_bytes=4096)
        router = APIRouter()

        @router.post("/dup")
        async def dup(session: SessionDep) -> dict:
            def insert() -> dict:
                session.execute(text(f"INSERT INTO {table} VALUES (1), (1)"))  # fails only at COMMIT
                return {"ok": True}

            return await run_committed(session, insert)

        @router.post("/one")
        async def one(session: SessionDep) -> dict:
            def insert() -> dict:
                session.execute(text(f"INSERT INTO {table} VALUES (7)"))
                on_commit(session, lambda: seen.append(committed_rows()))
                return {"ok": True}

            return await run_committed(session, insert)

        @router.post("/refused")
        async def refused(session: SessionDep) -> dict:
            def insert() -> dict:
                session.execute(text(f"INSERT INTO {table} VALUES (9)"))
                raise AppError("no", code=ErrorCode.CONFLICT)

            return await run_committed(session, insert)

        app.include_router(router)
        with TestClient(app, raise_server_exceptions=False) as client:
            failed = client.post("/dup")
            assert failed.status_code == 500
            assert failed.json()["error"]["code"] == "INTERNAL_ERROR"
            assert client.post("/one").json() == {"ok": True}
            assert seen == [[7]]  # the hook ran, after the commit
            assert client.post("/refused").status_code == 409
        assert committed_rows() == [7]  # the refusal rolled back
    finally:
        with committed_container.db.transaction() as s:
            s.execute(text(f"DROP TABLE {table}"))
