"""An LGSP gateway for tests: real OAuth2 client-credentials tokens in front of the document API.

Theory of operation. :class:`LgspGateway` serves, with uvicorn on 127.0.0.1 (a thread of the
test process), what a province's WSO2 API Manager serves to a hub:

- ``POST /token`` — oauthlib's :class:`~oauthlib.oauth2.BackendApplicationServer` (RFC 6749
  §4.4): the client authenticates with HTTP Basic, gets a random bearer token with a real
  ``expires_in`` (``token_lifetime_s``, short in tests); the validator below checks the secret
  and, on every API call, the token and its expiry (monotonic clock).
- ``/lienthong/1.0/vanbans`` and ``/lienthong/1.0/donvilienthongs`` — the document and agency
  routes over an in-memory store, answering WSO2-style ``{"code", "message", "description"}``
  errors (401 with ``WWW-Authenticate: Bearer`` for a missing, unknown or expired token).

Each registered client serves some agency codes: it lists and fetches what is addressed to
them, acknowledges for them, and may send only from them. Field names are read in Vietnamese
or English and written in ``naming`` (``vi``/``en``); ``wrap_lists`` wraps lists as
``{"data": [...], "total": n}`` — the variations met among provinces.

Knobs named for test intent: :meth:`LgspGateway.revoke_tokens` (the key manager forgets every
token), :meth:`LgspGateway.fail_next` (the next request under a path answers a canned status and
body — a 503, an HTML page of a proxy, garbage — optionally after a delay),
:attr:`LgspGateway.token_requests` (per client id, refused ones included) and
:attr:`LgspGateway.api_calls`.

Use it as the ``lgsp_gateway`` fixture (import it into a ``conftest.py``) or directly::

    with LgspGateway(token_lifetime_s=60) as gateway:
        gateway.add_client("hub-nghean", "s3cret", agencies=["000.00.00.H41"])
        # peers.<name>: kind lgsp, endpoint gateway.api_url, options.token_url gateway.token_url
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hmac
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from oauthlib.oauth2 import BackendApplicationServer, RequestValidator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

API_PATH = "/lienthong/1.0"

#: logical field → (vi, en) names; reading accepts either, writing uses the gateway's naming.
_NAMES: dict[str, tuple[str, str]] = {
    "from": ("maDonViGui", "from"),
    "to": ("maDonViNhan", "to"),
    "type": ("loaiBanTin", "messageType"),
    "at": ("thoiGian", "createdAt"),
    "status": ("trangThai", "status"),
    "reason": ("lyDo", "reason"),
    "description": ("moTa", "description"),
    "code": ("maDinhDanh", "code"),
    "name": ("tenDonVi", "name"),
    "parent": ("maDonViCha", "parentCode"),
    "email": ("email", "email"),
    "level": ("capDonVi", "level"),
    "active": ("hoatDong", "active"),
}


def _read(body: dict[str, Any], logical: str) -> Any:
    vi, en = _NAMES[logical]
    return body.get(vi, body.get(en))


@dataclass
class _Client:
    secret: str
    agencies: tuple[str, ...]


@dataclass
class _Doc:
    doc_id: str
    data: bytes
    sender: str  # client id
    from_code: str
    to_codes: tuple[str, ...]
    kind: str
    at: dt.datetime
    states: dict[str, tuple[str, str | None, dt.datetime]] = field(default_factory=dict)


@dataclass
class _Canned:
    path: str
    status: int
    body: bytes
    content_type: str
    delay_s: float


class _Validator(RequestValidator):
    """oauthlib's questions answered from the gateway's clients and issued tokens."""

    def __init__(self, gateway: LgspGateway) -> None:
        self.gateway = gateway

    def client_authentication_required(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        return True

    def authenticate_client(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            client_id, _, secret = base64.b64decode(value).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        gw = self.gateway
        with gw.lock:
            gw.token_requests[client_id] += 1
            client = gw.clients.get(client_id)
        if client is None or not hmac.compare_digest(client.secret.encode(), secret.encode()):
            return False
        request.client_id = client_id
        request.client = type("Client", (), {"client_id": client_id})()
        return True

    def validate_grant_type(self, client_id: str, grant_type: str, *args: Any, **kw: Any) -> bool:
        return grant_type == "client_credentials"

    def get_default_scopes(self, client_id: str, request: Any, *args: Any, **kw: Any) -> list[str]:
        return ["lienthong"]

    def validate_scopes(self, client_id: str, scopes: list[str], *args: Any, **kw: Any) -> bool:
        return set(scopes) <= {"lienthong"}

    def save_bearer_token(self, token: dict[str, Any], request: Any, *args: Any, **kw: Any) -> None:
        expires_at = time.monotonic() + float(token["expires_in"])
        with self.gateway.lock:
            self.gateway.tokens[token["access_token"]] = (request.client_id, expires_at)

    def validate_bearer_token(self, token: str, scopes: list[str], request: Any) -> bool:
        with self.gateway.lock:
            entry = self.gateway.tokens.get(token or "")
        if entry is None or time.monotonic() >= entry[1]:
            return False
        request.client_id = entry[0]
        return True


class LgspGateway:
    """A token-issuing LGSP gateway on loopback, over an in-memory store (see module doc)."""

    def __init__(
        self, *, token_lifetime_s: int = 60, naming: str = "vi", wrap_lists: bool = False
    ) -> None:
        self.naming = 0 if naming == "vi" else 1
        self.wrap_lists = wrap_lists
        self.lock = threading.Lock()
        self.clients: dict[str, _Client] = {}
        self.tokens: dict[str, tuple[str, float]] = {}
        self.token_requests: Counter[str] = Counter()
        self.api_calls: list[tuple[str, str, int]] = []  # method, path, status
        self.docs: dict[str, _Doc] = {}
        self.agencies: dict[str, dict[str, Any]] = {}
        self._canned: list[_Canned] = []
        self.oauth = BackendApplicationServer(_Validator(self), token_expires_in=token_lifetime_s)
        self.app = self._app()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # --- knobs --------------------------------------------------------------------------------

    def add_client(self, client_id: str, secret: str, *, agencies: Sequence[str]) -> None:
        with self.lock:
            self.clients[client_id] = _Client(secret, tuple(agencies))

    def revoke_tokens(self) -> None:
        """Forget every issued token (a key-manager restart): the next API call gets a 401."""
        with self.lock:
            self.tokens.clear()

    def fail_next(
        self,
        path: str,
        status: int,
        body: bytes = b"",
        *,
        content_type: str = "application/json",
        delay_s: float = 0.0,
    ) -> None:
        """The next request whose path starts with ``path`` gets this answer, not the route's."""
        with self.lock:
            self._canned.append(_Canned(path, status, body, content_type, delay_s))

    def state(self, doc_id: str, code: str) -> str:
        """The status a recipient gave ``doc_id`` (``pending`` until acknowledged)."""
        with self.lock:
            return self.docs[doc_id].states[code][0]

    @property
    def api_url(self) -> str:
        return self.base_url + API_PATH

    @property
    def token_url(self) -> str:
        return self.base_url + "/token"

    # --- serving ------------------------------------------------------------------------------

    def start(self) -> LgspGateway:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the LGSP gateway did not start")
            time.sleep(0.02)
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> LgspGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the application ----------------------------------------------------------------------

    def _app(self) -> Starlette:
        api = API_PATH
        return Starlette(
            routes=[
                Route("/token", self._canned_first(self._token, auth=False), methods=["POST"]),
                Route(f"{api}/vanbans", self._canned_first(self._list_docs), methods=["GET"]),
                Route(f"{api}/vanbans", self._canned_first(self._send_doc), methods=["POST"]),
                Route(f"{api}/vanbans/{{doc_id}}", self._canned_first(self._get_doc)),
                Route(
                    f"{api}/vanbans/{{doc_id}}",
                    self._canned_first(self._put_doc),
                    methods=["PUT"],
                ),
                Route(f"{api}/vanbans/{{doc_id}}/trangthais", self._canned_first(self._states)),
                Route(f"{api}/donvilienthongs", self._canned_first(self._list_agencies)),
                Route(
                    f"{api}/donvilienthongs",
                    self._canned_first(self._add_agency),
                    methods=["POST"],
                ),
                Route(
                    f"{api}/donvilienthongs/{{code}}",
                    self._canned_first(self._put_agency),
                    methods=["PUT"],
                ),
            ]
        )

    def _canned_first(
        self, handler: Callable[[Request, str], Awaitable[Response]], *, auth: bool = True
    ) -> Callable[[Request], Awaitable[Response]]:
        """The route behind fault injection (a proxy in front) and, for the API, the bearer
        token check."""

        async def endpoint(request: Request) -> Response:
            path = request.url.path
            with self.lock:
                canned = next((c for c in self._canned if path.startswith(c.path)), None)
                if canned is not None:
                    self._canned.remove(canned)
            if canned is not None:
                await asyncio.sleep(canned.delay_s)
                response = Response(canned.body, canned.status, media_type=canned.content_type)
            elif not auth:
                response = await handler(request, "")
            else:
                valid, oreq = self.oauth.verify_request(
                    str(request.url), request.method, None, dict(request.headers)
                )
                if valid:
                    response = await handler(request, oreq.client_id)
                else:
                    response = JSONResponse(
                        {
                            "code": "900901",
                            "message": "Invalid Credentials",
                            "description": "Access token missing, invalid or expired",
                        },
                        401,
                        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
                    )
            with self.lock:
                self.api_calls.append((request.method, path, response.status_code))
            return response

        return endpoint

    async def _token(self, request: Request, _: str) -> Response:
        body = (await request.body()).decode("utf-8")
        headers, answer, status = self.oauth.create_token_response(
            str(request.url), "POST", body, dict(request.headers)
        )
        return Response(answer, status, headers=headers)

    def _name(self, logical: str) -> str:
        return _NAMES[logical][self.naming]

    def _listing(self, items: list[dict[str, Any]]) -> Response:
        return JSONResponse({"data": items, "total": len(items)} if self.wrap_lists else items)

    def _agencies_of(self, client_id: str) -> tuple[str, ...]:
        return self.clients[client_id].agencies

    async def _list_docs(self, request: Request, client_id: str) -> Response:
        q = request.query_params
        kind = q.get("loaiBanTin") or q.get("messageType") or "edoc"
        mine = self._agencies_of(client_id)
        with self.lock:
            docs = sorted(self.docs.values(), key=lambda d: d.at)
            items = [
                {
                    "docId": d.doc_id,
                    self._name("from"): d.from_code,
                    self._name("type"): d.kind,
                    self._name("at"): d.at.isoformat(),
                }
                for d in docs
                if d.kind == kind
                and any(code in mine and s[0] == "pending" for code, s in d.states.items())
            ]
        return self._listing(items)

    async def _get_doc(self, request: Request, client_id: str) -> Response:
        doc = self._visible(request.path_params["doc_id"], client_id)
        if doc is None:
            return _error(404, "Không tìm thấy văn bản")
        return JSONResponse(
            {
                "docId": doc.doc_id,
                self._name("from"): doc.from_code,
                self._name("to"): list(doc.to_codes),
                self._name("type"): doc.kind,
                "data": base64.b64encode(doc.data).decode("ascii"),
            }
        )

    async def _send_doc(self, request: Request, client_id: str) -> Response:
        body = await _json(request)
        from_code, to_codes = _read(body, "from"), _read(body, "to")
        try:
            data = base64.b64decode(body.get("data", ""), validate=True)
        except (binascii.Error, TypeError, ValueError):
            data = b""
        if not isinstance(to_codes, list) or not to_codes or not data:
            return _error(400, "Thiếu nơi nhận hoặc dữ liệu văn bản")
        if from_code not in self._agencies_of(client_id):
            return _error(403, f"Đơn vị gửi {from_code} không thuộc ứng dụng này")
        now = dt.datetime.now(dt.UTC)
        doc = _Doc(
            str(uuid.uuid4()),
            data,
            client_id,
            from_code,
            tuple(to_codes),
            _read(body, "type") or "edoc",
            now,
            dict.fromkeys(to_codes, ("pending", None, now)),
        )
        with self.lock:
            self.docs[doc.doc_id] = doc
        return JSONResponse({"docId": doc.doc_id}, 201)

    async def _put_doc(self, request: Request, client_id: str) -> Response:
        body = await _json(request)
        status = _read(body, "status")
        if not isinstance(status, str) or not status:
            return _error(400, "Thiếu trạng thái")
        mine = self._agencies_of(client_id)
        now = dt.datetime.now(dt.UTC)
        with self.lock:
            doc = self.docs.get(request.path_params["doc_id"])
            codes = [c for c in (doc.states if doc else ()) if c in mine]
            if doc is None or not codes:
                return _error(404, "Không tìm thấy văn bản gửi đến đơn vị")
            for code in codes:
                doc.states[code] = (status, _read(body, "reason"), now)
        return JSONResponse({"docId": doc.doc_id, self._name("status"): status})

    async def _states(self, request: Request, client_id: str) -> Response:
        with self.lock:
            doc = self.docs.get(request.path_params["doc_id"])
            if doc is None or doc.sender != client_id:
                return _error(404, "Không tìm thấy văn bản đã gửi")
            items = [
                {
                    self._name("code"): code,
                    self._name("status"): status,
                    self._name("description"): reason,
                    self._name("at"): at.isoformat(),
                }
                for code, (status, reason, at) in doc.states.items()
            ]
        return self._listing(items)

    async def _list_agencies(self, request: Request, client_id: str) -> Response:
        with self.lock:
            items = [
                {self._name(k): v for k, v in a.items() if v is not None}
                for a in self.agencies.values()
            ]
        return self._listing(items)

    async def _add_agency(self, request: Request, client_id: str) -> Response:
        agency = {k: _read(await _json(request), k) for k in _AGENCY_FIELDS}
        if not agency["code"] or not agency["name"]:
            return _error(400, "Thiếu mã định danh hoặc tên đơn vị")
        with self.lock:
            if agency["code"] in self.agencies:
                return _error(409, f"Đơn vị {agency['code']} đã có")
            self.agencies[agency["code"]] = agency
        return JSONResponse({self._name("code"): agency["code"]}, 201)

    async def _put_agency(self, request: Request, client_id: str) -> Response:
        body = await _json(request)
        code = request.path_params["code"]
        with self.lock:
            stored = self.agencies.get(code)
            if stored is None:
                return _error(404, f"Không có đơn vị {code}")
            stored.update({k: v for k in _AGENCY_FIELDS if (v := _read(body, k)) is not None})
        return JSONResponse({self._name("code"): code})

    def _visible(self, doc_id: str, client_id: str) -> _Doc | None:
        with self.lock:
            doc = self.docs.get(doc_id)
        mine = self._agencies_of(client_id)
        if doc is None or (doc.sender != client_id and not set(doc.to_codes) & set(mine)):
            return None
        return doc


