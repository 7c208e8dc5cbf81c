"""The VXP-compatible façade: the national axis' paths, headers and JSON, over the hub's service.

An unmodified SDKVXP 2.0.1 connector pointed at the hub works unchanged (``vxp-protocol.md``).
Routing is on the *last* path segment, because the SDK appends ``/<operation>`` textually to
whatever endpoint it was given (a path prefix, or ``//sendEdoc`` after a trailing slash, §1).

Every answer on these paths is the §5 JSON envelope — never HTML, not even for 404/405/500
(a non-JSON body makes ``getReceivedEdocList`` fabricate "no new documents") — except
``downloadEdoc``, which answers raw bytes and, on any error, an *empty* body (the SDK saves
whatever body arrives as the package; an empty one makes it report FAIL, §5.2).

Parameters come only from the verified signed JSON (:class:`hub.vxp.verify.VerifiedRequest`);
``filePath`` is the client's local folder and is ignored. Idempotency of ``sendEdoc`` (same
system, same digest → same DocId) and ``updateStatus`` belongs to the service (§8 step 8).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from adapters.http import rest
from adapters.http.gate import Authenticated, Gate
from adapters.http.streaming import MARK, base64_json, package_response
from hub.edxml.model import MessageKind
from hub.errors import AuthenticationFailed, HubError, InternalError, InvalidRequest, NotFound
from hub.services.contracts import AgencyRecord, HubService, TransportStatus
from hub.vxp import replies
from hub.vxp.verify import check_hash_digests, check_hash_file
from hub.vxp.wire import Operation

log = logging.getLogger(__name__)

JSON_MEDIA = "application/json"
#: Keys of the (unsigned) ``registerAgency`` body, as the official example writes them (§2.5).
REGISTER_KEYS = frozenset({"id", "pcode", "code", "name", "mail", "mobile", "fax"})
_CODE_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-_]{0,63}$")


def operation_of(path: str) -> Operation | None:
    """The VXP operation named by the last non-empty segment of ``path``, or ``None``."""
    last = path.rstrip("/").rsplit("/", 1)[-1]
    try:
        return Operation(last)
    except ValueError:
        return None


def json_reply(obj: dict[str, Any], status: int = 200) -> Response:
    """An ASCII-only JSON reply (the ``sendEdoc`` reply is read as US-ASCII, §4)."""
    return Response(replies.encode(obj), status_code=status, media_type=JSON_MEDIA)


def error_reply(
    operation: Operation | None, exc: HubError, lang: str, status: int | None = None
) -> Response:
    """The §5 failure envelope (or the empty body of ``downloadEdoc``) for ``exc``.

    ``ErrorCode`` is the HTTP status as text (``"401"``…). Only the public message is answered:
    an authentication failure's internal reason stays in ``details`` and goes to the log.
    """
    status = status or exc.http_status
    if operation is Operation.DOWNLOAD_EDOC:
        return Response(b"", status_code=status, media_type="application/octet-stream")
    return json_reply(replies.fail(operation, str(status), exc.message(lang)), status)


def _kind(value: str | None) -> MessageKind:
    try:
        return MessageKind((value or "edoc").lower())
    except ValueError:
        raise InvalidRequest(
            f"messagetype must be edoc or status, not {value!r}",
            message_vi=f"messagetype phải là edoc hoặc status, không phải {value!r}",
            code="vxp.messagetype",
        ) from None


def multipart_file(content_type: str, body: bytes, field: str = "file_doc") -> bytes | None:
    """The content of the form field ``field`` of a ``multipart/form-data`` body, or ``None``.

    Connectors that mimic the SDK's intent (its helper is named ``MultipartUtility``, §4) upload
    a real form; the part is returned byte for byte (only the CR LF before the boundary goes).
    """
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if m is None:
        raise InvalidRequest("multipart body without boundary", code="vxp.multipart")
    delimiter = b"--" + m.group(1).encode("latin-1")
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        disposition = head.decode("latin-1").lower()
        if re.search(rf'\bname="?{re.escape(field.lower())}"?(;|\s|$)', disposition):
            return content[:-2] if content.endswith(b"\r\n") else content
    return None


def parse_register_body(body: bytes) -> AgencyRecord:
    """Validate the unsigned ``registerAgency`` body strictly (§8 step 9) into a record.

    A JSON object with only the keys of :data:`REGISTER_KEYS`, all strings, no duplicate keys,
    ``code`` and ``name`` non-empty, ``code``/``pcode`` shaped like agency codes.
    """

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for k, v in items:
            if k in seen:
                raise InvalidRequest(f"registerAgency: duplicate key {k}", code="vxp.register")
            seen[k] = v
        return seen

    try:
        obj = json.loads(body.decode("utf-8"), object_pairs_hook=pairs)
    except (UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, HubError):
            raise
        raise InvalidRequest(
            "registerAgency: body is not UTF-8 JSON",
            message_vi="registerAgency: nội dung không phải JSON UTF-8",
            code="vxp.register",
        ) from None
    if not isinstance(obj, dict):
        raise InvalidRequest("registerAgency: body is not a JSON object", code="vxp.register")
    unknown = sorted(set(obj) - REGISTER_KEYS)
    if unknown:
        raise InvalidRequest(f"registerAgency: unknown keys {unknown}", code="vxp.register")
    bad = sorted(k for k, v in obj.items() if not isinstance(v, str))
    if bad:
        raise InvalidRequest(f"registerAgency: {bad} must be strings", code="vxp.register")
    code, name = obj.get("code", "").strip(), obj.get("name", "").strip()
    if not code or not name:
        raise InvalidRequest(
            "registerAgency: code and name are required",
            message_vi="registerAgency: thiếu code hoặc name",
            code="vxp.register",
        )
    for key in ("code", "pcode"):
        if obj.get(key) and not _CODE_RE.match(obj[key]):
            raise InvalidRequest(f"registerAgency: malformed {key}", code="vxp.register")
    extra = {k: obj[k] for k in ("mobile", "fax") if obj.get(k)}
    return AgencyRecord(
        id=obj.get("id") or code,
        code=code,
        name=name,
        parent_code=obj.get("pcode") or None,
        mail=obj.get("mail") or None,
        extra=extra,
    )


class Facade:
    """The operations of §1 over a :class:`HubService`; one method per operation."""

    def __init__(self, service: HubService, gate: Gate) -> None:
        self.service = service
        self.gate = gate
        self.zone = gate.settings.zone
        self.handlers: dict[Operation, Callable[[Request, Authenticated], Response]] = {
            Operation.SEND_EDOC: self.send_edoc,
            Operation.GET_RECEIVED_EDOC_LIST: self.get_received_edoc_list,
            Operation.GET_EDOC: self.get_edoc,
            Operation.DOWNLOAD_EDOC: self.download_edoc,
            Operation.UPDATE_STATUS: self.update_status,
            Operation.GET_SENT_EDOC_LIST: self.get_sent_edoc_list,
            Operation.COUNT_RECEIVE_EDOC: self.count_receive_edoc,
            Operation.COUNT_RECEIVE_STATUS: self.count_receive_status,
            Operation.GET_AGENCIES_LIST: self.get_agencies_list,
            Operation.GET_AGENCIES_LIST_QD20: self.get_agencies_list_qd20,
            Operation.GET_SYNCHRONIZE_UNIT: self.get_synchronize_unit,
            Operation.REGISTER_AGENCY: self.register_agency,
            Operation.DELETE_AGENCY: self.delete_agency,
        }

    def send_edoc(self, request: Request, auth: Authenticated) -> Response:
        v = auth.verified
        body = auth.body
        content_type = request.headers.get("content-type", "")
        multipart = content_type.lower().startswith("multipart/form-data")
        if auth.spooled is not None and not multipart:
            spooled = auth.spooled
            spooled_package = spooled.package(check_hash_digests(v, spooled.digests()))
            _kind(v.param("messagetype"))
            result = self.service.push(v.system_id, spooled_package, declared_from=v.param("from"))
            return json_reply(replies.ok(DocId=result.doc_id))
        if auth.spooled is not None:  # a large form: parsed in memory, as a small one
            body = auth.spooled.package(len(auth.spooled.digests()) - 1).read_all()
        if multipart:
            part = multipart_file(content_type, body)
            if part is None:
                raise InvalidRequest(
                    "multipart upload without a file_doc part",
                    message_vi="thiếu phần file_doc trong dữ liệu multipart",
                    code="vxp.multipart",
                )
            body = part
        package = check_hash_file(v, body)  # also strips the SDK's trailing CR LF
        _kind(v.param("messagetype"))  # validated; the package itself says what it is
        result = self.service.push(v.system_id, package, declared_from=v.param("from"))
        return json_reply(replies.ok(DocId=result.doc_id))

    def get_received_edoc_list(self, request: Request, auth: Authenticated) -> Response:
        v = auth.verified
        items = self.service.list_received(v.system_id, _kind(v.param("messagetype")))
        return json_reply(replies.ok(data=[replies.knobstick(i, self.zone) for i in items]))

    def get_edoc(self, request: Request, auth: Authenticated) -> Response:
        v = auth.verified
        fetched = self.service.fetch_stream(v.system_id, v.require("docId"))
        return base64_json(fetched, replies.encode(replies.ok(data=MARK)), JSON_MEDIA)

    def download_edoc(self, request: Request, auth: Authenticated) -> Response:
        v = auth.verified
        fetched = self.service.fetch_stream(v.system_id, v.require("docId"))
        return package_response(fetched, "application/octet-stream")

    def update_status(self, request: Request, auth: Authenticated) -> Response:
        v = auth.verified
        word = v.require("status")
        try:
            status = TransportStatus(word.lower())
        except ValueError:
            raise InvalidRequest(
                f"status must be processing, done or fail, not {word!r}",
                message_vi=f"status phải là processing, done hoặc fail, không phải {word!r}",
                code="vxp.status",
            ) from None
        self.service.update_status(v.system_id, v.require("docId"), status)
        return json_reply(replies.ok())

    def get_sent_edoc_list(self, request: Request, auth: Authenticated) -> Response:
        v = auth.verified
        rows = self.service.list_sent(v.system_id, v.param("docId") or None)
        return json_reply(replies.ok(data=[replies.sent_row(r, self.zone) for r in rows]))

    def count_receive_edoc(self, request: Request, auth: Authenticated) -> Response:
        n = self.service.count_received(auth.verified.system_id, MessageKind.EDOC)
        return json_reply(replies.ok(count=n))

    def count_receive_status(self, request: Request, auth: Authenticated) -> Response:
        n = self.service.count_received(auth.verified.system_id, MessageKind.STATUS)
        return json_reply(replies.ok(count=n))

    def get_agencies_list(self, request: Request, auth: Authenticated) -> Response:
        rows = self.service.list_agencies(auth.verified.system_id)
        return json_reply(replies.ok(data=[replies.agency_item(r) for r in rows]))

    def get_agencies_list_qd20(self, request: Request, auth: Authenticated) -> Response:
        # ``level`` is signed by the SDK but its meaning on the real server is unknown (§9):
        # the whole list is answered.
        rows = self.service.list_agencies(auth.verified.system_id)
        return json_reply(replies.ok(data=[replies.agency_qd20_item(r) for r in rows]))

    def get_synchronize_unit(self, request: Request, auth: Authenticated) -> Response:
        rows = self.service.list_agencies(auth.verified.system_id)
        return json_reply(replies.ok(data=[replies.sync_unit_item(r) for r in rows]))

    def register_agency(self, request: Request, auth: Authenticated) -> Response:
        record = parse_register_body(auth.body)
        self.service.register_agency(auth.verified.system_id, record)
        return json_reply(replies.ok())

    def delete_agency(self, request: Request, auth: Authenticated) -> Response:
        v = auth.verified
        self.service.delete_agency(v.system_id, v.require("AgencyCode"))
        return json_reply(replies.ok())


#: What the catch-all route runs: a request in, its complete answer out.
Endpoint = Callable[[Request], Awaitable[Response]]


def build_endpoint(service: HubService, gate: Gate) -> Endpoint:
    """The façade's one endpoint, served by :func:`build_route`'s catch-all route and, ahead of
    the framework, by :class:`adapters.http.app.FacadeLane`.

    Every outcome is rendered here — success, refusal (logged as a security event) and
    unexpected failure (logged with its traceback, answered as a 500 envelope) — so no
    framework default (HTML, ``{"detail": …}``) ever reaches an SDK client. An accepted request
    takes one threadpool hop, for the (blocking) service call; the signature is checked on the
    loop when the system's credentials are cached (:meth:`Gate.authenticate`).
    """
    facade = Facade(service, gate)
    lang = gate.settings.lang

    def run(request: Request, op: Operation, auth: Authenticated) -> Response:
        return facade.handlers[op](request, auth)

    async def vxp(request: Request) -> Response:
        op = operation_of(request.url.path)
        try:
            if op is None and request.url.path.startswith(rest.PREFIX + "/"):
                # Unmatched REST paths and methods fall through to this catch-all: answer
                # them in the REST error shape.
                missing = NotFound(f"no resource {request.method} {request.url.path}")
                await gate.refused_async(request, missing, api="rest", operation=request.url.path)
                return rest.rest_error(missing, lang)
            if op is None:
                raise NotFound(
                    f"unknown VXP operation in path {request.url.path!r}",
                    message_vi=f"không có thao tác VXP tại đường dẫn {request.url.path!r}",
                    code="vxp.unknown_operation",
                )
            if request.method not in ("POST", "GET") or (
                op is Operation.SEND_EDOC and request.method != "POST"
            ):
                exc = InvalidRequest(
                    f"{op} does not accept {request.method}",
                    message_vi=f"{op} không nhận phương thức {request.method}",
                    code="vxp.method_not_allowed",
                )
                await gate.refused_async(request, exc, api="vxp", operation=str(op))
                return error_reply(op, exc, lang, status=405)
            cap = (
                gate.settings.max_package_bytes
                if op is Operation.SEND_EDOC
                else gate.settings.max_small_body_bytes
            )
            auth = await gate.authenticate(request, cap, spool=op is Operation.SEND_EDOC)
            if auth.verified.param("method") is not None or auth.verified.param("path") is not None:
                # Signed for the REST API (the SDK signs neither name): the façade signs neither
                # the operation nor every body, so accepting these headers here would let a
                # captured REST request be replayed as registerAgency, getSentEdocList… — the
                # very replay the REST API's signed method and path exist to prevent.
                raise AuthenticationFailed(
                    "a request signed for the REST API is not accepted on the VXP façade",
                    message_vi="yêu cầu ký cho REST API không dùng được trên giao diện VXP",
                    details={"reason": "REST signature on the VXP façade"},
                )
            # The service is synchronous (database transactions): run it off the event loop.
            try:
                return await gate.call(run, request, op, auth)
            finally:
                auth.close()
        except HubError as exc:
            await gate.refused_async(request, exc, api="vxp", operation=str(op or "unknown"))
            return error_reply(op, exc, lang)
        except Exception:
            log.exception("VXP %s failed unexpectedly", op)
            internal = InternalError("internal error", message_vi="lỗi nội bộ của hệ thống")
            return error_reply(op, internal, lang, status=500)

    return vxp


def build_route(endpoint: Endpoint) -> APIRoute:
    """The catch-all route over :func:`build_endpoint`; put it *after* every other route (it
    takes any path). Added to the app's own routes, not through an included router, so that
    :class:`adapters.http.app.FacadeLane` can see which route the router would pick."""
    return APIRoute(
        "/{vxp_path:path}",
        endpoint,
        methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"],
        include_in_schema=False,
    )
