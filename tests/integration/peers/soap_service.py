"""A legacy provincial eDoc SOAP hub for tests: spyne serving the seven operations on loopback.

Theory of operation. :func:`build_application` declares the service with spyne (SOAP 1.1,
document/literal wrapped, requests validated by lxml against the schema spyne generates), so the
contract the hub's zeep client meets is a real SOAP stack's, not a hand-written imitation; a test
compares spyne's WSDL with the shipped ``schemas/soap/edoc-hub.wsdl``. Behind it sits
:class:`EdocStore`, an in-memory document store: accounts (WS-Security UsernameToken, text or
digest, checked on every call), the organizations each account hosts, documents with their
receivers, confirmations and trace entries.

:class:`SoapHubServer` runs the WSGI application on 127.0.0.1 (ephemeral port) in a daemon
thread. Its knobs stage the failures a real peer shows: ``delay_s`` (a slow answer), ``canned``
(an HTML page, 200 or 5xx, from a proxy in front of the service; a hostile reply); ``bodies``
keeps what crossed the wire.

Reusable: a whole hub can point a ``kind: soap`` peer at :attr:`SoapHubServer.endpoint`, in
the same process or, through :func:`main`, from another one.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import io
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from lxml import etree
from spyne import (
    Application,
    Array,
    Boolean,
    ByteArray,
    ComplexModel,
    DateTime,
    Integer32,
    ServiceBase,
    Unicode,
    rpc,
)
from spyne.model.fault import Fault
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

TNS = "urn:lienthong:edoc-hub"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST_TYPE = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordDigest"
)

# ------------------------------------------------------------------------------------ store


@dataclass
class Account:
    """One system allowed to call the service, and the organizations it hosts."""

    secret: str
    codes: frozenset[str]


@dataclass
class StoredDocument:
    """A package as the service holds it."""

    id: str
    sender: str
    receivers: tuple[str, ...]
    message_type: str
    payload: bytes
    received_at: dt.datetime
    confirmed_by: set[str] = field(default_factory=set)  # receiver codes that confirmed


@dataclass
class Trace:
    """One trace entry: what became of a document for one receiver."""

    organization: str
    status: str
    at: dt.datetime
    description: str | None = None


class EdocStore:
    """The in-memory state of the test service (thread-safe: the server is threaded)."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.organizations: list[dict[str, Any]] = []
        self.documents: dict[str, StoredDocument] = {}
        self.traces: dict[str, list[Trace]] = {}
        self.calls: list[tuple[str, str]] = []  # (operation, username), for assertions
        self.broken = False  # every call fails inside the service (spyne: a Server fault)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add_account(self, username: str, secret: str, codes: Iterable[str]) -> None:
        self.accounts[username] = Account(secret, frozenset(codes))

    def add_organization(
        self,
        code: str,
        name: str,
        *,
        parent: str | None = None,
        level: int | None = None,
        email: str | None = None,
    ) -> None:
        self.organizations.append(
            {"code": code, "name": name, "parentCode": parent, "level": level, "email": email}
        )

    def put(self, sender: str, receivers: Iterable[str], message_type: str, payload: bytes) -> str:
        with self._lock:
            doc_id = f"EDOC-{next(self._ids):06d}"
            now = dt.datetime.now(dt.UTC)
            doc = StoredDocument(doc_id, sender, tuple(receivers), message_type, payload, now)
            self.documents[doc_id] = doc
            self.traces[doc_id] = [Trace(code, "sent", now) for code in doc.receivers]
            return doc_id

    def pending(self, username: str, message_type: str, limit: int) -> list[StoredDocument]:
        codes = self.accounts[username].codes
        with self._lock:
            waiting = [
                d
                for d in self.documents.values()
                if d.message_type == message_type
                and any(r in codes and r not in d.confirmed_by for r in d.receivers)
            ]
        return sorted(waiting, key=lambda d: (d.received_at, d.id))[:limit]

    def readable(self, username: str, doc_id: str) -> StoredDocument:
        """The document, if ``username`` sent it or hosts one of its receivers."""
        doc = self.documents.get(doc_id)
        codes = self.accounts[username].codes
        if doc is None or not (doc.sender in codes or codes.intersection(doc.receivers)):
            raise Fault("Client.NotFound", f"document {doc_id} not found")
        return doc

    def confirm(self, username: str, doc_id: str, accepted: bool, reason: str | None) -> None:
        doc = self.readable(username, doc_id)
        mine = [r for r in doc.receivers if r in self.accounts[username].codes]
        if not mine:
            raise Fault("Client.NotReceiver", f"document {doc_id} is not addressed to you")
        now = dt.datetime.now(dt.UTC)
        with self._lock:
            for code in mine:
                doc.confirmed_by.add(code)
                status = "received" if accepted else "refused"
                self.traces[doc_id].append(Trace(code, status, now, reason))


# ---------------------------------------------------------------------------------- contract


