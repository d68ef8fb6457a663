"""The two transports of the CLI's API client — the same `huice_client.Client`, the same routes.

- In-process (no `HUICE_API_URL`): the composed FastAPI app over this invocation's container, called
  through starlette's ASGI test transport (no socket). Credentials as before: `HUICE_API_KEY`, else the
  stored session `<config dir>/session.json`.
- HTTP(S) (`HUICE_API_URL` or `huice --api URL`): httpx to that server; nothing local is opened (no
  database, no embedded servers). Credentials: `HUICE_API_KEY`, else the session stored for that URL in
  `<config dir>/sessions/<host>_<port>-<hash>.json`.

Either way an expired access token is renewed with the refresh token and the new pair is stored; errors
come back as the server's envelope (`AppError`, same exit codes).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huice_client import Client, HuiceError, TokenPair
from platform_core.cli import CliRoot, app_error

LOCAL_URL = "http://huice.local"
# the CLI's messages of `user_auth.cli_session` (not imported: it loads the service layer, and this module is
# loaded by every command, `huice backtest local` included)
NOT_LOGGED_IN = "not logged in: run `huice auth login` or set HUICE_API_KEY"
EXPIRED = "session expired or revoked: run `huice auth login`"


class SessionStore:
    """One stored login (token pair, mode 0600) in one file — the same format for every server."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        if not isinstance(data, dict) or not data.get("access_token") or not data.get("refresh_token"):
            return None
        return data

    def save(self, pair: TokenPair) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = {
            "email": pair.user.get("email"),
            "user_id": str(pair.user.get("id")),
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "expires_at": pair.expires_at,
        }
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        return self.path

    def clear(self) -> bool:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
            return True
        return False


class CliClient(Client):
    """The CLI's client: knows its session store, how it authenticates, and turns `HuiceError` into
    `AppError` with the CLI's messages for a missing or dead session."""

    def __init__(self, base_url: str, store: SessionStore, api_key: str | None, **kwargs: Any) -> None:
        stored = None if api_key else store.load()
        self.store = store
        self.renewal_failed = False
        self.streams_events = False
        super().__init__(
            base_url,
            api_key=api_key,
            token=stored["access_token"] if stored else None,
            refresh_token=stored["refresh_token"] if stored else None,
            on_tokens=self._stored,
            error=self._app_error,
            **kwargs,
        )

    @property
    def via(self) -> str:
        return "api_key" if self.api_key else "cli"

    def _stored(self, pair: TokenPair | None) -> None:
        if pair is None:
            self.renewal_failed = True
            self.store.clear()
        else:
            self.store.save(pair)

    def _app_error(self, error: HuiceError) -> Exception:
        signs_in = error.route is not None and not error.route.renew
        if error.status == 401 and error.code == "UNAUTHORIZED" and not self.api_key and not signs_in:
            if self.renewal_failed:
                return app_error("UNAUTHORIZED", EXPIRED)
            if self.token is None:
                return app_error("UNAUTHORIZED", NOT_LOGGED_IN)
        return app_error(error.code, error.message, error.details)


def config_dir() -> Path:
    if configured := os.environ.get("HUICE_CONFIG_DIR"):
        return Path(configured).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("huice"))


def remote_session_path(api_url: str, base: Path | None = None) -> Path:
    """The session file of one server URL (readable name, hashed to stay unique) in `base` (default: the
    config dir)."""
    normal = api_url.rstrip("/").lower()
    label = re.sub(r"[^a-z0-9.]+", "_", normal.split("://", 1)[-1]).strip("_")[:60]
    digest = hashlib.sha256(normal.encode()).hexdigest()[:10]
    return (base or config_dir()) / "sessions" / f"{label}-{digest}.json"


def http_client(api_url: str) -> CliClient:
    """The client of a deployed server: HUICE_API_KEY, else the session stored for this URL."""
    api_key = os.environ.get("HUICE_API_KEY") or None
    url = api_url.rstrip("/")
    api = CliClient(url, SessionStore(remote_session_path(url)), api_key)
    api.streams_events = True  # `--wait` follows the run's server-sent events
    return api


def in_process_client(container: Any) -> CliClient:
    """The client of the composed app inside this process, over `container`, authenticated as today."""
    with warnings.catch_warnings():  # starlette's notice about httpx concerns its tests, not this use
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from huice.api import create_app
    from user_auth.cli_session import session_path
    from user_auth.config import env_of

    settings = env_of(container).settings
    api_key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    # No peer address (`client=None`): the in-process CLI is the local user, not a network peer, so the
    # per-address throttles of sign-up and sign-in see it as the service calls did before.
    asgi = TestClient(
        create_app(container),
        base_url=LOCAL_URL,
        raise_server_exceptions=False,
        client=None,  # type: ignore[arg-type]
    )
    return CliClient(LOCAL_URL, SessionStore(session_path(settings)), api_key, http=asgi)


def client_factory(api_url: str | None) -> Callable[[CliRoot], CliClient]:
    """How a `CliRoot` builds its client: HTTP when a URL is given, else in-process over its container."""
    if api_url:
        return lambda _root: http_client(api_url)
    return lambda root: in_process_client(root.get())
