"""The HTTP application: VXP façade + REST ``/api/v1`` + health and metrics, over one service.

:func:`create_app` is called by the composition root with the hub's service; it builds no
engine, broker or registry of its own (everything arrives as an argument), so tests build an
app over an in-memory service and a private metrics registry.

Route order matters: ``/healthz``, ``/readyz``, ``/metrics``, the docs and ``/api/v1`` first,
then the façade's catch-all, which routes any other path on its last segment.

Probes and metrics follow the operators' access rule (:mod:`adapters.http.admin_access`, the
one the dashboard uses; :func:`~adapters.http.console.mount_dashboard` installs it with the
admin token and the accounts, and until then only loopback clients are operators): ``/healthz``
is open and says only "ok"; ``/readyz`` tells anyone ready or not, and why only to an operator;
``/metrics`` (system ids, queue names) answers operators only — 401 with a ``Bearer``
challenge when a login exists (a token or accounts), 403 otherwise.
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
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.http import admin_access, rest, vxp
from adapters.http.evidence_health import (
    EVIDENCE_NOTE,
    EvidenceHealthCollector,
    EvidenceHealthReader,
    readiness_evidence,
)
from adapters.http.gate import ApiSettings, AuditHook, Clock, Gate, utc_now
from adapters.http.peer_health import (
    DEGRADED_NOTE,
    PeerHealthCollector,
    PeerHealthReader,
    readiness_peers,
)
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

    async def measure(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Run ``app`` for one HTTP request, counting and timing it (streaming-safe)."""
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await app(scope, receive, record_status)
        finally:
            labels = _labels(scope)
            if labels is not None:
                outcome = "ok" if status < 400 else str(status)
                self.requests.labels(*labels, outcome).inc()
                self.latency.labels(*labels).observe(time.perf_counter() - started)


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
    """Pure ASGI middleware: count each request and time it (:meth:`HttpMetrics.measure`)."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.metrics.measure(self.app, scope, receive, send)


class FacadeLane:
    """The VXP façade's requests, served ahead of the framework's middleware and router.

    Why: the SDK's calls (``sendEdoc``, ``getReceivedEdocList``, ``getEdoc``/``downloadEdoc``,
    ``updateStatus``…) are nearly all of the traffic, and Starlette's middleware chain, FastAPI's
    routing and request handling cost more CPU per request than the HTTP parsing and the HMAC
    check together (``bench/RESULTS-hub.md``, "Lean HTTP"). The lane runs the very endpoint the
    catch-all route runs (:func:`adapters.http.vxp.build_endpoint`: gate, caps, security events,
    error envelopes), inside the same metrics, so replies are byte for byte the same.

    A request takes the lane only when the router would give it to the catch-all anyway: its
    path names a VXP operation and no earlier route fully matches its method and path (the
    dashboard, ``/api/v1``, the probes keep theirs). That verdict is remembered per (method,
    path) — a connected system uses a handful — and forgotten when routes are added.
    """

    #: Most (method, path) verdicts remembered (beyond: decided per request, as the router does).
    MEMORY = 1024

    def __init__(self, app: FastAPI, endpoint: vxp.Endpoint, metrics: HttpMetrics) -> None:
        self.app = app
        self.endpoint = endpoint
        self.metrics = metrics
        self._verdicts: dict[tuple[str, str], bool] = {}
        self._routes = 0

    def takes(self, scope: Scope) -> bool:
        """Whether the router would hand this request to the façade's catch-all."""
        routes = self.app.router.routes
        if len(routes) != self._routes:
            self._verdicts.clear()
            self._routes = len(routes)
        key = (scope["method"], scope["path"])
        verdict = self._verdicts.get(key)
        if verdict is None:
            path = key[1]
            verdict = (
                vxp.operation_of(path) is not None
                and not path.startswith(rest.PREFIX + "/")  # metrics label these by route
                and self._first_match(scope)
            )
            if len(self._verdicts) < self.MEMORY:
                self._verdicts[key] = verdict
        return verdict

    def _first_match(self, scope: Scope) -> bool:
        probe = dict(scope)  # a route may note what it matched in the scope it is shown
        for route in self.app.router.routes:
            if route.matches(probe)[0] is Match.FULL:
                return getattr(route, "endpoint", None) is self.endpoint
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.metrics.measure(self._serve, scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self.app
        response = await self.endpoint(Request(scope, receive, send))
        await response(scope, receive, send)


class HubApp(FastAPI):
    """The FastAPI app, with :class:`FacadeLane` in front of its middleware stack."""

    lane: FacadeLane | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.lane
        if lane is not None and scope["type"] == "http" and lane.takes(scope):
            await lane(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    service: HubService,
    settings: ApiSettings | None = None,
    *,
    clock: Clock = utc_now,
    audit: AuditHook | None = None,
    readiness: Readiness | None = None,
    registry: CollectorRegistry | None = None,
    peer_health: PeerHealthReader | None = None,
    sealer: SealService | None = None,
    evidence_health: EvidenceHealthReader | None = None,
) -> FastAPI:
    """Build the HTTP app over ``service``.

    ``clock`` is the server clock used for timestamp freshness (inject a frozen one in tests);
    ``audit`` receives every refused request as a :class:`adapters.http.gate.SecurityEvent`;
    ``readiness`` backs ``/readyz``; ``registry`` receives the request metrics and is what
    ``/metrics`` exposes (a private :class:`CollectorRegistry` when omitted); ``peer_health``
    adds each peer's health to both (a peer down makes ``/readyz`` *degraded*, still 200);
    ``sealer`` serves ``POST /api/v1/sign/seal`` (absent: no such route); ``evidence_health``
    adds the evidence chain's health to both (a lagging sealer or a TSA down past its tolerated
    period makes ``/readyz`` *degraded*, still 200).
    """
    settings = settings or ApiSettings()
    registry = registry if registry is not None else CollectorRegistry()
    gate = Gate(service, settings, clock, audit)
    app = HubApp(
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

    admin_access.of(app)  # loopback-only operators until the dashboard installs its rule

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> JSONResponse:
        """Ready to take traffic, per the readiness probe (database, broker…); the reason of a
        failure only for an operator (it may name hosts, users, database errors). With the
        peers' and the evidence chain's health: ``degraded`` (still 200) when a peer is down or
        the evidence lags; why only for an operator."""
        if readiness is not None:
            try:
                ok = readiness()
            except Exception as exc:  # a probe failing means "not ready", never a 500
                log.warning("readiness probe failed: %s", type(exc).__name__)
                failed = {"status": "not ready"}
                if admin_access.of(app).allowed(request):
                    failed["reason"] = f"{type(exc).__name__}: {exc}"[:200]
                return JSONResponse(failed, 503)
            if ok is False:
                return JSONResponse({"status": "not ready"}, 503)
        body: dict[str, Any] = {"status": "ready"}
        notes: list[str] = []
        operator = admin_access.of(app).allowed(request)
        if peer_health is not None:
            degraded, peers = readiness_peers(peer_health, clock())
            if degraded:
                notes.append(DEGRADED_NOTE)
            if operator:
                body["peers"] = peers
        if evidence_health is not None:
            degraded, evidence = readiness_evidence(evidence_health)
            if degraded:
                notes.append(EVIDENCE_NOTE)
            if operator:
                body["evidence"] = evidence
        if notes:
            body.update(status="degraded", ready=True, note="; ".join(notes))
        return JSONResponse(body)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        access = admin_access.of(app)
        if not access.allowed(request):
            if access.token_required:
                headers = {"WWW-Authenticate": 'Bearer realm="lienthong"'}
                text = "authentication required (Bearer admin token or a console session)\n"
                return Response(text, 401, headers, media_type="text/plain")
            return Response("loopback clients only\n", 403, media_type="text/plain")
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
    endpoint = vxp.build_endpoint(service, gate)
    app.router.routes.append(vxp.build_route(endpoint))
    http_metrics = HttpMetrics(registry)
    app.add_middleware(MetricsMiddleware, metrics=http_metrics)
    app.lane = FacadeLane(app, endpoint, http_metrics)
    if peer_health is not None:
        registry.register(PeerHealthCollector(peer_health, clock))
    if evidence_health is not None:
        registry.register(EvidenceHealthCollector(evidence_health))
    return app


def _jsonable(errors: Any) -> Any:
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(errors, exclude={"ctx", "input"})
