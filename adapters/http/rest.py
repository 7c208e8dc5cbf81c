"""The REST API ``/api/v1``: the façade's operations as clean JSON resources.

Authentication is the VXP HMAC scheme (so one system credential serves both APIs), with two
additions that close gaps of the VXP wire format, which signs neither the operation nor the
body: a REST request must sign ``method`` and ``path`` (the request path with its query string,
e.g. ``XroadVnpt-path: /api/v1/inbox?kind=edoc``), and any non-empty body must be covered by a
signed ``hash-file`` (SHA-256 of the body, ordinary hex or the SDK's lossy rendering). A captured
signature therefore cannot be replayed against another resource or with another body.

Errors are ``{"error": {"code", "message", …}}`` from :meth:`hub.errors.HubError.to_dict`; an
authentication refusal answers only code and message (its reason is logged).
"""

# No ``from __future__ import annotations`` here: FastAPI resolves the endpoint annotations at
# runtime, and the dependency aliases (``Small``/``Big``) are local to build_router.
import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from adapters.http.gate import Authenticated, Gate
from hub.edxml.model import MessageKind
from hub.errors import AuthenticationFailed, HubError, InvalidRequest, NotFound
from hub.services.contracts import AgencyRecord, HubService, TransportStatus
from hub.vxp.verify import check_hash_file

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
        errors: Any = getattr(exc, "errors", list)()
        raise InvalidRequest(
            f"invalid request body: {json.dumps(jsonable_encoder(errors))[:500]}",
            message_vi="nội dung yêu cầu không hợp lệ",
            code="request.body",
        ) from None


def build_router(service: HubService, gate: Gate, sealer: "SealService | None" = None) -> APIRouter:
    """The ``/api/v1`` router (plain ``def`` endpoints: the service is synchronous); with
    ``sealer``, also ``POST /sign/seal`` (:mod:`adapters.http.seal`)."""
    router = APIRouter(prefix=PREFIX, tags=["api"])
    settings = gate.settings

    def authenticated(cap: int) -> Callable[[Request], Any]:
        async def dependency(request: Request) -> Authenticated:
            auth = await gate.authenticate(request, cap)
            v = auth.verified
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            if v.param("method") != request.method or v.param("path") != path:
                raise AuthenticationFailed(
                    "method and path must be signed and match the request",
                    message_vi="method và path phải được ký và khớp với yêu cầu",
                    details={"reason": "REST method/path not signed or different"},
                )
            if auth.body:
                body = check_hash_file(v, auth.body)
                if body != auth.body:  # REST bodies are hashed whole, no SDK CR LF
                    raise AuthenticationFailed(
                        "hash-file does not match the body",
                        details={"reason": "hash-file mismatch"},
                    )
            return auth

        return dependency

    Small = Annotated[Authenticated, Depends(authenticated(settings.max_small_body_bytes))]
    Big = Annotated[Authenticated, Depends(authenticated(settings.max_package_bytes))]

    @router.post(
        "/packages",
        summary="Push an edXML package (raw body)",
        status_code=201,
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/xml": {"schema": {}}}}
        },
    )
    def push(auth: Big, response: Response) -> Any:
        """Accept a package; idempotent on the bytes (200 and ``duplicate`` when seen before).

        An optional signed ``from`` names the sending agency (checked by the service against
        the package and the agencies this system hosts).
        """
        v = auth.verified
        result = service.push(v.system_id, auth.body, declared_from=v.param("from"))
        if result.duplicate:
            response.status_code = 200
        return _value(result)

    @router.get("/inbox", summary="Deliveries waiting for this system's agencies")
    def inbox(auth: Small, kind: Annotated[MessageKind, Query()] = MessageKind.EDOC) -> Any:
        return [_value(i) for i in service.list_received(auth.verified.system_id, kind)]

    @router.get("/inbox/count", summary="How many deliveries are waiting")
    def inbox_count(auth: Small, kind: Annotated[MessageKind, Query()] = MessageKind.EDOC) -> Any:
        return {"kind": kind, "count": service.count_received(auth.verified.system_id, kind)}

    @router.get(
        "/inbox/{delivery_id}/package",
        summary="The package bytes of one delivery (TraceHeader appended)",
        response_class=Response,
        responses={200: {"content": {"application/xml": {}}}},
    )
    def package(delivery_id: str, auth: Small) -> Response:
        fetched = service.fetch(auth.verified.system_id, delivery_id)
        return Response(
            fetched.data,
            media_type="application/xml",
            headers={"X-Delivery-Id": fetched.delivery_id, "X-Message-Kind": str(fetched.kind)},
        )

    @router.post(
        "/inbox/{delivery_id}/ack",
        summary="Acknowledge a delivery: processing, done or fail",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": AckIn.model_json_schema()}},
            }
        },
    )
    def ack(delivery_id: str, auth: Small) -> Any:
        body = _body_json(AckIn, auth.body)
        service.update_status(auth.verified.system_id, delivery_id, body.status)
        return {"delivery_id": delivery_id, "status": body.status}

    @router.get("/sent", summary="Per-recipient rows of this system's sent packages")
    def sent(auth: Small, doc_id: Annotated[str | None, Query()] = None) -> Any:
        return [_value(r) for r in service.list_sent(auth.verified.system_id, doc_id)]

    @router.get("/sent/{doc_id}", summary="The recipients of one sent package")
    def sent_one(doc_id: str, auth: Small) -> Any:
        rows = service.list_sent(auth.verified.system_id, doc_id)
        if not rows:
            raise NotFound(f"no sent document {doc_id}", message_vi=f"không có văn bản {doc_id}")
        return [_value(r) for r in rows]

    @router.get("/documents/{doc_id}/timeline", summary="Everything that happened to a document")
    def timeline(doc_id: str, auth: Small) -> Any:
        # The service's timeline is not scoped by system: only the sender may read it here.
        if not service.list_sent(auth.verified.system_id, doc_id):
            raise NotFound(f"no sent document {doc_id}", message_vi=f"không có văn bản {doc_id}")
        return [_value(e) for e in service.timeline(doc_id)]

    @router.get("/agencies", summary="The agency registry as this system sees it")
    def agencies(auth: Small) -> Any:
        return [_value(a) for a in service.list_agencies(auth.verified.system_id)]

    @router.post(
        "/agencies",
        summary="Register an agency hosted by this system",
        status_code=201,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": AgencyIn.model_json_schema()}},
            }
        },
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
