"""The one FastAPI app: platform routes plus every context's router under `/api`."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import huice
from huice.bootstrap import Container, build_container, start_error_tracking
from huice.contexts import CONTEXTS
from huice.health import readiness
from huice.routing import index_included_routers
from platform_core.http import COMMON_ERROR_RESPONSES, install_http


class Readiness(BaseModel):
    """Each check (`ok`, `latency_ms` and what it found) and the verdict over the checks named in `gates`."""

    ready: bool = Field(description="Every check named in `gates` passed.")
    gates: list[str] = Field(
        description="The checks that decide `ready` (postgres, redis, migrations, workers); `data_provider` and "
        "`scheduler` are reported beside them and never gate."
    )
    checks: dict[str, dict[str, Any]]


_READINESS = {"model": Readiness, "description": "the same report, with the failed checks"}


def create_app(container: Container, *, own_container: bool = False) -> FastAPI:
    """Build the API over an already-built container (tests pass theirs; `serve` builds one per process)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if own_container:  # a served API: its first strategy save finds a confined child already imported
            from huice.worker import freeze_heap
            from strategy_management.confined_runner import prestart

            prestart()
            # the start-up heap (every context's modules, models, the routes) out of the collector: a full
            # collection over its ~10^5 objects stalls every request in flight for tens of milliseconds
            freeze_heap()
        yield
        if own_container:
            container.close()

    app = FastAPI(
        docs_url=None,
        redoc_url=None,
        swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        title="huice API",
        version=huice.__version__,
        description=(
            'Backtesting for China A-share quant traders. Every error is `{"error": {"code", "message", "details"}}`.'
        ),
        lifespan=lifespan,
        responses=COMMON_ERROR_RESPONSES,
    )
    app.state.container = container
    _offline_docs(app)
    install_http(
        app,
        max_body_bytes=container.settings.max_body_bytes,
        client_max_active=container.settings.api_client_concurrency,
        client_max_waiting=container.settings.api_client_queue,
        client_max_writes=container.settings.api_client_write_concurrency,
        client_max_wait_s=container.settings.api_client_queue_wait_s,
        observe=_request_observer(container),
    )
    _trust_forwarded_headers(app, container.settings.trusted_proxy_list)

    @app.get("/health", tags=["platform"], summary="Liveness")
    def health() -> dict[str, str]:
        """The process is up and serving requests."""
        return {"status": "ok", "version": huice.__version__}

    @app.get("/ready", tags=["platform"], summary="Readiness", response_model=Readiness, responses={503: _READINESS})
    async def ready() -> JSONResponse:
        """PostgreSQL, Redis, migrations at head and at least one live worker decide readiness (503 with each
        check otherwise); the data provider (Tushare token present, and reachable by a probe call — reused for a
        minute — when one is set) and the maintenance scheduler (no schedule overdue) are reported and never
        gate."""
        report = await run_in_threadpool(readiness, container)
        return JSONResponse(report, status_code=200 if report["ready"] else 503)

    from user_auth.deps import RateLimitGuard

    # Every route added from here on (all of `/api`) is rate-limited right after the schema edge, before
    # authentication of the route itself, its unit of work and its body.
    app.router.dependencies.append(RateLimitGuard)
    for spec in CONTEXTS:
        router = spec.router()
        if router is not None:
            app.include_router(router, prefix="/api")
        if (root := spec.root_router()) is not None:
            app.include_router(root)

    from starlette.routing import WebSocketRoute

    from monitoring.api import SOCKET_PATH, metrics_router, stream_socket

    app.include_router(metrics_router)
    app.router.routes.append(WebSocketRoute(SOCKET_PATH, stream_socket))
    index_included_routers(app)  # last: over every router included
    _document_rate_limits(app)
    _rate_limit_unguarded_answers(app)
    return app


def _request_observer(container: Container) -> Any:
    """Count every HTTP request by method, route template and status, with its latency, into monitoring's
    HTTP metrics of this process (rendered by `/metrics`). Called by the outermost middleware of
    `install_http` (the request context), so refused requests count too."""
    from monitoring.config import env_of

    def observe(scope: Scope, status: int, seconds: float) -> None:
        env_of(container).http.observe(scope.get("method", ""), route_template(scope), status, seconds)

    return observe


