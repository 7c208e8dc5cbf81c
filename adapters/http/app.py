"""The HTTP application: VXP façade + REST ``/api/v1`` + health and metrics, over one service.

:func:`create_app` is called by the composition root with the hub's service; it builds no
engine, broker or registry of its own (everything arrives as an argument), so tests build an
app over an in-memory service and a private metrics registry.

Route order matters: ``/healthz``, ``/readyz``, ``/metrics``, the docs and ``/api/v1`` first,
then the façade's catch-all, which routes any other path on its last segment.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.http import rest, vxp
from adapters.http.gate import ApiSettings, AuditHook, Clock, Gate, utc_now
from hub.errors import HubError, InternalError, InvalidRequest
from hub.services.contracts import HubService

if TYPE_CHECKING:  # pyHanko loads only when a seal service is configured
    from signing.seal_service import SealService

log = logging.getLogger(__name__)

#: A readiness probe: returns ``None``/``True`` when ready, ``False`` or raises when not.
Readiness = Callable[[], bool | None]


class HttpMetrics:
    """Request counters and latency by API, operation and outcome, on a given registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "lienthong_http_requests",
            "HTTP requests by API, operation and outcome",
            ["api", "operation", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "lienthong_http_request_seconds",
            "HTTP request latency by API and operation",
            ["api", "operation"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )


def _labels(scope: Scope) -> tuple[str, str] | None:
    """(api, operation) for the metrics, ``None`` for the probes themselves."""
    path: str = scope.get("path", "")
    if path in ("/healthz", "/readyz", "/metrics"):
        return None
    if path.startswith(rest.PREFIX + "/"):
        route = scope.get("route")
        template = getattr(route, "path", None)
        return "rest", f"{scope.get('method', '')} {template or 'unmatched'}"
    op = vxp.operation_of(path)
    return "vxp", str(op) if op else "unknown"


class MetricsMiddleware:
    """Pure ASGI middleware: count each request and time it (streaming-safe)."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            labels = _labels(scope)
            if labels is not None:
                outcome = "ok" if status < 400 else str(status)
                self.metrics.requests.labels(*labels, outcome).inc()
                self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)


def create_app(
    service: HubService,
    settings: ApiSettings | None = None,
    *,
    clock: Clock = utc_now,
    audit: AuditHook | None = None,
    readiness: Readiness | None = None,
    registry: CollectorRegistry | None = None,
    sealer: SealService | None = None,
) -> FastAPI:
    """Build the HTTP app over ``service``.

    ``clock`` is the server clock used for timestamp freshness (inject a frozen one in tests);
    ``audit`` receives every refused request as a :class:`adapters.http.gate.SecurityEvent`;
    ``readiness`` backs ``/readyz``; ``registry`` receives the request metrics and is what
    ``/metrics`` exposes (a private :class:`CollectorRegistry` when omitted); ``sealer``
    serves ``POST /api/v1/sign/seal`` (absent: no such route).
    """
    settings = settings or ApiSettings()
    registry = registry if registry is not None else CollectorRegistry()
    gate = Gate(service, settings, clock, audit)
    app = FastAPI(
        title="lienthong hub",
        version="1",
        openapi_url=rest.PREFIX + "/openapi.json",
        docs_url=rest.PREFIX + "/docs",
        redoc_url=None,
    )
    app.state.gate = gate

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """The process is alive and serving (no dependency is consulted)."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        """Ready to take traffic, per the readiness probe (database, broker…)."""
        if readiness is None:
            return JSONResponse({"status": "ready"})
        try:
            ok = readiness()
        except Exception as exc:  # a probe failing means "not ready", never a 500
            return JSONResponse({"status": "not ready", "reason": str(exc)[:200]}, 503)
        if ok is False:
            return JSONResponse({"status": "not ready"}, 503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(HubError)
    async def hub_error(request: Request, exc: HubError) -> Response:
        # Raised by REST dependencies/endpoints (the façade renders its own errors).
        await gate.refused_async(request, exc, api="rest", operation=request.url.path)
        return rest.rest_error(exc, settings.lang)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        invalid = InvalidRequest(
            "invalid request parameters",
            message_vi="tham số yêu cầu không hợp lệ",
            details={"errors": _jsonable(exc.errors())},
        )
        await gate.refused_async(request, invalid, api="rest", operation=request.url.path)
        return rest.rest_error(invalid, settings.lang)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        # A bug in a REST endpoint: the JSON error document, never Starlette's plain-text
        # "Internal Server Error", and never the exception's text (it may quote a package or
        # a parameter). The traceback goes to the log. (The façade renders its own 500s.)
        log.error("REST %s %s failed unexpectedly", request.method, request.url.path, exc_info=exc)
        internal = InternalError("internal error", message_vi="lỗi nội bộ của hệ thống")
        return JSONResponse(rest.error_body(internal, settings.lang), status_code=500)

    app.include_router(rest.build_router(service, gate, sealer))
    app.include_router(vxp.build_router(service, gate))
    app.add_middleware(MetricsMiddleware, metrics=HttpMetrics(registry))
    return app


def _jsonable(errors: Any) -> Any:
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(errors, exclude={"ctx", "input"})
