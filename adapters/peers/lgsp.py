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

Reading of the wire. No public specification fixes the field names, and deployments differ from
province to province. This module assumes the shapes below and, for each field, accepts every
name met in practice, Vietnamese and English (:data:`_READ`, first present wins); it writes one
naming, ``options.naming`` = ``vi`` (the default) or ``en`` (:data:`_WRITE`). A list may come
bare or wrapped in an object (``data``, ``items``, ``content``, ``danhSach``…); an object may be
wrapped once in ``data`` / ``result``. Times are ISO 8601 (no zone = ICT) or epoch milliseconds.

====================================  ========================================================
request (vi names; en in brackets)    body → answer
====================================  ========================================================
GET  /vanbans?loaiBanTin=edoc|status  → [{docId, maDonViGui [from], loaiBanTin [messageType],
                                      thoiGian [createdAt]}, …] pending for the caller
GET  /vanbans/{docId}                 → {docId, data: base64 edXML, …}
POST /vanbans                         {maDonViGui, maDonViNhan [to]: [codes], loaiBanTin,
                                      data: base64} → {docId}
PUT  /vanbans/{docId}                 {trangThai [status]: done|fail, lyDo [reason]}
GET  /vanbans/{docId}/trangthais      → [{maDinhDanh [code], trangThai, moTa [description],
                                      thoiGian}, …] one per recipient (sender only)
GET  /donvilienthongs                 → [{maDinhDanh, tenDonVi [name], maDonViCha [parentCode],
                                      email, capDonVi [level], hoatDong [active]}, …]
POST /donvilienthongs                 the agency object (409 if the gateway has it already)
PUT  /donvilienthongs/{code}          the agency object; ``hoatDong: false`` withdraws it
====================================  ========================================================

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
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, Self
from urllib.parse import quote, urlsplit

import httpx

from adapters.peers.oauth2 import ClientCredentials
from hub.edxml.model import VN_TZ, MessageKind
from hub.errors import PeerAuthRefused, PeerError, PeerUnavailable
from hub.ports import AgencyRow, Peer, RemoteDeliveryState, RemoteItem
from hub.services.contracts import TransportStatus
from hub.settings import PeerSettings, SettingsError

log = logging.getLogger(__name__)

#: A stuck gateway must not hang a worker.
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
#: The ``options`` this kind reads; any other key is a configuration error.
OPTIONS = frozenset({"token_url", "scope", "naming", "tracking", "timeout_s"})

