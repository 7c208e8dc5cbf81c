"""The REST API ``/api/v1``: the façade's operations as clean JSON resources.

Authentication is the VXP HMAC scheme (so one system credential serves both APIs), with two
additions that close gaps of the VXP wire format, which signs neither the operation nor the
body: a REST request must sign ``method`` and ``path`` (the request path with its query string
as sent, e.g. ``XroadVnpt-path: /api/v1/inbox?kind=edoc``; see :func:`signed_path_matches`),
and any non-empty body must be covered by a signed ``hash-file`` (SHA-256 of the body, ordinary
hex or the SDK's lossy rendering). A captured signature therefore cannot be replayed against
another resource or with another body.

Errors are ``{"error": {"code", "message", …}}`` from :meth:`hub.errors.HubError.to_dict`; an
authentication refusal answers only code and message (its reason is logged).

The OpenAPI document states every answer an operation can give — the success body (the
service's contract values, :mod:`hub.services.contracts`) and each error status with the error
document — so a generated client, and the schemathesis run of the test suite, can hold the API
to it. The error statuses are :data:`ERROR_RESPONSES` (the statuses of :mod:`hub.errors`).
"""

# No ``from __future__ import annotations`` here: FastAPI resolves the endpoint annotations at
# runtime, and the dependency aliases (``Small``/``Big``) are local to build_router.
import dataclasses
import hashlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from adapters.http.gate import Authenticated, Gate
from adapters.http.streaming import package_response
from hub.edxml.model import MessageKind
from hub.errors import AuthenticationFailed, HubError, InvalidRequest, NotFound
from hub.services.contracts import (
    AgencyRecord,
    HubService,
    InboxItem,
    PushResult,
    SentRow,
    TimelineEntry,
    TransportStatus,
)
from hub.vxp.verify import check_hash_digests, check_hash_file

if TYPE_CHECKING:  # pyHanko loads only when a seal service is configured
    from signing.seal_service import SealService

PREFIX = "/api/v1"


class AckIn(BaseModel):
    """Body of ``POST /inbox/{delivery_id}/ack``."""

    model_config = ConfigDict(extra="forbid")
    status: TransportStatus


class AgencyIn(BaseModel):
    """Body of ``POST /agencies`` (the fields of VXP ``registerAgency``)."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z][0-9A-Za-z.\-_]*$")
    name: str = Field(min_length=1, max_length=500)
    id: str | None = None
    parent_code: str | None = Field(default=None, max_length=64)
    mail: str | None = None
    mobile: str | None = None
    fax: str | None = None


class ErrorDetail(BaseModel):
    """The ``error`` member of an error document (:meth:`hub.errors.HubError.to_dict`)."""

    code: str
    message: str
    path: str | None = None
    line: int | None = None
    document_id: str | None = None
    details: dict[str, Any] | None = None


class ErrorOut(BaseModel):
    """Every refusal and failure of ``/api/v1``."""

    error: ErrorDetail


class CountOut(BaseModel):
    """Answer of ``GET /inbox/count``."""

    kind: MessageKind
    count: int


class AckOut(BaseModel):
    """Answer of ``POST /inbox/{delivery_id}/ack``."""

    delivery_id: str
    status: TransportStatus


_ERROR_STATUSES = {
    400: "Malformed request, parameter or package (XML, edXML, attachment)",
    401: "Authentication failed (unknown system, bad HMAC, stale timestamp, unsigned path)",
    403: "The system may not act for this agency",
    404: "No such resource for this system",
    409: "Contradicts stored state (same document, other bytes; illegal status change)",
    413: "Body over the size cap",
    422: "Package refused by the edXML profile or the sender's policy",
    500: "Unexpected failure (a bug; logged)",
    503: "The hub's store or broker is unavailable; nothing was lost, retry later",
}
#: The error answers every operation documents (FastAPI's own 422 schema is replaced: request
#: validation errors are answered as 400 with the error document).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text} for status, text in _ERROR_STATUSES.items()
}


#: OpenAPI links from a pushed package to what its sender may read about it.
_SENT: dict[str, Any] = {
    "SentRows": {
        "operationId": "sent_one_api_v1_sent__doc_id__get",
        "parameters": {"doc_id": "$response.body#/doc_id"},
    },
    "Timeline": {
        "operationId": "timeline_api_v1_documents__doc_id__timeline_get",
        "parameters": {"doc_id": "$response.body#/doc_id"},
    },
}


def error_body(exc: HubError, lang: str) -> dict[str, Any]:
    """The REST error document; authentication refusals keep their reason to the log."""
    if isinstance(exc, AuthenticationFailed):
        return {"error": {"code": exc.code, "message": exc.message(lang)}}
    return {"error": exc.to_dict(lang)}


def rest_error(exc: HubError, lang: str) -> JSONResponse:
    return JSONResponse(error_body(exc, lang), status_code=exc.http_status)


def _value(obj: Any) -> Any:
    """A contract value (frozen dataclass, tuple of them) as JSON-ready data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return jsonable_encoder(obj)


