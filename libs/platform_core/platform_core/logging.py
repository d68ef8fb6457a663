"""Structured JSON logs with the request id on every line, and redaction of secrets.

`configure_logging()` is called once by the composition app (never at import). `request_id_var` carries
the current request or job id; every record gets it. Values under secret-looking keys, bearer tokens and
URL passwords are masked before a line is written, in the message, the extra fields and the traceback.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("huice_request_id", default=None)

REDACTED = "[REDACTED]"
_SECRET_KEYS = re.compile(r"pass(word)?|secret|token|api[_-]?key|authorization|cookie|source|credential", re.IGNORECASE)
_PATTERNS = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1" + REDACTED),
    (re.compile(r"(?i)\b(hk_[a-z0-9]+_)[A-Za-z0-9_-]+"), r"\1" + REDACTED),
    (re.compile(r"(?<![A-Za-z0-9_-])(hs_)[A-Za-z0-9_-]{16,}"), r"\1" + REDACTED),  # share-link tokens
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+(@)"), r"\1" + REDACTED + r"\2"),
    (re.compile(r'(?i)("?(?:password|token|secret|api_key)"?\s*[:=]\s*"?)[^",\s}]+'), r"\1" + REDACTED),
]
_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def redact_text(text: str) -> str:
    """Mask bearer tokens, API keys, URL passwords and `password=...`-style pairs in free text."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def redact(value: Any, key: str | None = None) -> Any:
    """Mask a value if its key looks secret; recurse into dicts and lists; scrub strings."""
    if key is not None and _SECRET_KEYS.search(key):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class RedactingFilter(logging.Filter):
    """Adds `request_id` and scrubs the message, arguments and extra fields of each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        if record.args:
            try:
                record.msg = record.getMessage()
            except Exception:  # malformed format args: keep the raw message
                record.msg = str(record.msg)
            record.args = None
        record.msg = redact_text(str(record.msg))
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD_ATTRS and name != "request_id":
                setattr(record, name, redact(value, name))
        return True


class _RedactingJsonFormatter(JsonFormatter):
    """JSON lines whose traceback (`exc_info`) is redacted like the message; the record keeps its
    exception, for error tracking."""

    def formatException(self, ei: Any) -> str:
        return redact_text(super().formatException(ei))


class _ConsoleFormatter(logging.Formatter):
    def formatException(self, ei: Any) -> str:
        return redact_text(super().formatException(ei))

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        rid = getattr(record, "request_id", None)
        return f"{base} [rid={rid}]" if rid else base


def configure_logging(level: str = "INFO", fmt: str = "json", stream: Any = None) -> None:
    """Route every logger (ours, uvicorn's, rq's) through one redacting handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(
            _RedactingJsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(_ConsoleFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "rq.worker"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
