"""LGSP gateways (peer kind ``lgsp``): a province's integration platform, over REST + OAuth2.

Theory of operation. Many provinces put an LGSP (local government service platform, usually WSO2
API Manager) in front of the national axis; agencies and hubs reach documents through its REST
API with a bearer token from the gateway's OAuth2 token endpoint (client credentials:
:mod:`adapters.peers.oauth2`). One :class:`LgspClient` per configured peer plays all four peer
ports: :class:`hub.ports.PeerLink` (``POST /vanbans``), :class:`hub.ports.PeerInbox`
(``GET /vanbans``, ``GET /vanbans/{docId}``, ``PUT /vanbans/{docId}``),
:class:`hub.ports.PeerTracker` (``GET /vanbans/{docId}/trangthais``) and
:class:`hub.ports.PeerDirectory` (``/donvilienthongs``). Every call carries the cached token; a
401 makes the client drop that token, fetch a new one and repeat the call once — a second 401
on a fresh token is the gateway refusing this client (:class:`hub.errors.PeerAuthRefused`), not
something a loop would mend.

The wire shapes and field names this module assumes are documented in
:mod:`adapters.peers.lgsp_wire` (a reading, tolerant of Vietnamese and English names).

Per-recipient tracking is optional at the gateway side: ``options.tracking = "false"`` leaves
the peer without a tracker. Recipient states are mapped to the VXP transport words
(:class:`hub.services.contracts.TransportStatus`): ``done``/``success``/``thanhcong`` → done,
``fail``/``error``/``loi``/``tuchoi`` → fail, anything else (pending, a business status code)
→ processing with the gateway's word kept in ``description``.

Errors are translated here, once: transport failures, timeouts, 5xx, 408/429 and answers that
are not JSON (an HTML error page of a proxy, garbage) → :class:`hub.errors.PeerUnavailable`;
other 4xx → :class:`hub.errors.PeerError` (code ``lgsp.refused``) with the gateway's own message;
a 2xx JSON answer lacking what the reading needs → :class:`hub.errors.PeerError` (``lgsp.reply``).
The client secret and tokens are never logged nor shown in ``repr``; logs carry the peer, the
method, the path (document ids) and digests, never package bodies.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Self
from urllib.parse import quote, urlsplit

import httpx

from adapters.peers import lgsp_wire as wire
from adapters.peers.oauth2 import ClientCredentials
from hub.edxml.model import MessageKind
from hub.errors import PeerAuthRefused, PeerError, PeerUnavailable
from hub.ports import AgencyRow, Peer, RemoteDeliveryState, RemoteItem
from hub.services.contracts import TransportStatus
from hub.settings import PeerSettings, SettingsError

log = logging.getLogger(__name__)

#: A stuck gateway must not hang a worker.
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
#: The ``options`` this kind reads; any other key is a configuration error.
OPTIONS = frozenset({"token_url", "scope", "naming", "tracking", "timeout_s"})


class LgspClient:
    """One LGSP gateway for one client id; every peer port at once; thread-safe.

    ``endpoint`` is the API's base URL (``/vanbans`` is appended); ``token_url`` defaults to
    ``/token`` at the endpoint's origin (WSO2's gateway token path). ``http`` lets a test supply
    the ``httpx.Client`` (then not closed here).
    """

    def __init__(
        self,
        name: str,
        endpoint: str,
        client_id: str,
        secret: str,
        *,
        token_url: str | None = None,
        scope: str | None = None,
        naming: str = "vi",
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        http: httpx.Client | None = None,
    ) -> None:
        if naming not in wire.NAMINGS:
            raise SettingsError(f"peers.{name}.options.naming: {naming!r} is not 'vi' or 'en'")
        self.name = name
        self.endpoint = endpoint.rstrip("/")
        self.client_id = client_id
        self._names = wire.NAMINGS[naming]
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=timeout)
        self.tokens = ClientCredentials(
            token_url or default_token_url(self.endpoint),
            client_id,
            secret,
            http=self._http,
            scope=scope,
            peer=name,
        )

    def __repr__(self) -> str:  # neither the secret nor a token
        return (
            f"LgspClient(name={self.name!r}, endpoint={self.endpoint!r}, "
            f"client_id={self.client_id!r})"
        )

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- PeerLink -----------------------------------------------------------------------------

    def send(
        self, data: bytes, *, from_code: str, to_codes: Sequence[str], kind: MessageKind
    ) -> str:
        """``POST /vanbans``: push ``data``; returns the gateway's ``docId``."""
        n = self._names
        body = {
            n["from"]: from_code,
            n["to"]: list(to_codes),
            n["type"]: str(kind),
            n["data"]: base64.b64encode(data).decode("ascii"),
        }
        answer = wire.as_object(self._call("POST", "/vanbans", body=body))
        doc_id = wire.text(answer, "id")
        if doc_id is None:
            raise wire.reply_error(self.name, "POST /vanbans: answer without docId")
        log.info(
            "lgsp %s: sent %s (%d bytes, sha256 %s) as %s",
            self.name,
            kind,
            len(data),
            hashlib.sha256(data).hexdigest(),
            doc_id,
        )
        return doc_id

    # --- PeerInbox ----------------------------------------------------------------------------

    def pending(self, kind: MessageKind, *, limit: int = 100) -> Sequence[RemoteItem]:
        """``GET /vanbans``: the items waiting for this client, oldest first, at most ``limit``.

        Items the gateway labels with another kind are left out (a gateway may ignore the
        filter); an item without a label is taken to be of the kind asked for.
        """
        answer = self._call("GET", "/vanbans", params={self._names["type"]: str(kind)})
        items: list[RemoteItem] = []
        for entry in wire.as_list(answer, self.name, "GET /vanbans"):
            remote_id = wire.text(entry, "id")
            if remote_id is None:
                raise wire.reply_error(self.name, "GET /vanbans: an item without docId")
            label = wire.text(entry, "type")
            if label is not None and label.lower() != str(kind):
                continue
            items.append(RemoteItem(remote_id, kind, wire.text(entry, "from"), wire.when(entry)))
        if all(item.listed_at is not None for item in items):
            items.sort(key=lambda item: item.listed_at or dt.datetime.min.replace(tzinfo=dt.UTC))
        return items[:limit]

    def fetch(self, item: RemoteItem) -> bytes:
        """``GET /vanbans/{docId}``: the package bytes (base64 ``data``, line breaks tolerated)."""
        answer = wire.as_object(self._call("GET", f"/vanbans/{_seg(item.remote_id)}"))
        text = wire.text(answer, "data")
        if text is None:
            raise wire.reply_error(self.name, f"GET /vanbans/{item.remote_id}: answer without data")
        try:
            data = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise wire.reply_error(
                self.name, f"GET /vanbans/{item.remote_id}: data is not base64"
            ) from None
        log.info(
            "lgsp %s: fetched %s (%d bytes, sha256 %s)",
            self.name,
            item.remote_id,
            len(data),
            hashlib.sha256(data).hexdigest(),
        )
        return data

    def acknowledge(self, item: RemoteItem, *, accepted: bool, reason: str | None = None) -> None:
        """``PUT /vanbans/{docId}`` with ``done``, or ``fail`` and the reason."""
        status = TransportStatus.DONE if accepted else TransportStatus.FAIL
        self.update_status(item.remote_id, str(status), reason)

    def update_status(self, remote_id: str, status: str, reason: str | None = None) -> None:
        """``PUT /vanbans/{docId}``: any status word the gateway knows (``done``, ``fail``, or
        a business status), with an optional reason."""
        n = self._names
        body: dict[str, Any] = {n["status"]: status}
        if reason:
            body[n["reason"]] = reason
        self._call("PUT", f"/vanbans/{_seg(remote_id)}", body=body)

    # --- PeerTracker --------------------------------------------------------------------------

    def delivery_states(self, remote_id: str) -> Sequence[RemoteDeliveryState]:
        """``GET /vanbans/{docId}/trangthais``: one state per recipient of a pushed package."""
        path = f"/vanbans/{_seg(remote_id)}/trangthais"
        states = []
        for entry in wire.as_list(self._call("GET", path), self.name, f"GET {path}"):
            code = wire.text(entry, "code")
            word = wire.text(entry, "status")
            if code is None or word is None:
                raise wire.reply_error(self.name, f"GET {path}: an entry without code or status")
            status, description = wire.transport_status(word, wire.text(entry, "description"))
            states.append(
                RemoteDeliveryState(remote_id, code, str(status), description, wire.when(entry))
            )
        return states

    # --- PeerDirectory ------------------------------------------------------------------------

    def agencies(self) -> Sequence[AgencyRow]:
        """``GET /donvilienthongs``: the gateway's agency list (``source`` = ``peer:<name>``)."""
        rows = []
        for entry in wire.as_list(self._call("GET", "/donvilienthongs"), self.name, "agency list"):
            code = wire.text(entry, "code")
            if code is None:
                raise wire.reply_error(self.name, "GET /donvilienthongs: an agency without a code")
            level = wire.text(entry, "level")
            rows.append(
                AgencyRow(
                    code=code,
                    name=wire.text(entry, "name") or code,
                    parent_code=wire.text(entry, "parent"),
                    level=int(level) if level is not None and level.isdigit() else None,
                    email=wire.text(entry, "email"),
                    source=f"peer:{self.name}",
                    deleted=wire.inactive(entry),
                )
            )
        return rows

    def register(self, agency: AgencyRow) -> None:
        """``POST /donvilienthongs``; an agency the gateway already has is updated instead."""
        body = self._agency_body(agency)
        try:
            self._call("POST", "/donvilienthongs", body=body)
        except PeerError as exc:
            if exc.details.get("http_status") != 409:
                raise
            self._call("PUT", f"/donvilienthongs/{_seg(agency.code)}", body=body)

    def delete(self, code: str) -> None:
        """``PUT /donvilienthongs/{code}`` inactive; an agency the gateway lacks is done."""
        body = {self._names["code"]: code, self._names["active"]: False}
        try:
            self._call("PUT", f"/donvilienthongs/{_seg(code)}", body=body)
        except PeerError as exc:
            if exc.details.get("http_status") != 404:
                raise

    def _agency_body(self, agency: AgencyRow) -> dict[str, Any]:
        n = self._names
        body: dict[str, Any] = {
            n["code"]: agency.code,
            n["name"]: agency.name,
            n["active"]: not agency.deleted,
        }
        for key, value in (
            ("parent", agency.parent_code),
            ("email", agency.email),
            ("level", agency.level),
        ):
            if value is not None:
                body[n[key]] = value
        return body

    # --- transport ----------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """One API call with the bearer token (one refresh on a 401); the JSON answer, ``None``
        for an empty one. Errors as the module docstring says."""
        url = self.endpoint + path
        for attempt in (1, 2):
            token = self.tokens.token()
            response = self._send(method, url, path, token, params, body)
            log.info("lgsp %s: %s %s → %s", self.name, method, path, response.status_code)
            if response.status_code != 401:
                break
            self.tokens.invalidate(token)
            if attempt == 2:
                raise PeerAuthRefused(
                    f"{self.name}: {method} {path} refused a fresh token (HTTP 401)"
                    + _said(response),
                    message_vi=f"{self.name}: cổng LGSP từ chối token mới cấp (HTTP 401)"
                    + _said(response),
                    details={"http_status": 401},
                )
        status = response.status_code
        if status >= 500 or status in (408, 429):
            raise PeerUnavailable(
                f"{self.name}: {method} {path} answered HTTP {status}" + _said(response),
                message_vi=f"{self.name}: cổng LGSP lỗi (HTTP {status})" + _said(response),
                details={"http_status": status},
            )
        if status >= 400:
            raise PeerError(
                f"{self.name}: {method} {path} refused (HTTP {status})" + _said(response),
                message_vi=f"{self.name}: cổng LGSP từ chối (HTTP {status})" + _said(response),
                code="lgsp.refused",
                details={"http_status": status},
            )
        if not response.content.strip():
            return None
        try:
            return json.loads(response.content)
        except (UnicodeDecodeError, ValueError):
            # An HTML page or garbage with a 2xx: a proxy or a broken gateway, not an answer.
            raise PeerUnavailable(
                f"{self.name}: {method} {path} answered HTTP {status} with something not JSON "
                f"({response.headers.get('content-type', 'no content type')})",
                message_vi=f"{self.name}: cổng LGSP trả lời không phải JSON (HTTP {status})",
                details={"http_status": status},
            ) from None

    def _send(
        self,
        method: str,
        url: str,
        path: str,
        token: str,
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            return self._http.request(method, url, params=params, json=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise PeerUnavailable(
                f"{self.name}: {method} {path} timed out",
                message_vi=f"{self.name}: cổng LGSP không trả lời kịp",
            ) from exc
        except httpx.HTTPError as exc:
            raise PeerUnavailable(
                f"{self.name}: {method} {path} unreachable: {type(exc).__name__}",
                message_vi=f"{self.name}: không kết nối được cổng LGSP",
            ) from exc


def default_token_url(endpoint: str) -> str:
    """``/token`` at the origin of ``endpoint`` (where WSO2's gateway serves its token path)."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}/token"


def build(settings: PeerSettings) -> Peer:
    """The :class:`hub.ports.Peer` of an ``lgsp`` peer: ``system_id`` is the OAuth2 client id,
    ``secret`` the client secret; ``options`` as :data:`OPTIONS` lists. Fails fast on a
    missing credential or an unknown option."""
    where = f"peers.{settings.name}"
    unknown = sorted(set(settings.options) - OPTIONS)
    if unknown:
        raise SettingsError(f"{where}.options: unknown {', '.join(unknown)} for kind lgsp")
    if not settings.system_id or settings.secret is None:
        raise SettingsError(f"{where}: kind lgsp needs system_id (client id) and secret")
    options = settings.options
    tracking = options.get("tracking", "true").lower()
    if tracking not in ("true", "false"):
        raise SettingsError(f"{where}.options.tracking: {tracking!r} is not true or false")
    timeout = DEFAULT_TIMEOUT
    if "timeout_s" in options:
        try:
            timeout = httpx.Timeout(float(options["timeout_s"]), connect=10.0)
        except ValueError:
            raise SettingsError(f"{where}.options.timeout_s: not a number") from None
    client = LgspClient(
        settings.name,
        settings.endpoint,
        settings.system_id,
        settings.secret.reveal(),
        token_url=options.get("token_url"),
        scope=options.get("scope"),
        naming=options.get("naming", "vi"),
        timeout=timeout,
    )
    return Peer(
        name=settings.name,
        kind="lgsp",
        link=client,
        inbox=client if settings.poll else None,
        tracker=client if tracking == "true" else None,
        directory=client,
        close=client.close,
    )


# --- reading ----------------------------------------------------------------------------------


def _seg(value: str) -> str:
    """``value`` as one path segment (an id with ``/`` or spaces stays one segment)."""
    return quote(value, safe="")


def _said(response: httpx.Response) -> str:
    """``: <the gateway's message>`` when the answer is JSON that carries one, else nothing."""
    try:
        answer = json.loads(response.content)
    except (UnicodeDecodeError, ValueError):
        return ""
    if not isinstance(answer, dict):
        return ""
    message = wire.text(answer, "message")
    return f": {message}" if message else ""