def _body_json(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate_json(body)
    except ValueError as exc:
        errors: Any = jsonable_encoder(getattr(exc, "errors", list)(), exclude={"ctx", "input"})
        # Name each problem (field and reason) in both languages; the input is not echoed.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())) or 'body'}: {e.get('msg', '')}"
            for e in errors
        )[:500]
        raise InvalidRequest(
            f"invalid request body: {problems or 'empty or not JSON'}",
            message_vi=f"nội dung yêu cầu không hợp lệ: {problems or 'trống hoặc không phải JSON'}",
            code="request.body",
            details={"errors": errors},
        ) from None


def _json_body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON Schema with its ``$defs`` inlined: the OpenAPI document has no
    ``#/$defs`` to point into (these models are small and not recursive)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline(schema)}},
        }
    }


def signed_path_matches(signed: str | None, request: Request) -> bool:
    """Whether the signed ``path`` names this request's path and query.

    Accepted: the path as it travelled on the wire (percent-escapes kept, the form a client
    holds when it signs the URL it sends) or its decoded form; the query string always as sent.
    Both name the same resource, so neither opens a replay against another one.
    """
    if signed is None:
        return False
    query = request.url.query
    suffix = f"?{query}" if query else ""
    raw = request.scope.get("raw_path")
    candidates = {request.url.path + suffix}
    if isinstance(raw, bytes):
        candidates.add(raw.decode("latin-1") + suffix)
    return signed in candidates


def _check_signed(request: Request, auth: Authenticated) -> None:
    """The REST rules on top of the gate: method and path signed, the body hashed whole."""
    v = auth.verified
    if v.param("method") != request.method or not signed_path_matches(v.param("path"), request):
        raise AuthenticationFailed(
            "method and path must be signed and match the request",
            message_vi="method và path phải được ký và khớp với yêu cầu",
            details={"reason": "REST method/path not signed or different"},
        )
    if auth.spooled is not None:
        digests = auth.spooled.digests()
        if check_hash_digests(v, digests) != len(digests) - 1:  # hashed whole
            raise AuthenticationFailed(
                "hash-file does not match the body",
                details={"reason": "hash-file mismatch"},
            )
    elif auth.body:
        body = check_hash_file(v, auth.body)
        if body != auth.body:  # REST bodies are hashed whole, no SDK CR LF
            raise AuthenticationFailed(
                "hash-file does not match the body",
                details={"reason": "hash-file mismatch"},
            )


