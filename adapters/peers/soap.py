"""Peers of kind ``soap``: the legacy provincial eDoc SOAP hubs, spoken through zeep.

Theory of operation. Provinces that predate the national document axis run an eDoc SOAP service
with seven operations (``schemas/soap/edoc-hub.wsdl``, the hub's reading of it). One
:class:`SoapHubClient` per peer loads that WSDL from the shipped file once, and binds its one
SOAP binding to the endpoint of the peer's settings (``client.create_service(binding, address)``:
the ``soap:address`` of the file is a placeholder). It implements every peer port:

- :class:`~hub.ports.PeerLink`: ``SendDocument`` → the service's document id;
- :class:`~hub.ports.PeerInbox`: ``GetPendingDocumentIds`` → :class:`~hub.ports.RemoteItem` s,
  ``GetDocument`` → the package bytes exactly as held (base64Binary decoded once by zeep, never
  re-serialised), ``ConfirmReceived`` → accepted, or refused with a reason;
- :class:`~hub.ports.PeerTracker`: ``GetTraces`` → the latest trace entry per receiver, its
  status word mapped by :data:`STATUS_WORDS`;
- :class:`~hub.ports.PeerDirectory`: ``GetOrganizations`` → :class:`~hub.ports.AgencyRow` s. The
  service has no operation to register or withdraw an agency, so
  :meth:`~SoapHubClient.register` and :meth:`~SoapHubClient.delete` raise
  :class:`~hub.errors.PeerError` ``soap.unsupported`` rather than pretend.

``UpdateTraces`` (tell the service what became of a package it delivered here) is
:meth:`SoapHubClient.update_traces`; no port asks for it yet.

Authentication is WS-Security UsernameToken (``system_id`` / ``secret``), as a password digest
by default so the secret never crosses the wire (``options.auth``: ``digest``, ``text``,
``none``). Parsing is hardened: zeep's lxml parser runs strict, refuses DTDs and entities,
fetches nothing the WSDL imports from the network, and keeps libxml2's size limits
(``xml_huge_tree`` off). zeep's transport logs whole envelopes at DEBUG (the package, and a text
password); :class:`_QuietTransport` replaces that with a line of operation, status and size.

Errors are translated once, here (:meth:`SoapHubClient._call`): a ``Client`` SOAP fault is the
peer's refusal → :class:`~hub.errors.PeerError` ``soap.fault`` carrying the fault string (HTTP
500 is how SOAP 1.1 carries every fault, so the status alone says nothing); a ``Server`` fault,
a connection failure, a timeout, an answer that is not SOAP (an HTML page from a proxy, 200 or
5xx), or an HTTP error without a fault → :class:`~hub.errors.PeerUnavailable` (retried with
backoff; a ``Server`` fault keeps the code ``soap.fault`` and its string); an answer that is
SOAP but not the contract's → :class:`~hub.errors.PeerError` ``soap.reply``.

Options (``peers.<name>.options``; an unknown key is a settings error):
``auth`` (``digest``), ``timeout_s`` (read timeout, 60), ``connect_timeout_s`` (10), ``zone``
(the zone a time without an offset is read in, ``Asia/Ho_Chi_Minh``; times handed out are
UTC), ``wsdl`` (a path to a WSDL of the same shape, for a service that differs in its
namespace), ``binding`` (the binding's QName, when that WSDL has several).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from hub.edxml.model import MessageKind
from hub.errors import HubError, PeerError, PeerUnavailable
from hub.ports import AgencyRow, Peer, RemoteDeliveryState, RemoteItem
from hub.resources import data_path
from hub.services.contracts import TransportStatus
from hub.settings import PeerSettings, SettingsError

log = logging.getLogger(__name__)

#: The service's trace status words (edoc-hub.wsdl, TraceEntry/statusCode) as transport states.
STATUS_WORDS: Mapping[str, TransportStatus] = {
    "waiting": TransportStatus.PROCESSING,
    "sent": TransportStatus.PROCESSING,
    "received": TransportStatus.DONE,
    "refused": TransportStatus.FAIL,
    "error": TransportStatus.FAIL,
}

#: Options a ``soap`` peer reads; anything else in ``peers.<name>.options`` is a settings error.
OPTIONS = frozenset({"auth", "timeout_s", "connect_timeout_s", "zone", "wsdl", "binding"})
AUTH_MODES = ("digest", "text", "none")
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_CONNECT_TIMEOUT_S = 10.0
#: The zone a time without an offset is read in (the services run on Vietnamese local time).
DEFAULT_ZONE = "Asia/Ho_Chi_Minh"

# Media types a SOAP 1.1 answer may carry (multipart/related: MTOM/SwA).
_SOAP_MEDIA = frozenset(
    {"text/xml", "application/xml", "application/soap+xml", "multipart/related"}
)
# What zeep raises for an HTTP error status whose body parses as XML but holds no Fault.
_NO_FAULT = "Unknown fault occured"


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One entry of a document's trace as the service keeps it (its status word, unmapped)."""

    organization_code: str
    status_code: str
    status_time: dt.datetime  # xs:dateTime, as the service wrote it
    description: str | None = None


