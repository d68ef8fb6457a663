"""Settings refuse unsafe production configs; errors map to statuses and exit codes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from platform_core.errors import (
    AppError,
    Conflict,
    ErrorCode,
    InvalidInput,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
    error_envelope,
)
from platform_core.settings import CoreSettings


def test_production_refuses_default_secret() -> None:
    with pytest.raises(ValidationError, match="HUICE_SECRET_KEY"):
        CoreSettings(env="production", database_url="postgresql://h/d", redis_url="redis://h", _env_file=None)


def test_production_refuses_embedded_servers_unless_allowed() -> None:
    secret = "s" * 40
    with pytest.raises(ValidationError, match="HUICE_DATABASE_URL"):
        CoreSettings(env="production", secret_key=secret, _env_file=None)
    ok = CoreSettings(env="production", secret_key=secret, allow_embedded=True, _env_file=None)
    assert ok.database_url is None


def test_settings_read_the_huice_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUICE_MAX_BODY_BYTES", "4096")
    monkeypatch.setenv("HUICE_WORKERS", "3")
    s = CoreSettings(_env_file=None)
    assert (s.max_body_bytes, s.workers) == (4096, 3)


@pytest.mark.parametrize(
    ("error", "status", "exit_code"),
    [
        (InvalidInput("bad", field="x"), 422, 2),
        (NotFound("nope"), 404, 3),
        (Conflict("dup"), 409, 5),
        (RateLimited("slow down"), 429, 6),
        (UpstreamError("tushare down"), 502, 7),
        (ServiceUnavailable("redis down"), 503, 8),
        (AppError("oops"), 500, 1),
    ],
)
def test_error_status_and_exit_codes(error: AppError, status: int, exit_code: int) -> None:
    assert (error.http_status, error.exit_code) == (status, exit_code)


def test_envelope_shape() -> None:
    assert InvalidInput("bad qty", field="qty").envelope() == {
        "error": {"code": "INVALID_INPUT", "message": "bad qty", "details": {"field": "qty"}}
    }
    assert error_envelope(ErrorCode.NOT_FOUND, "x") == {"error": {"code": "NOT_FOUND", "message": "x", "details": {}}}
