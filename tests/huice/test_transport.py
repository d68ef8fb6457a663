"""The CLI's transports: where the login of each server is kept."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from huice.transport import SessionStore, remote_session_path
from huice_client import TokenPair


@pytest.fixture(autouse=True)
def _config_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HUICE_CONFIG_DIR", str(tmp_path))


def test_each_server_url_has_its_own_session_file(tmp_path: Path) -> None:
    a = remote_session_path("https://huice.example.com")
    assert a == remote_session_path("HTTPS://huice.example.com/")
    assert a.parent == tmp_path / "sessions" and a.name.startswith("huice.example.com-")
    others = {remote_session_path(u) for u in ("http://127.0.0.1:8000", "http://127.0.0.1:8001", "https://h/x")}
    assert len(others | {a}) == 4


def test_a_stored_login_is_private_to_its_owner_and_round_trips() -> None:
    store = SessionStore(remote_session_path("http://127.0.0.1:8000"))
    assert store.load() is None
    pair = TokenPair(
        access_token="a", refresh_token="r", expires_at="2026-01-01T00:00:00Z", user={"id": "u1", "email": "me@x.cn"}
    )
    path = store.save(pair)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.load() == {
        "email": "me@x.cn",
        "user_id": "u1",
        "access_token": "a",
        "refresh_token": "r",
        "expires_at": "2026-01-01T00:00:00Z",
    }
    assert store.clear() is True and store.clear() is False and store.load() is None