#: Logical field → the names read, first present wins (Vietnamese and English practice).
_READ: Mapping[str, tuple[str, ...]] = {
    "id": ("docId", "id", "maVanBan", "vanBanId"),
    "from": ("maDonViGui", "from", "noiGui", "senderCode"),
    "type": ("loaiBanTin", "messageType", "messagetype", "type"),
    "data": ("data", "noiDung", "content"),
    "at": ("thoiGian", "createdAt", "ngayTao", "updatedAt", "created", "time"),
    "status": ("trangThai", "status"),
    "description": ("moTa", "description", "lyDo", "reason"),
    "code": ("maDinhDanh", "code", "maDonVi", "agencyCode"),
    "name": ("tenDonVi", "name", "ten"),
    "parent": ("maDonViCha", "parentCode", "pcode"),
    "email": ("email", "mail", "thuDienTu"),
    "level": ("capDonVi", "level"),
    "active": ("hoatDong", "active"),
    "message": (
        "message",
        "thongBao",
        "moTa",
        "error_description",
        "description",
        "ErrorDesc",
        "error",
    ),
}
#: Keys under which a gateway wraps a list (or, for ``data``/``result``, one object).
_WRAPPERS = ("data", "items", "content", "danhSach", "result", "results")
#: Logical field → the name written, per ``options.naming``.
_WRITE: Mapping[str, Mapping[str, str]] = {
    "vi": {
        "from": "maDonViGui",
        "to": "maDonViNhan",
        "type": "loaiBanTin",
        "data": "data",
        "status": "trangThai",
        "reason": "lyDo",
        "code": "maDinhDanh",
        "name": "tenDonVi",
        "parent": "maDonViCha",
        "email": "email",
        "level": "capDonVi",
        "active": "hoatDong",
    },
    "en": {
        "from": "from",
        "to": "to",
        "type": "messageType",
        "data": "data",
        "status": "status",
        "reason": "reason",
        "code": "code",
        "name": "name",
        "parent": "parentCode",
        "email": "email",
        "level": "level",
        "active": "active",
    },
}
_DONE_WORDS = frozenset({"done", "success", "thanhcong", "completed", "dahoanthanh"})
_FAIL_WORDS = frozenset({"fail", "failed", "error", "loi", "rejected", "tuchoi"})
_INACTIVE_WORDS = frozenset({"false", "0", "inactive", "deleted", "disabled", "ngunghoatdong"})


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
        if naming not in _WRITE:
            raise SettingsError(f"peers.{name}.options.naming: {naming!r} is not 'vi' or 'en'")
        self.name = name
        self.endpoint = endpoint.rstrip("/")
        self.client_id = client_id
        self._names = _WRITE[naming]
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
        answer = _object(self._call("POST", "/vanbans", body=body))
        doc_id = _text(answer, "id")
        if doc_id is None:
            raise _reply_error(self.name, "POST /vanbans: answer without docId")
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
        for entry in _list(answer, self.name, "GET /vanbans"):
            remote_id = _text(entry, "id")
            if remote_id is None:
                raise _reply_error(self.name, "GET /vanbans: an item without docId")
            label = _text(entry, "type")
            if label is not None and label.lower() != str(kind):
                continue
            items.append(RemoteItem(remote_id, kind, _text(entry, "from"), _when(entry)))
        if all(item.listed_at is not None for item in items):
            items.sort(key=lambda item: item.listed_at or dt.datetime.min.replace(tzinfo=dt.UTC))
        return items[:limit]

    def fetch(self, item: RemoteItem) -> bytes:
        """``GET /vanbans/{docId}``: the package bytes (base64 ``data``, line breaks tolerated)."""
        answer = _object(self._call("GET", f"/vanbans/{_seg(item.remote_id)}"))
        text = _text(answer, "data")
        if text is None:
            raise _reply_error(self.name, f"GET /vanbans/{item.remote_id}: answer without data")
        try:
            data = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise _reply_error(
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
        for entry in _list(self._call("GET", path), self.name, f"GET {path}"):
            code = _text(entry, "code")
            word = _text(entry, "status")
            if code is None or word is None:
                raise _reply_error(self.name, f"GET {path}: an entry without code or status")
            status, description = _transport_status(word, _text(entry, "description"))
            states.append(
                RemoteDeliveryState(remote_id, code, str(status), description, _when(entry))
            )
        return states

    # --- PeerDirectory ------------------------------------------------------------------------

    def agencies(self) -> Sequence[AgencyRow]:
        """``GET /donvilienthongs``: the gateway's agency list (``source`` = ``peer:<name>``)."""
        rows = []
        for entry in _list(self._call("GET", "/donvilienthongs"), self.name, "agency list"):
            code = _text(entry, "code")
            if code is None:
                raise _reply_error(self.name, "GET /donvilienthongs: an agency without a code")
            level = _text(entry, "level")
            rows.append(
                AgencyRow(
                    code=code,
                    name=_text(entry, "name") or code,
                    parent_code=_text(entry, "parent"),
                    level=int(level) if level is not None and level.isdigit() else None,
                    email=_text(entry, "email"),
                    source=f"peer:{self.name}",
                    deleted=_inactive(entry),
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


def _field(entry: Mapping[str, Any], logical: str) -> Any:
    for name in _READ[logical]:
        if name in entry and entry[name] is not None:
            return entry[name]
    return None


def _text(entry: Mapping[str, Any], logical: str) -> str | None:
    """A field as non-empty text (numbers are written out), else ``None``."""
    value = _field(entry, logical)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        text = str(value).strip()
        return text or None
    return None


def _object(answer: Any) -> Mapping[str, Any]:
    """The answer as one object, unwrapped once from ``data`` / ``result`` when wrapped."""
    if not isinstance(answer, dict):
        return {}
    for key in ("data", "result"):
        inner = answer.get(key)
        if isinstance(inner, dict):
            return inner
    return answer


def _list(answer: Any, peer: str, what: str) -> list[Mapping[str, Any]]:
    """The answer as a list of objects, bare or wrapped; an empty answer is an empty list."""
    if answer is None:
        return []
    if isinstance(answer, dict):
        for key in _WRAPPERS:
            if isinstance(answer.get(key), list):
                answer = answer[key]
                break
    if not isinstance(answer, list) or not all(isinstance(e, dict) for e in answer):
        raise _reply_error(peer, f"{what}: answer is not a list of objects")
    return answer


def _when(entry: Mapping[str, Any]) -> dt.datetime | None:
    """The entry's time, UTC: ISO 8601 (no zone = ICT) or epoch milliseconds; else ``None``."""
    value = _field(entry, "at")
    when: dt.datetime | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        when = dt.datetime.fromtimestamp(value / 1000.0, dt.UTC)
    elif isinstance(value, str):
        try:
            when = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=VN_TZ)
    return when.astimezone(dt.UTC) if when is not None else None


def _words(text: str) -> str:
    """Lower case, ASCII letters only: ``Thành công`` and ``thanh_cong`` both → ``thanhcong``."""
    folded = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in folded.lower() if c.isascii() and c.isalnum())


def _transport_status(word: str, description: str | None) -> tuple[TransportStatus, str | None]:
    """The gateway's status word as a transport status; an unmapped word is kept as text."""
    key = _words(word)
    if key in _DONE_WORDS:
        return TransportStatus.DONE, description
    if key in _FAIL_WORDS:
        return TransportStatus.FAIL, description
    return TransportStatus.PROCESSING, f"{word}: {description}" if description else word


def _inactive(entry: Mapping[str, Any]) -> bool:
    value = _field(entry, "active")
    if value is None:
        return False
    return _words(str(value)) in _INACTIVE_WORDS


def _said(response: httpx.Response) -> str:
    """``: <the gateway's message>`` when the answer is JSON that carries one, else nothing."""
    try:
        answer = json.loads(response.content)
    except (UnicodeDecodeError, ValueError):
        return ""
    if not isinstance(answer, dict):
        return ""
    message = _text(answer, "message")
    return f": {message}" if message else ""


def _reply_error(peer: str, what: str) -> PeerError:
    return PeerError(
        f"{peer}: {what}",
        message_vi=f"{peer}: cổng LGSP trả lời sai dạng ({what})",
        code="lgsp.reply",
    )
