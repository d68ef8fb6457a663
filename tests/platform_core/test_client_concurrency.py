"""Fair shares of an API process (`ClientConcurrencyMiddleware`, issue 13 item 1): one caller's burst waits
its turn at the gate instead of taking every thread and pooled connection — its writes (which start confined
runs) one at a time, its reads several at once and past its queued writes; another caller goes straight
through; beyond the waiting room the answer is 429 RATE_LIMITED in the envelope with `Retry-After`."""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import FastAPI
from fastapi.testclient import TestClient

from platform_core.http import ClientConcurrencyMiddleware, install_http


class _App:
    """An ASGI app whose requests block until the test releases them; it records who got in."""

    def __init__(self) -> None:
        self.inside: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.stream_gate = asyncio.Event()

    async def __call__(self, scope, receive, send) -> None:
        name = scope["path"].strip("/")
        self.inside.append(name)
        if name.startswith("stream"):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await self.stream_gate.wait()
            await send({"type": "http.response.body", "body": b"done"})
            return
        gate = self.gates.setdefault(name, asyncio.Event())
        await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": name.encode()})


def _scope(path: str, credential: str | None, method: str = "GET") -> dict:
    headers = [(b"authorization", f"Bearer {credential}".encode())] if credential else []
    return {"type": "http", "method": method, "path": path, "headers": headers}


async def _request(mw, path: str, credential: str | None, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    answer: dict = {"body": b""}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode(): v.decode() for k, v in message.get("headers", [])}
        else:
            answer["body"] += message.get("body", b"")

    await mw(_scope(path, credential, method), receive, send)
    return answer["status"], answer["headers"], answer["body"]


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_burst_waits_its_turn_while_another_caller_goes_through() -> None:
    async def scenario() -> None:
        app = _App()
        mw = ClientConcurrencyMiddleware(app, max_active=2, max_waiting=10)
        burst = [asyncio.create_task(_request(mw, f"/a{i}", "token-a")) for i in range(5)]
        await _settle()
        assert app.inside == ["a0", "a1"]  # two past the gate, three waiting without reaching the app
        app.gates["b"] = asyncio.Event()
        app.gates["b"].set()
        assert await asyncio.wait_for(_request(mw, "/b", "token-b"), 1) == (200, {}, b"b")
        app.gates["a0"].set()
        await _settle()
        assert app.inside[-1] == "a2"  # a finished turn goes to the oldest waiting request
        for i in range(5):
            app.gates.setdefault(f"a{i}", asyncio.Event()).set()
            await _settle()
        assert [status for status, _, _ in await asyncio.gather(*burst)] == [200] * 5
        assert app.inside.count("a4") == 1
        assert mw.lanes == 0  # idle callers are forgotten

    asyncio.run(scenario())


def test_beyond_the_waiting_room_the_answer_is_429_in_the_envelope() -> None:
    async def scenario() -> None:
        app = _App()
        mw = ClientConcurrencyMiddleware(app, max_active=1, max_waiting=1, retry_after_s=3)
        held = [asyncio.create_task(_request(mw, f"/a{i}", "token-a")) for i in range(2)]
        await _settle()
        status, headers, body = await asyncio.wait_for(_request(mw, "/a9", "token-a"), 1)
        assert status == 429
        assert headers["retry-after"] == "3"
        error = json.loads(body)["error"]
        assert error["code"] == "RATE_LIMITED"
        assert error["details"] == {"limit": "concurrent_requests", "max": 1, "max_writes": 1, "retry_after": 3}
        assert "a9" not in app.inside
        for i in range(2):
            app.gates.setdefault(f"a{i}", asyncio.Event()).set()
            await _settle()
        await asyncio.gather(*held)
        assert mw.lanes == 0

    asyncio.run(scenario())


def test_a_request_that_waits_too_long_for_its_turn_gets_429_and_leaves_no_slot_behind() -> None:
    async def scenario() -> None:
        app = _App()
        mw = ClientConcurrencyMiddleware(app, max_active=1, max_waiting=10, max_wait_s=0.05, retry_after_s=2)
        held = asyncio.create_task(_request(mw, "/a0", "token-a", "POST"))
        await _settle()
        status, headers, body = await asyncio.wait_for(_request(mw, "/a1", "token-a", "POST"), 1)
        assert status == 429 and headers["retry-after"] == "2"
        error = json.loads(body)["error"]
        assert error["code"] == "RATE_LIMITED" and "waited 0.05 s" in error["message"]
        assert "a1" not in app.inside
        app.gates["a0"].set()
        assert (await held)[0] == 200
        app.gates["a2"] = asyncio.Event()
        app.gates["a2"].set()
        assert (await asyncio.wait_for(_request(mw, "/a2", "token-a", "POST"), 1))[0] == 200  # the turn was freed
        assert mw.lanes == 0

    asyncio.run(scenario())