def build_router(service: HubService, gate: Gate, sealer: "SealService | None" = None) -> APIRouter:
    """The ``/api/v1`` router (plain ``def`` endpoints: the service is synchronous); with
    ``sealer``, also ``POST /sign/seal`` (:mod:`adapters.http.seal`)."""
    router = APIRouter(prefix=PREFIX, tags=["api"], responses=ERROR_RESPONSES)
    settings = gate.settings

    def authenticated(cap: int, *, spool: bool = False) -> Callable[[Request], Any]:
        async def dependency(request: Request) -> AsyncIterator[Authenticated]:
            auth = await gate.authenticate(request, cap, spool=spool)
            try:
                _check_signed(request, auth)
                yield auth
            finally:
                auth.close()

        return dependency

    Small = Annotated[Authenticated, Depends(authenticated(settings.max_small_body_bytes))]
    Big = Annotated[Authenticated, Depends(authenticated(settings.max_package_bytes, spool=True))]

    @router.post(
        "/packages",
        summary="Push an edXML package (raw body)",
        status_code=201,
        responses={
            201: {"model": PushResult, "description": "Accepted and routed", "links": _SENT},
            200: {"model": PushResult, "description": "Pushed before", "links": _SENT},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/xml": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    def push(auth: Big, response: Response) -> Any:
        """Accept a package; idempotent on the bytes (200 and ``duplicate`` when seen before).

        An optional signed ``from`` names the sending agency (checked by the service against
        the package and the agencies this system hosts).
        """
        v = auth.verified
        data = auth.spooled.package(-1) if auth.spooled is not None else auth.body
        result = service.push(v.system_id, data, declared_from=v.param("from"))
        if result.duplicate:
            response.status_code = 200
        return _value(result)

    @router.get(
        "/inbox",
        summary="Deliveries waiting for this system's agencies",
        responses={200: {"model": list[InboxItem]}},
    )
    def inbox(auth: Small, kind: Annotated[MessageKind, Query()] = MessageKind.EDOC) -> Any:
        return [_value(i) for i in service.list_received(auth.verified.system_id, kind)]

    @router.get(
        "/inbox/count",
        summary="How many deliveries are waiting",
        responses={200: {"model": CountOut}},
    )
    def inbox_count(auth: Small, kind: Annotated[MessageKind, Query()] = MessageKind.EDOC) -> Any:
        return {"kind": kind, "count": service.count_received(auth.verified.system_id, kind)}

    @router.get(
        "/inbox/{delivery_id}/package",
        summary="The package bytes of one delivery (TraceHeader appended)",
        response_class=Response,
        responses={200: {"content": {"application/xml": {}}}},
    )
    def package(delivery_id: str, auth: Small) -> Response:
        fetched = service.fetch_stream(auth.verified.system_id, delivery_id)
        return package_response(
            fetched,
            "application/xml",
            {"X-Delivery-Id": fetched.delivery_id, "X-Message-Kind": str(fetched.kind)},
        )

    @router.post(
        "/inbox/{delivery_id}/ack",
        summary="Acknowledge a delivery: processing, done or fail",
        responses={200: {"model": AckOut}},
        openapi_extra=_json_body_schema(AckIn),
    )
    def ack(delivery_id: str, auth: Small) -> Any:
        body = _body_json(AckIn, auth.body)
        service.update_status(auth.verified.system_id, delivery_id, body.status)
        return {"delivery_id": delivery_id, "status": body.status}

    @router.get(
        "/sent",
        summary="Per-recipient rows of this system's sent packages",
        responses={200: {"model": list[SentRow]}},
    )
    def sent(auth: Small, doc_id: Annotated[str | None, Query()] = None) -> Any:
        return [_value(r) for r in service.list_sent(auth.verified.system_id, doc_id)]

    @router.get(
        "/sent/{doc_id}",
        summary="The recipients of one sent package",
        responses={200: {"model": list[SentRow]}},
    )
    def sent_one(doc_id: str, auth: Small) -> Any:
        rows = service.list_sent(auth.verified.system_id, doc_id)
        if not rows:
            raise NotFound(f"no sent document {doc_id}", message_vi=f"không có văn bản {doc_id}")
        return [_value(r) for r in rows]

    @router.get(
        "/documents/{doc_id}/timeline",
        summary="Everything that happened to a document",
        responses={200: {"model": list[TimelineEntry]}},
    )
    def timeline(doc_id: str, auth: Small) -> Any:
        # The service's timeline is not scoped by system: only the sender may read it here.
        if not service.list_sent(auth.verified.system_id, doc_id):
            raise NotFound(f"no sent document {doc_id}", message_vi=f"không có văn bản {doc_id}")
        return [_value(e) for e in service.timeline(doc_id)]

    @router.get(
        "/agencies",
        summary="The agency registry as this system sees it",
        responses={200: {"model": list[AgencyRecord]}},
    )
    def agencies(auth: Small) -> Any:
        return [_value(a) for a in service.list_agencies(auth.verified.system_id)]

    @router.post(
        "/agencies",
        summary="Register an agency hosted by this system",
        status_code=201,
        responses={
            201: {
                "model": AgencyRecord,
                "links": {
                    "DeleteAgency": {
                        "operationId": "delete_api_v1_agencies__code__delete",
                        "parameters": {"code": "$response.body#/code"},
                    }
                },
            }
        },
        openapi_extra=_json_body_schema(AgencyIn),
    )
    def register(auth: Small) -> Any:
        body = _body_json(AgencyIn, auth.body)
        extra = {k: v for k, v in (("mobile", body.mobile), ("fax", body.fax)) if v}
        record = AgencyRecord(
            id=body.id or body.code,
            code=body.code,
            name=body.name,
            parent_code=body.parent_code,
            mail=body.mail,
            extra=extra,
        )
        service.register_agency(auth.verified.system_id, record)
        return _value(record)

    @router.delete("/agencies/{code}", summary="Remove an agency", status_code=204)
    def delete(code: str, auth: Small) -> Response:
        service.delete_agency(auth.verified.system_id, code)
        return Response(status_code=204)

    if sealer is not None:
        from adapters.http.seal import add_seal_route

        add_seal_route(router, sealer, Big)
    return router


def body_digest(body: bytes) -> str:
    """The ``hash-file`` a REST client signs for ``body`` (ordinary SHA-256 hex)."""
    return hashlib.sha256(body).hexdigest()