def _required(model: Any) -> Any:
    """``model`` as a required, non-nillable element (``minOccurs="1"``)."""
    return model.customize(min_occurs=1, nillable=False)


class PendingDocument(ComplexModel):
    __namespace__ = TNS
    _type_info = [  # noqa: RUF012 - spyne reads the field order from this list
        ("documentId", _required(Unicode)),
        ("senderCode", Unicode),
        ("messageType", _required(Unicode)),
        ("receivedAt", DateTime),
    ]


class DocumentContent(ComplexModel):
    __namespace__ = TNS
    _type_info = [  # noqa: RUF012
        ("documentId", _required(Unicode)),
        ("senderCode", Unicode),
        ("messageType", _required(Unicode)),
        ("payload", _required(ByteArray)),
    ]


class TraceEntry(ComplexModel):
    __namespace__ = TNS
    _type_info = [  # noqa: RUF012
        ("organizationCode", _required(Unicode)),
        ("statusCode", _required(Unicode)),
        ("statusTime", _required(DateTime)),
        ("description", Unicode),
    ]


class Organization(ComplexModel):
    __namespace__ = TNS
    _type_info = [  # noqa: RUF012
        ("code", _required(Unicode)),
        ("name", _required(Unicode)),
        ("parentCode", Unicode),
        ("level", Integer32),
        ("email", Unicode),
    ]


class EdocFault(Fault):
    __namespace__ = TNS


ArrayOfString = Array(Unicode, type_name="ArrayOfString")
ArrayOfPendingDocument = Array(PendingDocument, type_name="ArrayOfPendingDocument")
ArrayOfTraceEntry = Array(TraceEntry, type_name="ArrayOfTraceEntry")
ArrayOfOrganization = Array(Organization, type_name="ArrayOfOrganization")


def _store(ctx: Any) -> EdocStore:
    store: EdocStore = ctx.app.store
    return store


class EdocHubService(ServiceBase):
    """The seven operations of the legacy eDoc hub (names and shapes per edoc-hub.wsdl)."""

    @rpc(
        _required(Unicode),
        ArrayOfString,
        _required(Unicode),
        _required(ByteArray),
        _returns=Unicode,
        _throws=EdocFault,
    )
    def SendDocument(
        ctx: Any, senderCode: str, receiverCodes: list[str], messageType: str, payload: Any
    ) -> str:
        store = _store(ctx)
        if senderCode not in store.accounts[ctx.udc].codes:
            raise Fault("Client.NotSender", f"{senderCode} is not an organization of yours")
        if not receiverCodes:
            raise Fault("Client.NoReceiver", "no receiver")
        known = {o["code"] for o in store.organizations}
        unknown = [c for c in receiverCodes if c not in known]
        if unknown:
            raise Fault("Client.UnknownReceiver", f"unknown receiver {', '.join(unknown)}")
        return store.put(senderCode, receiverCodes, messageType, b"".join(payload))

    @rpc(
        _required(Unicode), _required(Integer32), _returns=ArrayOfPendingDocument, _throws=EdocFault
    )
    def GetPendingDocumentIds(ctx: Any, messageType: str, maxCount: int) -> list[PendingDocument]:
        docs = _store(ctx).pending(ctx.udc, messageType, maxCount)
        return [
            PendingDocument(
                documentId=d.id,
                senderCode=d.sender,
                messageType=d.message_type,
                receivedAt=d.received_at,
            )
            for d in docs
        ]

    @rpc(_required(Unicode), _returns=DocumentContent, _throws=EdocFault)
    def GetDocument(ctx: Any, documentId: str) -> DocumentContent:
        doc = _store(ctx).readable(ctx.udc, documentId)
        return DocumentContent(
            documentId=doc.id,
            senderCode=doc.sender,
            messageType=doc.message_type,
            payload=[doc.payload],
        )

    @rpc(_required(Unicode), _required(Boolean), Unicode, _returns=Boolean, _throws=EdocFault)
    def ConfirmReceived(ctx: Any, documentId: str, accepted: bool, reason: str | None) -> bool:
        _store(ctx).confirm(ctx.udc, documentId, accepted, reason)
        return True

    @rpc(_required(Unicode), ArrayOfTraceEntry, _returns=Boolean, _throws=EdocFault)
    def UpdateTraces(ctx: Any, documentId: str, traces: list[TraceEntry] | None) -> bool:
        store = _store(ctx)
        store.readable(ctx.udc, documentId)
        codes = store.accounts[ctx.udc].codes
        for t in traces or []:
            if t.organizationCode not in codes:
                raise Fault("Client.NotReceiver", f"{t.organizationCode} is not yours")
            store.traces[documentId].append(
                Trace(t.organizationCode, t.statusCode, t.statusTime, t.description)
            )
        return True

    @rpc(_required(Unicode), _returns=ArrayOfTraceEntry, _throws=EdocFault)
    def GetTraces(ctx: Any, documentId: str) -> list[TraceEntry]:
        store = _store(ctx)
        store.readable(ctx.udc, documentId)
        return [
            TraceEntry(
                organizationCode=t.organization,
                statusCode=t.status,
                statusTime=t.at,
                description=t.description,
            )
            for t in store.traces[documentId]
        ]

    @rpc(_returns=ArrayOfOrganization, _throws=EdocFault)
    def GetOrganizations(ctx: Any) -> list[Organization]:
        return [Organization(**o) for o in _store(ctx).organizations]