def test_a_turn_handed_over_before_the_wait_limit_is_kept() -> None:
    async def scenario() -> None:
        app = _App()
        mw = ClientConcurrencyMiddleware(app, max_active=1, max_waiting=10, max_wait_s=0.5)
        held = asyncio.create_task(_request(mw, "/a0", "token-a"))
        await _settle()
        waiting = asyncio.create_task(_request(mw, "/a1", "token-a"))
        await _settle()
        app.gates["a0"].set()
        await _settle()
        assert app.inside == ["a0", "a1"]
        await asyncio.sleep(0.6)  # past the wait limit while inside: the timer was cancelled with the turn
        app.gates["a1"].set()
        assert [(await t)[0] for t in (held, waiting)] == [200, 200]
        assert mw.lanes == 0

    asyncio.run(scenario())


def test_a_callers_second_write_waits_while_its_reads_go_through() -> None:
    async def scenario() -> None:
        app = _App()
        mw = ClientConcurrencyMiddleware(app, max_active=4, max_waiting=10, max_writes=1)
        saves = [asyncio.create_task(_request(mw, f"/w{i}", "token-a", "POST")) for i in range(3)]
        await _settle()
        assert app.inside == ["w0"]  # one write past the gate, two waiting
        for i in range(3):
            app.gates[f"r{i}"] = asyncio.Event()
            app.gates[f"r{i}"].set()
        reads = await asyncio.wait_for(asyncio.gather(*(_request(mw, f"/r{i}", "token-a") for i in range(3))), 1)
        assert [status for status, _, _ in reads] == [200] * 3  # the caller's reads pass its queued writes
        assert app.inside == ["w0", "r0", "r1", "r2"]
        app.gates["w0"].set()
        await _settle()
        assert app.inside[-1] == "w1"  # the next write, in arrival order
        app.gates.setdefault("w1", asyncio.Event()).set()
        app.gates.setdefault("w2", asyncio.Event()).set()
        assert [status for status, _, _ in await asyncio.gather(*saves)] == [200] * 3
        assert mw.lanes == 0

    asyncio.run(scenario())


def test_reads_and_writes_share_the_callers_turns_in_arrival_order() -> None:
    async def scenario() -> None:
        app = _App()
        mw = ClientConcurrencyMiddleware(app, max_active=2, max_waiting=10, max_writes=1)
        first = [asyncio.create_task(_request(mw, f"/r{i}", "token-a")) for i in range(2)]
        await _settle()
        later = [
            asyncio.create_task(_request(mw, path, "token-a", method))
            for path, method in (("/w0", "PUT"), ("/r2", "GET"), ("/w1", "DELETE"), ("/r3", "HEAD"))
        ]
        await _settle()
        assert app.inside == ["r0", "r1"]  # both turns taken: every later request waits, reads too
        app.gates["r0"].set()
        await _settle()
        assert app.inside == ["r0", "r1", "w0"]  # the oldest waiting one, a write
        app.gates["r1"].set()
        await _settle()
        assert app.inside[-1] == "r2"  # then the oldest that may enter: w1 must wait for w0
        app.gates["r2"].set()
        await _settle()
        assert app.inside[-1] == "r3"
        for name in ("w0", "w1", "r3"):
            app.gates.setdefault(name, asyncio.Event()).set()
            await _settle()
        assert [status for status, _, _ in await asyncio.gather(*first, *later)] == [200] * 6
        assert app.inside.index("w1") > app.inside.index("r3") and mw.lanes == 0

    asyncio.run(scenario())


def test_the_write_limit_is_per_caller() -> None:
    async def scenario() -> None:
        app = _App()
        mw = ClientConcurrencyMiddleware(app, max_active=4, max_waiting=10, max_writes=1)
        held = asyncio.create_task(_request(mw, "/a0", "token-a", "POST"))
        await _settle()
        app.gates["b0"] = asyncio.Event()
        app.gates["b0"].set()
        assert await asyncio.wait_for(_request(mw, "/b0", "token-b", "POST"), 1) == (200, {}, b"b0")
        app.gates["a0"].set()
        await held
        assert mw.lanes == 0

    asyncio.run(scenario())


