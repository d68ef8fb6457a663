"""One error hierarchy, one envelope: `{"error": {"code", "message", "details"}}`.

Services raise these; the API renders them with the status below and the CLI prints the same envelope to
stderr with the exit code below. Never `HTTPException` in a service.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    CONFLICT = "CONFLICT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_INPUT: 422,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.UPSTREAM_ERROR: 502,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
}

EXIT_CODE: dict[ErrorCode, int] = {
    ErrorCode.INVALID_INPUT: 2,
    ErrorCode.NOT_FOUND: 3,
    ErrorCode.UNAUTHORIZED: 4,
    ErrorCode.FORBIDDEN: 4,
    ErrorCode.CONFLICT: 5,
    ErrorCode.RATE_LIMITED: 6,
    ErrorCode.PAYLOAD_TOO_LARGE: 2,
    ErrorCode.UPSTREAM_ERROR: 7,
    ErrorCode.SERVICE_UNAVAILABLE: 8,
    ErrorCode.INTERNAL_ERROR: 1,
}


class AppError(Exception):
    """An error a user may see. `message` is safe to show; `details` is JSON-serialisable."""

    code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        code: ErrorCode | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers or {}
        if code is not None:
            self.code = code

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    @property
    def exit_code(self) -> int:
        return EXIT_CODE[self.code]

    def envelope(self) -> dict[str, Any]:
        return error_envelope(self.code, self.message, self.details)


def error_envelope(code: ErrorCode | str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": str(code), "message": message, "details": details or {}}}


class InvalidInput(AppError):
    code = ErrorCode.INVALID_INPUT

    def __init__(self, message: str, *, field: str | None = None, details: dict[str, Any] | None = None):
        merged = dict(details or {})
        if field is not None:
            merged.setdefault("field", field)
        super().__init__(message, details=merged)


class NotFound(AppError):
    code = ErrorCode.NOT_FOUND


class Unauthorized(AppError):
    code = ErrorCode.UNAUTHORIZED


class Forbidden(AppError):
    code = ErrorCode.FORBIDDEN


class RateLimited(AppError):
    code = ErrorCode.RATE_LIMITED


class Conflict(AppError):
    code = ErrorCode.CONFLICT


class PayloadTooLarge(AppError):
    code = ErrorCode.PAYLOAD_TOO_LARGE


class UpstreamError(AppError):
    code = ErrorCode.UPSTREAM_ERROR


class ServiceUnavailable(AppError):
    """A server this answer needs (e.g. the throttle's Redis) is unreachable; retry after `Retry-After`."""

    code = ErrorCode.SERVICE_UNAVAILABLE


class InternalError(AppError):
    code = ErrorCode.INTERNAL_ERROR


def validation_errors(errors: Any, *, prefix: str = "", skip: tuple[str, ...] = ("body",)) -> list[dict[str, Any]]:
    """pydantic's `errors()` as the envelope lists them: `{"field": "a.b", "message", "type"}` each, the
    field joined from the error's location (after `prefix`, without FastAPI's `body` segment)."""
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in skip]
        field = ".".join([prefix, *loc] if prefix else loc)
        out.append({"field": field, "message": err.get("msg", "invalid"), "type": err.get("type")})
    return out


def invalid_input_from(exc: Any, *, prefix: str = "", message: str | None = None) -> InvalidInput:
    """The one translation of a pydantic `ValidationError` into INVALID_INPUT: every error in
    `details.errors`, the first one's field in `details.field` and, unless `message` is given, in the message."""
    errors = validation_errors(exc.errors(), prefix=prefix)
    first = errors[0] if errors else {"field": prefix, "message": "invalid"}
    field = first["field"] or prefix or None
    text = message or (f"{field}: {first['message']}" if field else str(first["message"]))
    return InvalidInput(text, field=field, details={"errors": errors})