# ------------------------------------------------------------------------------ WS-Security


def _authenticate(ctx: Any) -> None:
    """``method_call`` listener: the UsernameToken must name an account and prove its secret."""
    store = _store(ctx)
    if store.broken:
        raise RuntimeError("the service's database is down")
    token = None
    for header in ctx.in_header_doc or ():
        token = (
            header.find(f"{{{WSSE}}}UsernameToken") if header.tag == f"{{{WSSE}}}Security" else None
        )
        if token is not None:
            break
    if token is None:
        raise Fault("Client.Authentication", "WS-Security UsernameToken required")
    username = token.findtext(f"{{{WSSE}}}Username") or ""
    password = token.find(f"{{{WSSE}}}Password")
    account = store.accounts.get(username)
    if account is None or password is None or not _proves(token, password, account.secret):
        raise Fault("Client.Authentication", "authentication failed")
    ctx.udc = username
    store.calls.append((ctx.method_request_string.split("}")[-1], username))


def _proves(token: etree._Element, password: etree._Element, secret: str) -> bool:
    given = (password.text or "").strip()
    if password.get("Type") != DIGEST_TYPE:
        return hmac.compare_digest(given.encode(), secret.encode())
    nonce = base64.b64decode(token.findtext(f"{{{WSSE}}}Nonce") or "")
    created = (token.findtext(f"{{{WSU}}}Created") or "").encode()
    # WSS UsernameToken Profile 1.1 §3.1: Base64(SHA-1(nonce + created + password))
    expected = base64.b64encode(hashlib.sha1(nonce + created + secret.encode()).digest())
    return hmac.compare_digest(given.encode(), expected)


def build_application(store: EdocStore) -> Application:
    """The spyne application of the service over ``store`` (lxml-validated SOAP 1.1)."""
    app = Application(
        [EdocHubService],
        tns=TNS,
        name="EdocHub",
        in_protocol=Soap11(validator="lxml"),
        out_protocol=Soap11(),
    )
    app.store = store
    app.event_manager.add_listener("method_call", _authenticate)
    return app


# ----------------------------------------------------------------------------------- server


class _ThreadingWsgiServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


class SoapHubServer:
    """The service on 127.0.0.1 (ephemeral port) until :meth:`stop`, with failure knobs."""

    def __init__(self, store: EdocStore | None = None, *, port: int = 0) -> None:
        self.store = store if store is not None else EdocStore()
        self.delay_s = 0.0
        #: (HTTP status, Content-Type, body) answered to every POST instead of the service's
        #: answer: an HTML page from a proxy, a hostile reply.
        self.canned: tuple[int, str, bytes] | None = None
        #: while ``record``: the body of every POST, in order (what crossed the wire)
        self.record = False
        self.bodies: list[bytes] = []
        self._wsgi = WsgiApplication(build_application(self.store))
        self._httpd = make_server(
            "127.0.0.1", port, self._app, _ThreadingWsgiServer, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/edoc-hub"

    @property
    def wsdl_url(self) -> str:
        return f"{self.endpoint}?wsdl"

    def _app(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterator[bytes] | Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            if self.record:
                self.bodies.append(body)
            environ["wsgi.input"] = io.BytesIO(body)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.canned is not None and environ["REQUEST_METHOD"] == "POST":
            status, ctype, page = self.canned
            start_response(f"{status} {HTTPStatus(status).phrase}", [("Content-Type", ctype)])
            return [page]
        # spyne serves its WSDL at ?wsdl and SOAP on POST, whatever the path
        result: Iterable[bytes] = self._wsgi(environ, start_response)
        return result

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def main(argv: list[str] | None = None) -> None:
    """Serve the service in a process of its own (a whole hub's tests point a peer at it).

    ``python tests/integration/peers/soap_service.py --account SYSTEM:SECRET:CODE[,CODE…]
    --organization CODE=NAME … [--port N]``: prints the endpoint, serves until stdin closes.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="the legacy eDoc SOAP hub, for tests")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--account", action="append", default=[], help="SYSTEM:SECRET:CODE,…")
    parser.add_argument("--organization", action="append", default=[], help="CODE=NAME")
    args = parser.parse_args(argv)
    server = SoapHubServer(port=args.port)
    for account in args.account:
        system, secret, codes = account.split(":", 2)
        server.store.add_account(system, secret, codes.split(","))
    for organization in args.organization:
        code, _, name = organization.partition("=")
        server.store.add_organization(code, name or code)
    print(server.endpoint, flush=True)
    try:
        sys.stdin.read()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