def route_template(scope: Scope) -> str | None:
    """The full template of the route that served the request (`/api/runs/{run_id}`), or None when no route
    matched. An included router's route knows only its own part of the path (`/runs/{run_id}`); the
    prefixes before it are literal, so they are the request path's head that the route's regex leaves."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    regex = getattr(route, "path_regex", None)
    path = scope.get("path", "")
    if template is None or regex is None or regex.match(path):
        return template
    for i, char in enumerate(path):
        if char == "/" and i > 0 and regex.match(path[i:]):
            return path[:i] + template
    return template


def _rate_limit_unguarded_answers(app: FastAPI) -> None:
    """Answers made before the rate-limit guard ran — the schema edge's refusals, a body that is not JSON,
    an unknown path or method — count against the client address too, so they carry `X-RateLimit-*` (or
    become the 429)."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from platform_core.errors import AppError
    from platform_core.http import envelope_response, recorded_response_headers
    from user_auth.deps import rate_limit_unguarded, run_deferred_guard

    def count(request: Any) -> AppError | None:
        # a guard deferred to the route's hop (`user_auth.deps.Caller`) that the hop never reached runs first:
        # the caller is authenticated and counted before a parameter error is answered, as with the guard
        refusal = run_deferred_guard(request)
        if refusal is not None or "X-RateLimit-Limit" in recorded_response_headers(request):
            return refusal
        return rate_limit_unguarded(request)

    for kind in (AppError, RequestValidationError, StarletteHTTPException):
        answer = app.exception_handlers[kind]

        async def limited(request: Any, exc: Exception, answer: Any = answer) -> Any:
            # counted already by the guard (a route's own refusal): no thread hop for nothing
            if request.url.path.startswith("/api/") and "X-RateLimit-Limit" not in recorded_response_headers(request):
                refusal = await run_in_threadpool(count, request)
                if refusal is not None:
                    return envelope_response(
                        refusal.http_status, refusal.code, refusal.message, refusal.details, refusal.headers
                    )
            return await answer(request, exc)

        app.add_exception_handler(kind, limited)


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "integer"}}


RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": _header("Requests allowed in the window closest to exhaustion (route class, plan)."),
    "X-RateLimit-Remaining": _header("Requests left in that window."),
    "X-RateLimit-Reset": _header("When that window resets (unix seconds)."),
}
QUOTA_HEADERS = {
    "X-Quota-Name": {"description": "The monthly quota this request counted against.", "schema": {"type": "string"}},
    "X-Quota-Used": _header("Used in the current month, this request included."),
    "X-Quota-Limit": _header("The plan's monthly limit."),
    "X-Quota-Reset": _header("When the month's usage resets (unix seconds)."),
    "X-Quota-Exceeded": {
        "description": "`true` once past the limit (soft quota: accepted anyway, a hint).",
        "schema": {"type": "string", "enum": ["true", "false"]},
    },
}
_RATE_LIMITED = {
    "description": "RATE_LIMITED: a rate limit (details.limit, details.route_class) or a hard monthly quota "
    "(details.quota) is exhausted; retry after `Retry-After` seconds.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
}


def _document_rate_limits(app: FastAPI) -> None:
    """OpenAPI of every `/api` operation: the `X-RateLimit-*` headers on each response, the 429 answer with
    `Retry-After`, its route class (`x-rate-limit-class`), and the `X-Quota-*` hint on submissions."""
    from user_auth.domain import RATE_CLASS_KEY, route_class

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        for path, operations in document.get("paths", {}).items():
            if not path.startswith("/api/"):
                continue
            for method, operation in operations.items():
                cls = operation.get(RATE_CLASS_KEY) or route_class(method.upper(), path).value
                if not operation.get("security"):
                    cls = "anonymous"
                operation[RATE_CLASS_KEY] = cls
                responses = operation.setdefault("responses", {})
                responses.setdefault("429", dict(_RATE_LIMITED))
                for status, response in responses.items():
                    headers = {**response.get("headers", {}), **RATE_LIMIT_HEADERS}
                    if status == "429":
                        headers["Retry-After"] = _header("Seconds until the request may be retried.")
                    elif cls == "submit" and status.startswith("2"):
                        headers.update(QUOTA_HEADERS)
                    response["headers"] = headers
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _offline_docs(app: FastAPI) -> None:
    """`/docs` (Swagger UI) and `/redoc` from the assets fastapi-offline ships in its package: no CDN, so they
    work offline and in mainland China; Swagger's validator badge is off (it would call validator.swagger.io).
    Plain Starlette routes, like `/openapi.json`: pages for people, outside the API's edge and its schema."""
    import fastapi_offline
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
    from fastapi.staticfiles import StaticFiles
    from starlette.requests import Request
    from starlette.responses import HTMLResponse

    static = "/static-offline-docs"
    app.mount(static, StaticFiles(directory=Path(fastapi_offline.__file__).parent / "static"), name="offline-docs")

    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
            swagger_js_url=f"{root}{static}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{static}/swagger-ui.css",
            swagger_favicon_url=f"{root}{static}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    async def oauth2_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{static}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{static}/favicon.png",
            with_google_fonts=False,
        )

    app.add_route("/docs", swagger, include_in_schema=False)
    app.add_route("/docs/oauth2-redirect", oauth2_redirect, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)


def _trust_forwarded_headers(app: FastAPI, proxies: list[str]) -> None:
    """Believe X-Forwarded-For/-Proto only from the configured proxies (HUICE_TRUSTED_PROXIES; none by
    default), whatever server runs the app: `huice serve` starts uvicorn with its own proxy handling off,
    so the client address every context sees (throttles, audit) is the peer's unless a proxy is trusted."""
    if proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=proxies)  # outermost: before request ids


def app_factory() -> FastAPI:
    """Entry point for uvicorn `--factory`: builds settings and container in the serving process."""
    from platform_core.logging import configure_logging
    from platform_core.settings import CoreSettings

    settings = CoreSettings()
    configure_logging(settings.log_level, settings.log_format)
    container = build_container(settings)
    start_error_tracking(container, "api")
    return create_app(container, own_container=True)