def test_a_cancelled_waiting_write_passes_its_turn_to_the_next_write() -> None:
    async def scenario() -> None:
        app = _App()
        mw = ClientConcurrencyMiddleware(app, max_active=4, max_waiting=10, max_writes=1)
        first = asyncio.create_task(_request(mw, "/w0", "token-a", "POST"))
        await _settle()
        gone = asyncio.create_task(_request(mw, "/w1", "token-a", "POST"))
        nxt = asyncio.create_task(_request(mw, "/w2", "token-a", "POST"))
        await _settle()
        app.gates["w0"].set()
        gone.cancel()
        app.gates.setdefault("w2", asyncio.Event()).set()
        await first
        with contextlib.suppress(asyncio.CancelledError):
            await gone
        assert gone.cancelled()
        assert (await asyncio.wait_for(nxt, 1))[0] == 200
        assert "w1" not in app.inside and mw.lanes == 0

    asyncio.run(scenario())


def test_requests_without_a_credential_are_not_gated() -> None:
    async def scenario() -> None:
        app = _App()
        mw = ClientConcurrencyMiddleware(app, max_active=1, max_waiting=0)
        anonymous = [asyncio.create_task(_request(mw, f"/anon{i}", None)) for i in range(4)]
        await _settle()
        assert sorted(app.inside) == ["anon0", "anon1", "anon2", "anon3"]
        for i in range(4):
            app.gates[f"anon{i}"].set()
        assert all(status == 200 for status, _, _ in await asyncio.gather(*anonymous))

    asyncio.run(scenario())


def test_a_stream_frees_its_turn_when_the_response_starts() -> None:
    async def scenario() -> None:
        app = _App()
        mw = ClientConcurrencyMiddleware(app, max_active=1, max_waiting=0)
        stream = asyncio.create_task(_request(mw, "/stream", "token-a"))
        await _settle()
        app.gates["next"] = asyncio.Event()
        app.gates["next"].set()
        assert await asyncio.wait_for(_request(mw, "/next", "token-a"), 1) == (200, {}, b"next")
        app.stream_gate.set()
        assert (await stream)[2] == b"done"
        assert mw.lanes == 0

    asyncio.run(scenario())


def test_a_waiting_request_whose_client_goes_away_leaves_no_slot_behind() -> None:
    async def scenario() -> None:
        app = _App()
        mw = ClientConcurrencyMiddleware(app, max_active=1, max_waiting=5)
        first = asyncio.create_task(_request(mw, "/a0", "token-a"))
        gone = asyncio.create_task(_request(mw, "/a1", "token-a"))
        await _settle()
        gone.cancel()
        await _settle()
        app.gates["a0"].set()
        await first
        assert "a1" not in app.inside
        assert mw.lanes == 0
        app.gates["a2"] = asyncio.Event()
        app.gates["a2"].set()
        assert (await asyncio.wait_for(_request(mw, "/a2", "token-a"), 1))[0] == 200

    asyncio.run(scenario())


def test_a_waiter_cancelled_just_before_its_turn_comes_ends_cancelled_and_passes_the_turn_on() -> None:
    async def scenario() -> None:
        app = _App()
        mw = ClientConcurrencyMiddleware(app, max_active=1, max_waiting=5)
        first = asyncio.create_task(_request(mw, "/a0", "token-a"))
        await _settle()
        gone = asyncio.create_task(_request(mw, "/a1", "token-a"))
        nxt = asyncio.create_task(_request(mw, "/a2", "token-a"))
        await _settle()
        app.gates["a0"].set()  # a0's task runs first on the next step: its turn ends...
        gone.cancel()  # ...after a1's turn future is cancelled and before a1's task sees it
        app.gates.setdefault("a2", asyncio.Event()).set()
        await first
        with contextlib.suppress(asyncio.CancelledError):
            await gone
        assert gone.cancelled()  # not a ValueError from a waiting room that no longer holds it
        assert (await asyncio.wait_for(nxt, 1))[0] == 200
        assert "a1" not in app.inside and mw.lanes == 0

    asyncio.run(scenario())


def test_the_api_installs_the_gate_with_the_settings_limits() -> None:
    app = FastAPI()
    install_http(app, max_body_bytes=4096, client_max_active=3, client_max_waiting=7)

    @app.get("/ping")
    def ping() -> dict:
        return {"ok": True}

    gate = next(m for m in app.user_middleware if m.cls is ClientConcurrencyMiddleware)
    assert gate.kwargs == {"max_active": 3, "max_waiting": 7, "max_writes": 1, "max_wait_s": 30.0}
    with TestClient(app) as client:
        answer = client.get("/ping", headers={"Authorization": "Bearer whatever"})
        assert answer.status_code == 200 and "x-request-id" in answer.headers