_AGENCY_FIELDS = ("code", "name", "parent", "email", "level", "active")


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(status: int, message: str) -> JSONResponse:
    """A WSO2-style error answer."""
    return JSONResponse({"code": str(status), "message": message}, status)


@pytest.fixture
def lgsp_gateway() -> Iterator[LgspGateway]:
    """A started gateway (tokens live 60 s) with no clients yet; stopped after the test."""
    with LgspGateway() as gateway:
        yield gateway


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a gateway until interrupted (for a hub started by hand or by an e2e harness)::

    python -m tests.integration.peers.lgsp_server --client hub-nghean:s3cret:000.00.00.H41
    """
    import argparse

    ap = argparse.ArgumentParser(description="a token-issuing LGSP gateway on 127.0.0.1")
    ap.add_argument("--client", action="append", default=[], help="id:secret:code[,code…]")
    ap.add_argument("--token-lifetime", type=int, default=3600, help="seconds")
    ap.add_argument("--naming", choices=("vi", "en"), default="vi")
    args = ap.parse_args(argv)
    with LgspGateway(token_lifetime_s=args.token_lifetime, naming=args.naming) as gateway:
        for spec in args.client:
            client_id, secret, codes = spec.split(":", 2)
            gateway.add_client(client_id, secret, agencies=codes.split(","))
        print(f"endpoint {gateway.api_url}\ntoken_url {gateway.token_url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
