"""Error tracking: optional Sentry (`sentry-sdk` with its Starlette/FastAPI and RQ integrations) for the API
and worker processes, started by the composition app when HUICE_SENTRY_DSN is set.

What is reported: unexpected exceptions — an API request that fails with a 500 (the platform's request
middleware logs it with its traceback), an RQ job whose handler raises something other than an `AppError`
(the job runtime logs it at ERROR with its traceback), anything RQ itself sees fail — through the SDK's
logging integration (ERROR and above become events, INFO and above breadcrumbs) and its RQ integration.

What never leaves the process: `send_default_pii` off (no client addresses, no user), no request bodies
(`max_request_body_size="never"`: strategy source, passwords), no cookies, no local variables of the
frames, no `sys.argv`; and every string and every value under a secret-looking key of the event and of each
breadcrumb goes through the platform's log redaction (`platform_core.logging.redact`: Authorization,
Cookie, API keys, tokens, passwords, `source`, bearer tokens, share tokens, URL passwords). For the
composition app only (like `telemetry`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from platform_core.logging import redact

if TYPE_CHECKING:
    from monitoring.config import MonitoringSettings

_DROPPED_REQUEST_KEYS = ("data", "cookies", "env")


def init_error_tracking(settings: MonitoringSettings, *, environment: str, release: str, process: str) -> bool:
    """Start Sentry in this process when `settings.sentry_dsn` is set (else do nothing); returns whether it
    did. Call it before the process serves (API) or forks work-horses (worker: they inherit the client).
    `process` tags the events (`api`, `worker`)."""
    if settings.sentry_dsn is None:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.fastapi import FastApiIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.integrations.rq import RqIntegration
    from sentry_sdk.integrations.starlette import StarletteIntegration

    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.sentry_environment or environment,
        release=f"huice@{release}",
        # send_default_pii stays unset, which is False (sentry-sdk 2.75 deprecates passing it): no user, no
        # client address; its default EventScrubber also runs
        include_local_variables=False,
        max_request_body_size="never",
        auto_enabling_integrations=False,
        integrations=[
            StarletteIntegration(),
            FastApiIntegration(),
            RqIntegration(),
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
        ],
        before_send=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
    )
    sentry_sdk.set_tag("process", process)
    return True


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """The event as it may leave the process: no request body, cookies or environment, no frame
    variables, no argv, and the platform's redaction over every remaining value."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in _DROPPED_REQUEST_KEYS:
            request.pop(key, None)
    extra = event.get("extra")
    if isinstance(extra, dict):
        extra.pop("sys.argv", None)
    for frame in _frames(event):
        frame.pop("vars", None)
    return redact(event)


def scrub_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """A breadcrumb (a log line, an HTTP call) with the platform's redaction applied."""
    return redact(crumb)


def _frames(event: dict[str, Any]) -> list[dict[str, Any]]:
    stacks = [v.get("stacktrace") for v in (event.get("exception") or {}).get("values") or []]
    stacks += [t.get("stacktrace") for t in (event.get("threads") or {}).get("values") or []]
    stacks.append(event.get("stacktrace"))
    return [f for s in stacks if isinstance(s, dict) for f in s.get("frames") or [] if isinstance(f, dict)]
