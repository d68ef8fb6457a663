"""The CLI session: who `huice ...` commands act as.

`huice auth login` stores the token pair in `<config dir>/session.json` (mode 0600; the config dir is
`HUICE_CONFIG_DIR`, else the user config dir of "huice"). Every context's CLI calls `cli_principal(ctx)`:
it uses `HUICE_API_KEY` when set, else the stored session, refreshing an expired access token with the
stored refresh token. Verification runs in-process against the database through the service.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import typer

from platform_core.cli import container
from platform_core.errors import Unauthorized
from user_auth import service
from user_auth.config import UserAuthSettings, env_of
from user_auth.principal import Principal
from user_auth.schemas import TokenPair

SESSION_FILE = "session.json"
NOT_LOGGED_IN = "not logged in: run `huice auth login` or set HUICE_API_KEY"


def session_path(settings: UserAuthSettings) -> Path:
    return settings.resolved_config_dir() / SESSION_FILE


def save_session(settings: UserAuthSettings, pair: TokenPair) -> Path:
    """Write the token pair atomically, readable by the owner only (0600)."""
    path = session_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    data = {
        "email": pair.user.email,
        "user_id": str(pair.user.id),
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "expires_at": pair.expires_at.isoformat(),
    }
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def load_session(settings: UserAuthSettings) -> dict[str, Any] | None:
    path = session_path(settings)
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(data, dict) or not data.get("access_token") or not data.get("refresh_token"):
        return None
    return data


def clear_session(settings: UserAuthSettings) -> bool:
    with contextlib.suppress(FileNotFoundError):
        session_path(settings).unlink()
        return True
    return False


def refresh_session(ctx: typer.Context) -> TokenPair:
    """Rotate the stored refresh token now; the stored session is replaced."""
    c = container(ctx)
    env = env_of(c)
    stored = load_session(env.settings)
    if stored is None:
        raise Unauthorized(NOT_LOGGED_IN)
    try:
        with c.db.transaction() as session:
            pair = service.refresh(session, env, refresh_token=stored["refresh_token"])
    except Unauthorized:
        clear_session(env.settings)
        raise Unauthorized("session expired or revoked: run `huice auth login`") from None
    save_session(env.settings, pair)
    return pair


def cli_principal(ctx: typer.Context) -> Principal:
    """The principal a CLI command acts as: `HUICE_API_KEY`, else the stored (auto-refreshed) session."""
    c = container(ctx)
    env = env_of(c)
    if env.settings.api_key is not None:
        with c.db.transaction() as session:
            return service.principal_from_api_key(session, env.settings.api_key.get_secret_value())
    stored = load_session(env.settings)
    if stored is None:
        raise Unauthorized(NOT_LOGGED_IN)
    try:
        with c.db.transaction() as session:
            principal, _ = service.principal_from_access_token(session, env, stored["access_token"], via="cli")
            return principal
    except Unauthorized:
        pass
    pair = refresh_session(ctx)
    with c.db.transaction() as session:
        principal, _ = service.principal_from_access_token(session, env, pair.access_token, via="cli")
        return principal


def cli_session_id(ctx: typer.Context) -> Any:
    """The session id of the stored CLI session (None with an API key or no session)."""
    c = container(ctx)
    env = env_of(c)
    stored = load_session(env.settings)
    if env.settings.api_key is not None or stored is None:
        return None
    with c.db.transaction() as session:
        _, session_id = service.principal_from_access_token(session, env, stored["access_token"], via="cli")
        return session_id