class _NotSoap(Exception):
    """An HTTP answer whose media type is not SOAP (raised inside zeep, translated by _call)."""

    def __init__(self, status: int, media: str) -> None:
        super().__init__(f"HTTP {status} {media or 'without a Content-Type'}")
        self.status = status


class _QuietTransport(Transport):
    """zeep's transport without its DEBUG dumps of whole envelopes, refusing non-SOAP answers.

    Hazard: zeep's own ``post`` logs the request and the answer in full, which would write
    packages (and, with ``auth: text``, the secret) to the logs. This one logs the address,
    status and size only.
    """

    def post(self, address: str, message: bytes | str, headers: dict[str, str]) -> Any:
        response = self.session.post(
            address, data=message, headers=headers, timeout=self.operation_timeout
        )
        log.debug(
            "soap POST %s → HTTP %s (%d bytes)",
            address,
            response.status_code,
            len(response.content),
        )
        media = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media not in _SOAP_MEDIA:
            raise _NotSoap(response.status_code, media)
        return response


class SoapHubClient:
    """One legacy eDoc SOAP hub: every operation of edoc-hub.wsdl, and the four peer ports.

    ``username``/``secret`` fill the WS-Security UsernameToken (``auth`` ``digest`` or ``text``);
    ``name`` is the peer's configured name (written as the ``source`` of its agencies).
    ``session`` lets a test or the composition root supply the ``requests.Session`` (the client
    then does not close it).

    Hazard: calls from several threads share one ``requests.Session``; its connection pool is
    thread-safe and nothing here uses its cookies, but requests does not promise more. Give each
    worker thread its own client if a peer sets cookies.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        name: str = "soap",
        username: str | None = None,
        secret: str | None = None,
        auth: str = "digest",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        zone: str = DEFAULT_ZONE,
        wsdl: Path | None = None,
        binding: str | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if auth not in AUTH_MODES:
            raise SettingsError(f"peer {name}: auth must be one of {AUTH_MODES}, got {auth!r}")
        if auth != "none" and not (username and secret):
            raise SettingsError(f"peer {name}: auth {auth} needs system_id and secret")
        try:
            self._zone = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"peer {name}: unknown zone {zone!r}") from exc
        self.endpoint = endpoint
        self.name = name
        self.username = username
        self.auth = auth
        self._owns_session = session is None
        # zeep's functions carry no annotations (hence the ignores on the calls below)
        self._transport = _QuietTransport(  # type: ignore[no-untyped-call]
            session=session, operation_timeout=(connect_timeout_s, timeout_s)
        )
        wsse = (
            None
            if auth == "none"
            else UsernameToken(  # type: ignore[no-untyped-call]
                username, secret, use_digest=auth == "digest"
            )
        )
        settings = zeep.Settings(
            strict=True,
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
            xml_huge_tree=False,
        )
        path = wsdl if wsdl is not None else data_path("schemas", "soap", "edoc-hub.wsdl")
        try:
            client = zeep.Client(  # type: ignore[no-untyped-call]
                str(path), transport=self._transport, settings=settings, wsse=wsse
            )
        except (OSError, zeep.exceptions.Error, etree.XMLSyntaxError) as exc:
            raise SettingsError(f"peer {name}: cannot load WSDL {path}: {exc}") from exc
        self._service = client.create_service(  # type: ignore[no-untyped-call]
            _binding(client, binding, name), endpoint
        )

    def __repr__(self) -> str:  # the secret never appears
        return (
            f"SoapHubClient(name={self.name!r}, endpoint={self.endpoint!r}, "
            f"username={self.username!r}, auth={self.auth!r})"
        )

    def close(self) -> None:
        if self._owns_session:
            self._transport.session.close()

    # --- the one place third-party errors are translated ---------------------------------------

    def _call(self, operation: str, **params: Any) -> Any:
        where = f"{operation}: {self.endpoint}"
        details: dict[str, Any] = {"peer": self.name, "operation": operation}
        try:
            result = getattr(self._service, operation)(**params)
        except HubError:
            raise
        except zeep.exceptions.Fault as exc:
            if exc.code is None and exc.message == _NO_FAULT:
                raise PeerUnavailable(
                    f"{where} answered an HTTP error without a SOAP fault",
                    message_vi=f"{where}: máy chủ SOAP trả lỗi HTTP không kèm SOAP fault",
                    details=details,
                ) from exc
            # SOAP 1.1 §4.4.1: a Client fault refuses the message itself; a Server fault says
            # the service failed to process it and "may succeed at a later point in time".
            if _fault_class(exc.code) == "Server":
                raise PeerUnavailable(
                    f"{where} failed: {exc.message}",
                    message_vi=f"{where}: máy chủ SOAP gặp lỗi: {exc.message}",
                    code="soap.fault",
                    details={**details, "fault_code": exc.code},
                ) from exc
            raise PeerError(
                f"{where} refused: {exc.message}",
                message_vi=f"{where}: máy chủ SOAP từ chối: {exc.message}",
                code="soap.fault",
                details={**details, "fault_code": exc.code},
            ) from exc
        except _NotSoap as exc:
            details["http_status"] = exc.status
            # A page (often HTML from a proxy or a maintenance screen) in place of SOAP: the
            # service behind it is not answering. A 4xx page is a wrong address or a refusal
            # by something in front of it, which waiting does not mend.
            error = PeerError if 400 <= exc.status < 500 else PeerUnavailable
            raise error(
                f"{where} answered {exc}, not SOAP",
                message_vi=f"{where}: trả lời {exc}, không phải SOAP",
                code="soap.http" if error is PeerError else None,
                details=details,
            ) from exc
        except requests.Timeout as exc:
            raise PeerUnavailable(
                f"{where} timed out",
                message_vi=f"{where}: hết thời gian chờ",
                details=details,
            ) from exc
        except (requests.RequestException, zeep.exceptions.TransportError) as exc:
            raise PeerUnavailable(
                f"{where} unreachable: {type(exc).__name__}",
                message_vi=f"{where}: không kết nối được ({type(exc).__name__})",
                details=details,
            ) from exc
        except (zeep.exceptions.DTDForbidden, zeep.exceptions.EntitiesForbidden) as exc:
            raise PeerError(
                f"{where} answered XML with a DTD or entities (refused unparsed)",
                message_vi=f"{where}: trả lời XML có DTD hoặc entity (bị từ chối)",
                code="soap.unsafe_reply",
                details=details,
            ) from exc
        except zeep.exceptions.XMLSyntaxError as exc:
            raise PeerUnavailable(
                f"{where} answered XML that is not a SOAP envelope",
                message_vi=f"{where}: trả lời XML không phải SOAP envelope",
                details=details,
            ) from exc
        except (zeep.exceptions.Error, etree.LxmlError, ValueError) as exc:
            raise PeerError(
                f"{where} answered outside the contract: {type(exc).__name__}: {exc}",
                message_vi=f"{where}: trả lời không đúng hợp đồng WSDL",
                code="soap.reply",
                details=details,
            ) from exc
        log.debug("soap %s → %s ok", operation, self.name)
        return result

    # --- the seven operations ------------------------------------------------------------------

    def send_document(
        self,
        data: bytes,
        *,
        sender_code: str,
        receiver_codes: Sequence[str],
        message_type: str = MessageKind.EDOC.value,
    ) -> str:
        """``SendDocument``: push a package; returns the service's document id."""
        doc_id = self._call(
            "SendDocument",
            senderCode=sender_code,
            receiverCodes={"string": list(receiver_codes)},
            messageType=message_type,
            payload=data,
        )
        if not isinstance(doc_id, str) or not doc_id:
            raise PeerError("SendDocument: reply without a document id", code="soap.reply")
        log.info(
            "soap SendDocument → %s: id %s, %d bytes, sha256 %s",
            self.name,
            doc_id,
            len(data),
            hashlib.sha256(data).hexdigest(),
        )
        return doc_id

    def pending_documents(self, message_type: str, max_count: int) -> list[RemoteItem]:
        """``GetPendingDocumentIds``: what waits for the caller's organizations, oldest first."""
        result = self._call("GetPendingDocumentIds", messageType=message_type, maxCount=max_count)
        entries = _entries(result, "PendingDocument")
        return [
            RemoteItem(
                remote_id=_text(e, "documentId", "GetPendingDocumentIds"),
                kind=_kind(e.messageType),
                from_code=e.senderCode or None,
                listed_at=self._utc(e.receivedAt) if e.receivedAt is not None else None,
            )
            for e in entries
        ]

    def get_document(self, doc_id: str) -> bytes:
        """``GetDocument``: the package bytes exactly as the service holds them."""
        result = self._call("GetDocument", documentId=doc_id)
        payload = getattr(result, "payload", None)
        if not isinstance(payload, bytes) or not payload:
            raise PeerError(f"GetDocument {doc_id}: reply without a payload", code="soap.reply")
        if result.documentId != doc_id:
            raise PeerError(
                f"GetDocument {doc_id}: reply is for {result.documentId!r}", code="soap.reply"
            )
        log.info(
            "soap GetDocument ← %s: id %s, %d bytes, sha256 %s",
            self.name,
            doc_id,
            len(payload),
            hashlib.sha256(payload).hexdigest(),
        )
        return payload

    def confirm_received(self, doc_id: str, *, accepted: bool, reason: str | None = None) -> None:
        """``ConfirmReceived``: taken, or refused with ``reason``; the service stops listing it."""
        ok = self._call("ConfirmReceived", documentId=doc_id, accepted=accepted, reason=reason)
        if ok is not True:
            raise PeerError(
                f"ConfirmReceived {doc_id}: the service answered {ok!r}",
                message_vi=f"ConfirmReceived {doc_id}: máy chủ trả lời {ok!r}",
                code="soap.reply",
            )
        log.info(
            "soap ConfirmReceived → %s: id %s %s",
            self.name,
            doc_id,
            "accepted" if accepted else "refused",
        )

    def update_traces(self, doc_id: str, entries: Sequence[TraceEntry]) -> None:
        """``UpdateTraces``: report what became of a package the service delivered here."""
        traces = {
            "TraceEntry": [
                {
                    "organizationCode": e.organization_code,
                    "statusCode": e.status_code,
                    "statusTime": e.status_time,
                    "description": e.description,
                }
                for e in entries
            ]
        }
        ok = self._call("UpdateTraces", documentId=doc_id, traces=traces)
        if ok is not True:
            raise PeerError(f"UpdateTraces {doc_id}: answered {ok!r}", code="soap.reply")

    def get_traces(self, doc_id: str) -> list[TraceEntry]:
        """``GetTraces``: every trace entry of a package this hub sent, in the service's order."""
        result = self._call("GetTraces", documentId=doc_id)
        return [
            TraceEntry(
                organization_code=_text(e, "organizationCode", "GetTraces"),
                status_code=_text(e, "statusCode", "GetTraces"),
                status_time=self._utc(_time(e, "statusTime", "GetTraces")),
                description=e.description,
            )
            for e in _entries(result, "TraceEntry")
        ]

    def get_organizations(self) -> list[AgencyRow]:
        """``GetOrganizations``: the service's whole organization list."""
        result = self._call("GetOrganizations")
        return [
            AgencyRow(
                code=_text(o, "code", "GetOrganizations"),
                name=_text(o, "name", "GetOrganizations"),
                parent_code=o.parentCode or None,
                level=o.level,
                email=o.email or None,
                source=f"peer:{self.name}",
            )
            for o in _entries(result, "Organization")
        ]

    def _utc(self, moment: dt.datetime) -> dt.datetime:
        """``moment`` in UTC; without an offset it is read in the peer's zone."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self._zone)
        return moment.astimezone(dt.UTC)

    # --- hub.ports ------------------------------------------------------------------------------

    def send(
        self, data: bytes, *, from_code: str, to_codes: Sequence[str], kind: MessageKind
    ) -> str:
        """:class:`hub.ports.PeerLink`."""
        return self.send_document(
            data, sender_code=from_code, receiver_codes=to_codes, message_type=kind.value
        )

    def pending(self, kind: MessageKind, *, limit: int = 100) -> Sequence[RemoteItem]:
        """:class:`hub.ports.PeerInbox`."""
        return self.pending_documents(kind.value, limit)

    def fetch(self, item: RemoteItem) -> bytes:
        """:class:`hub.ports.PeerInbox`."""
        return self.get_document(item.remote_id)

    def acknowledge(self, item: RemoteItem, *, accepted: bool, reason: str | None = None) -> None:
        """:class:`hub.ports.PeerInbox`."""
        self.confirm_received(item.remote_id, accepted=accepted, reason=reason)

    def delivery_states(self, remote_id: str) -> Sequence[RemoteDeliveryState]:
        """:class:`hub.ports.PeerTracker`: the latest entry per receiver (a later entry wins a
        tie in time), its status word mapped; an unknown word is a ``soap.status`` error."""
        latest: dict[str, TraceEntry] = {}
        for entry in self.get_traces(remote_id):
            seen = latest.get(entry.organization_code)
            if seen is None or entry.status_time >= seen.status_time:
                latest[entry.organization_code] = entry
        return [
            RemoteDeliveryState(
                remote_id=remote_id,
                recipient_code=code,
                status=_status(entry.status_code, remote_id).value,
                description=entry.description,
                at=entry.status_time,
            )
            for code, entry in latest.items()
        ]

    def agencies(self) -> Sequence[AgencyRow]:
        """:class:`hub.ports.PeerDirectory`."""
        return self.get_organizations()

    def register(self, agency: AgencyRow) -> None:
        """:class:`hub.ports.PeerDirectory`: the service has no such operation."""
        raise _unsupported(self.name, "register", agency.code)

    def delete(self, code: str) -> None:
        """:class:`hub.ports.PeerDirectory`: the service has no such operation."""
        raise _unsupported(self.name, "delete", code)


def build(settings: PeerSettings) -> Peer:
    """The :class:`hub.ports.Peer` of a ``kind: soap`` peer (inbox only when ``poll``)."""
    options = dict(settings.options)
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise SettingsError(
            f"peer {settings.name}: unknown soap option(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(OPTIONS))})"
        )
    client = SoapHubClient(
        settings.endpoint,
        name=settings.name,
        username=settings.system_id,
        secret=settings.secret.reveal() if settings.secret is not None else None,
        auth=options.get("auth", "digest"),
        timeout_s=_seconds(options, "timeout_s", DEFAULT_TIMEOUT_S, settings.name),
        connect_timeout_s=_seconds(
            options, "connect_timeout_s", DEFAULT_CONNECT_TIMEOUT_S, settings.name
        ),
        zone=options.get("zone", DEFAULT_ZONE),
        wsdl=Path(options["wsdl"]) if "wsdl" in options else None,
        binding=options.get("binding"),
    )
    return Peer(
        name=settings.name,
        kind="soap",
        link=client,
        inbox=client if settings.poll else None,
        tracker=client,
        directory=client,
        close=client.close,
    )


# --- helpers ------------------------------------------------------------------------------------


def _binding(client: Any, wanted: str | None, name: str) -> str:
    bindings = [str(b) for b in client.wsdl.bindings]
    if wanted is not None:
        if wanted not in bindings:
            raise SettingsError(f"peer {name}: binding {wanted} not in the WSDL ({bindings})")
        return wanted
    if len(bindings) != 1:
        raise SettingsError(f"peer {name}: the WSDL has {len(bindings)} bindings; set binding")
    return bindings[0]


def _seconds(options: Mapping[str, str], key: str, default: float, name: str) -> float:
    raw = options.get(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise SettingsError(f"peer {name}: {key} must be a positive number, got {raw!r}")
    return value


def _entries(result: Any, member: str) -> list[Any]:
    """The members of an ``ArrayOfX`` result (zeep unwraps the one-member wrapper, or not)."""
    if result is None:
        return []
    if isinstance(result, list):
        return result
    items = getattr(result, member, None)
    return list(items) if items else []


def _text(entry: Any, field: str, operation: str) -> str:
    value = getattr(entry, field, None)
    if not isinstance(value, str) or not value:
        raise PeerError(f"{operation}: an entry without {field}", code="soap.reply")
    return value


def _fault_class(code: Any) -> str:
    """``Client`` / ``Server`` (…) of a fault code such as ``soap11env:Server.Database``."""
    local = str(code or "").rpartition(":")[2]
    return local.split(".")[0]


def _time(entry: Any, field: str, operation: str) -> dt.datetime:
    # zeep logs a value it cannot convert and hands ``None`` on: a required time must be there
    value = getattr(entry, field, None)
    if not isinstance(value, dt.datetime):
        raise PeerError(f"{operation}: an entry without a valid {field}", code="soap.reply")
    return value


def _kind(word: Any) -> MessageKind:
    try:
        return MessageKind(str(word).strip().lower())
    except ValueError:
        raise PeerError(f"unknown messageType {word!r}", code="soap.reply") from None


def _status(word: str, remote_id: str) -> TransportStatus:
    status = STATUS_WORDS.get(word.strip().lower())
    if status is None:
        raise PeerError(
            f"GetTraces {remote_id}: unknown status word {word!r}",
            message_vi=f"GetTraces {remote_id}: trạng thái không rõ {word!r}",
            code="soap.status",
            document_id=remote_id,
        )
    return status


def _unsupported(name: str, action: str, code: str) -> PeerError:
    return PeerError(
        f"peer {name}: the eDoc SOAP service has no operation to {action} agency {code}",
        message_vi=(
            f"hub {name}: dịch vụ eDoc SOAP không có thao tác "
            f"{'đăng ký' if action == 'register' else 'xóa'} đơn vị {code}"
        ),
        code="soap.unsupported",
        details={"peer": name, "agency": code},
    )
