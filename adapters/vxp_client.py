"""The hub as a VXP client: every SDKVXP operation, spoken as the official Java SDK speaks it.

Used to push to the national document axis and to peer hubs that serve the same protocol
(another lienthong hub's façade does). The requests reproduce ``vxp-protocol.md`` §2/§7 byte for
byte through :func:`hub.vxp.wire.sign_headers` — same header names and casing, Java ``HashMap``
member order, Gson escaping, fixed ``User-Agent`` and ``XroadVnpt-version``, ``sendEdoc`` body =
package + CR LF with the lossy ``hash-file`` — except that every request gets a *fresh*
timestamp (the SDK's frozen one is a defect, §2.1). Replies are read per §5; ``getEdoc`` data is
base64-decoded to bytes and never round-tripped through text.

No two requests of one client carry the same signed headers: the timestamp is the only part of
the signed text the protocol lets vary, and it has millisecond resolution, so a client that
signs twice within one millisecond (a retry right after a fast failure) moves the second
timestamp 1 ms past the first (:meth:`VxpClient._timestamp`). A peer that refuses repeated
signatures (a lienthong axis with ``refuse_replays``) therefore never sees one from this client;
if it still refuses a replay (another process of this hub signed the same request in the same
millisecond) the request is signed again once at once, then retried like an outage — never
taken for a refused credential.

Errors are translated once, here: transport failures, timeouts and 5xx become
:class:`hub.errors.PeerUnavailable` (retried by the forward worker), a ``FAIL`` envelope or an
unreadable reply :class:`hub.errors.PeerError` carrying the peer's ``ErrorDesc`` (an HTML page
or an empty body: :class:`hub.errors.PeerBadReply`, retried like an outage), a refused
credential (HTTP 401/403, or the §8 "Authentication failed" envelope)
:class:`hub.errors.PeerAuthRefused`. The secret is
never logged; the hash-header is, to correlate with the peer's logs.

Implements :class:`hub.ports.PeerLink` (:meth:`VxpClient.send`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from hub.edxml.model import MessageKind
from hub.errors import PeerAuthRefused, PeerError, PeerUnavailable
from hub.services.contracts import TransportStatus
from hub.vxp.replies import REPLAYED, Knobstick, parse_knobsticks, parse_reply, parse_rows
from hub.vxp.wire import (
    DEFAULT_ZONE,
    HASH_HEADER,
    JSON_CT,
    OCTET_CT,
    Operation,
    format_timestamp,
    lossy_hash_file,
    sign_headers,
)

log = logging.getLogger(__name__)

#: Timeouts the SDK lacks (§3 "no client timeouts"): a stuck peer must not hang a worker.
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
#: Operations whose SDK request body is the two bytes ``{}`` (§1 table).
_BRACES_BODY = frozenset(
    {
        Operation.DELETE_AGENCY,
        Operation.GET_EDOC,
        Operation.UPDATE_STATUS,
        Operation.COUNT_RECEIVE_EDOC,
        Operation.COUNT_RECEIVE_STATUS,
    }
)


#: Read-only operations a poller repeats (logged at DEBUG).
_READS = frozenset(
    {
        Operation.GET_RECEIVED_EDOC_LIST,
        Operation.GET_SENT_EDOC_LIST,
        Operation.COUNT_RECEIVE_EDOC,
        Operation.COUNT_RECEIVE_STATUS,
    }
)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class VxpClient:
    """A VXP client for one ``(endpoint, system_id, secret)``; thread-safe like ``httpx.Client``.

    ``endpoint`` is the SDK's ``service.endpoint`` (operations are appended as ``/<name>``);
    ``zone`` is the zone the timestamp is written in (the peer reads it in the zone it
    configured for this system: ICT by default); ``http`` lets the composition root or a test
    supply the ``httpx.Client`` (the client then does not close it).
    """

    def __init__(
        self,
        endpoint: str,
        system_id: str,
        secret: str,
        *,
        zone: str = DEFAULT_ZONE,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        http: httpx.Client | None = None,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.system_id = system_id
        self._secret = secret
        self.zone = zone
        self._clock = clock
        self._last_signed: dt.datetime | None = None
        self._signing = threading.Lock()
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=timeout)

    def __repr__(self) -> str:  # the secret never appears
        return f"VxpClient(endpoint={self.endpoint!r}, system_id={self.system_id!r})"

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> VxpClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- transport ----------------------------------------------------------------------------

    def _timestamp(self) -> str:
        """A timestamp later than every one this client signed before (see the module doc)."""
        now = self._clock()
        moment = now.replace(microsecond=now.microsecond // 1000 * 1000)
        with self._signing:
            last = self._last_signed
            if last is not None and moment <= last:
                moment = last + dt.timedelta(milliseconds=1)
            self._last_signed = moment
        return format_timestamp(moment, self.zone)

    def _request(
        self,
        op: Operation,
        params: Mapping[str, str],
        *,
        body: bytes | None = None,
        content_type: str = JSON_CT,
        hash_file: str | None = None,
        method: str = "POST",
    ) -> httpx.Response:
        headers = sign_headers(
            system_id=self.system_id,
            secret=self._secret,
            timestamp=self._timestamp(),
            content_type=content_type,
            params=params,
            hash_file=hash_file,
        )
        if op is Operation.SEND_EDOC:
            # The SDK's sendEdoc transport (HttpURLConnection) sets the plain Content-Type
            # first and overwrites it in place later: it leads the header list (capture 7).
            headers.sort(key=lambda h: h[0] != "Content-Type")
        if body is None:
            body = b"{}" if op in _BRACES_BODY else b""
        hash_header = next(v for k, v in headers if k == HASH_HEADER)
        url = f"{self.endpoint}/{op}"
        try:
            response = self._http.request(
                method,
                url,
                headers=[(k.encode("ascii"), v.encode("utf-8")) for k, v in headers],
                content=body if method == "POST" else None,
            )
        except httpx.TimeoutException as exc:
            raise PeerUnavailable(
                f"{op}: {self.endpoint} timed out", details={"hash_header": hash_header}
            ) from exc
        except httpx.HTTPError as exc:
            raise PeerUnavailable(
                f"{op}: {self.endpoint} unreachable: {type(exc).__name__}",
                details={"hash_header": hash_header},
            ) from exc
        # Polling reads (the inbound loop lists inboxes every few seconds) log at DEBUG.
        level = logging.DEBUG if op in _READS else logging.INFO
        log.log(
            level, "vxp %s → %s %s (hash-header %s)", op, response.status_code, url, hash_header
        )
        if response.status_code in (401, 403):
            raise PeerAuthRefused(
                f"{op}: {self.endpoint} refused this hub's credential "
                f"(HTTP {response.status_code})" + _desc(response.content),
                message_vi=f"{op}: {self.endpoint} từ chối thông tin xác thực của hệ thống này "
                f"(HTTP {response.status_code})",
                details={"hash_header": hash_header, "http_status": response.status_code},
            )
        if response.status_code >= 500:
            raise PeerUnavailable(
                f"{op}: {self.endpoint} answered HTTP {response.status_code}"
                + _desc(response.content),
                details={"hash_header": hash_header, "http_status": response.status_code},
            )
        return response

    def _call(self, op: Operation, params: Mapping[str, str], **kw: Any) -> dict[str, Any]:
        try:
            return parse_reply(self._request(op, params, **kw).content, op)
        except PeerUnavailable as exc:
            if exc.code != REPLAYED:
                raise
            log.warning("vxp %s: %s refused a repeated signature; signing again", op, self.endpoint)
        return parse_reply(self._request(op, params, **kw).content, op)

    # --- knobstick (document) operations ------------------------------------------------------

    def send_edoc(
        self,
        data: bytes,
        *,
        from_code: str,
        to_codes: Sequence[str] | None = None,
        kind: MessageKind = MessageKind.EDOC,
    ) -> str:
        """Push a package; returns the peer's ``DocId``. ``to`` is sent as JSON text (§2.1)."""
        params = {"from": from_code, "servicetype": "eDoc", "messagetype": str(kind)}
        if to_codes:
            params["to"] = json.dumps(list(to_codes), separators=(",", ":"))
        reply = self._call(
            Operation.SEND_EDOC,
            params,
            body=data + b"\r\n",
            content_type=OCTET_CT,
            hash_file=lossy_hash_file(data),
        )
        doc_id = reply.get("DocId")
        if not isinstance(doc_id, str) or not doc_id:
            raise PeerError("sendEdoc: reply without DocId", code="vxp.reply")
        return doc_id

    def send(
        self, data: bytes, *, from_code: str, to_codes: Sequence[str], kind: MessageKind
    ) -> str:
        """:class:`hub.ports.PeerLink`: push ``data`` and return the peer's DocId."""
        return self.send_edoc(data, from_code=from_code, to_codes=to_codes, kind=kind)

    def get_received_edoc_list(self, kind: MessageKind = MessageKind.EDOC) -> list[Knobstick]:
        reply = self._call(
            Operation.GET_RECEIVED_EDOC_LIST,
            {"servicetype": "eDoc", "messagetype": str(kind)},
        )
        return parse_knobsticks(reply)

    def get_edoc(self, doc_id: str) -> bytes:
        """The package bytes of ``doc_id`` (base64 ``data`` decoded; line breaks tolerated)."""
        reply = self._call(Operation.GET_EDOC, {"docId": doc_id})
        data = reply.get("data")
        if not isinstance(data, str):
            raise PeerError("getEdoc: reply without base64 data", code="vxp.reply")
        try:
            return base64.b64decode("".join(data.split()), validate=True)
        except (binascii.Error, ValueError):
            raise PeerError("getEdoc: data is not base64", code="vxp.reply") from None

    def download_edoc(self, doc_id: str) -> bytes:
        """The raw package bytes (GET). An empty body is the protocol's error signal (§5.2)."""
        response = self._request(Operation.DOWNLOAD_EDOC, {"docId": doc_id}, method="GET")
        if response.status_code >= 400 or not response.content:
            raise PeerError(
                f"downloadEdoc {doc_id}: refused (HTTP {response.status_code}, empty body)",
                code="vxp.fail",
            )
        return response.content

    def update_status(self, doc_id: str, status: TransportStatus | str) -> None:
        self._call(Operation.UPDATE_STATUS, {"docId": doc_id, "status": str(status)})

    def get_sent_edoc_list(self, doc_id: str) -> list[dict[str, str]]:
        reply = self._call(
            Operation.GET_SENT_EDOC_LIST,
            {"servicetype": "eDoc", "messagetype": "edoc", "docId": doc_id},
        )
        return parse_rows(reply)

    def count_receive_edoc(self) -> int:
        return self._count(Operation.COUNT_RECEIVE_EDOC, "edoc")

    def count_receive_status(self) -> int:
        return self._count(Operation.COUNT_RECEIVE_STATUS, "status")

    def _count(self, op: Operation, messagetype: str) -> int:
        reply = self._call(op, {"servicetype": "eDoc", "messagetype": messagetype})
        count = reply.get("count", 0)
        if isinstance(count, bool) or not isinstance(count, int | str):
            raise PeerError(f"{op}: count is not an integer", code="vxp.reply")
        try:
            return int(count)
        except ValueError:
            raise PeerError(f"{op}: count is not an integer", code="vxp.reply") from None

    # --- agency operations --------------------------------------------------------------------

    def get_agencies_list(self) -> list[dict[str, str]]:
        return parse_rows(self._call(Operation.GET_AGENCIES_LIST, {}))

    def get_agencies_list_qd20(self, level: str = "1") -> list[dict[str, str]]:
        return parse_rows(self._call(Operation.GET_AGENCIES_LIST_QD20, {"level": level}))

    def get_synchronize_unit(self) -> list[dict[str, str]]:
        return parse_rows(self._call(Operation.GET_SYNCHRONIZE_UNIT, {}))

    def register_agency(self, agency: Mapping[str, str]) -> None:
        """Register an agency; ``agency`` has the keys ``id pcode code name mail mobile fax``.

        The body is sent verbatim and is *not* covered by the signature (§1).
        """
        body = json.dumps(dict(agency), ensure_ascii=False, separators=(",", ":"))
        self._call(Operation.REGISTER_AGENCY, {}, body=body.encode("utf-8"))

    def delete_agency(self, code: str) -> None:
        self._call(Operation.DELETE_AGENCY, {"AgencyCode": code})


def _desc(body: bytes) -> str:
    """``: <ErrorDesc>`` when a 5xx body is a VXP envelope, else nothing."""
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ""
    desc = obj.get("ErrorDesc") if isinstance(obj, dict) else None
    return f": {desc}" if isinstance(desc, str) else ""
