"""Who may see the hub's insides: the dashboard, ``/metrics`` and ``/readyz``'s details.

One rule, in one place (:meth:`AdminAccess.allowed`), for every operator-facing endpoint:

* **No admin token configured** (``admin.token`` unset): loopback clients only. Hazard: a
  reverse proxy on the same machine makes every client look like loopback — configure a token
  whenever the hub is published through one.
* **A token configured**: the request carries either a dashboard session cookie that verifies
  (below) or ``Authorization: Bearer <token>`` (a Prometheus scraper, ``curl``). Loopback is
  no longer enough. Tokens are compared in constant time.

``/healthz`` is open to all and says nothing internal; ``/readyz`` answers everyone "ready" or
"not ready" and adds why only to an allowed request (a probe's error text may name hosts, users
or database errors); ``/metrics`` (system ids and queue names as labels) needs the rule.

Dashboard sessions. A login issues a new value every time: ``<issued-at ms>.<random nonce>``
signed with HMAC-SHA256 under a key derived from the admin token (so every API process of one
hub accepts the sessions of the others, and changing the token ends every session). A session
is good while its signature verifies (constant-time), it is younger than ``session_max_age_s``
and it was issued at or after the process' *epoch*: the epoch starts when the process starts
(a restart ends earlier sessions) and a logout moves it to now, ending every session issued
before — there is one admin token, so there is no finer owner to end sessions for.
Hazard: with several API processes (``serve --workers N``) a logout moves the epoch of the
process that served it only; the others keep honouring older sessions until they expire.

CSRF. State-changing forms carry a token bound to the session (HMAC with a per-process key)
and must be same-origin (``Origin``, else ``Referer``, matches the host).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.requests import HTTPConnection, Request

SESSION_COOKIE = "lienthong_admin"
#: A dashboard session's default lifetime: a working day.
DEFAULT_SESSION_MAX_AGE_S = 8 * 3600
_SESSION_KEY_LABEL = b"lienthong-dashboard-session-v2"


def is_loopback(conn: HTTPConnection) -> bool:
    """True when the client's address is a loopback address (127.0.0.0/8, ::1)."""
    host = conn.client.host if conn.client else None
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AdminAccess:
    """The access rule of the module docstring, sessions and CSRF tokens included."""

    def __init__(
        self,
        token: str | None,
        *,
        session_max_age_s: float = DEFAULT_SESSION_MAX_AGE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._token = token
        self._max_age_ms = int(session_max_age_s * 1000)
        self._clock = clock
        self._lock = threading.Lock()
        self._epoch_ms = self._now_ms()
        self._csrf_key = secrets.token_bytes(32)
        self._session_key = (
            hmac.new(token.encode(), _SESSION_KEY_LABEL, hashlib.sha256).digest() if token else b""
        )

    def __repr__(self) -> str:  # never the token
        return f"AdminAccess(token_required={self.token_required})"

    @property
    def token_required(self) -> bool:
        """True when an admin token is configured (loopback alone is then not enough)."""
        return self._token is not None

    def allowed(self, conn: HTTPConnection) -> bool:
        """The one rule: loopback without a token; a good session or Bearer token with one."""
        if self._token is None:
            return is_loopback(conn)
        if self.session_ok(conn.cookies.get(SESSION_COOKIE, "")):
            return True
        scheme, _, offered = conn.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self.token_ok(offered.strip())

    def token_ok(self, offered: str) -> bool:
        """Constant-time comparison with the configured token (``False`` when none is)."""
        return self._token is not None and hmac.compare_digest(
            offered.encode(), self._token.encode()
        )

    # ------------------------------------------------------------------------- sessions

    def issue_session(self) -> str:
        """A new signed session value (a login); requires a configured token."""
        if self._token is None:
            raise RuntimeError("no admin token configured: there are no sessions to issue")
        payload = f"{self._now_ms()}.{secrets.token_urlsafe(16)}"
        return f"{payload}.{self._sign(payload)}"

    def session_ok(self, value: str) -> bool:
        """True for a value :meth:`issue_session` made, unexpired and not ended by a logout."""
        if self._token is None or value.count(".") != 2:
            return False
        payload, _, mac = value.rpartition(".")
        if not hmac.compare_digest(mac.encode(), self._sign(payload).encode()):
            return False
        try:
            issued_ms = int(payload.partition(".")[0])
        except ValueError:
            return False
        now = self._now_ms()
        with self._lock:
            epoch = self._epoch_ms
        return epoch <= issued_ms <= now + 1000 and now - issued_ms <= self._max_age_ms

    def end_sessions(self) -> None:
        """Logout: every session issued so far stops verifying in this process."""
        with self._lock:
            self._epoch_ms = max(self._epoch_ms, self._now_ms() + 1)

    @property
    def max_age_s(self) -> int:
        """The session cookie's ``Max-Age``."""
        return self._max_age_ms // 1000

    def _sign(self, payload: str) -> str:
        return hmac.new(self._session_key, payload.encode(), hashlib.sha256).hexdigest()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # ----------------------------------------------------------------------------- CSRF

    def csrf_for(self, request: Request) -> str:
        """The form token of this request's session (``loopback`` mode has one per process)."""
        bound = request.cookies.get(SESSION_COOKIE) or "loopback"
        return hmac.new(self._csrf_key, bound.encode(), hashlib.sha256).hexdigest()

    def same_origin(self, request: Request) -> bool:
        source = request.headers.get("origin") or request.headers.get("referer")
        if not source or source == "null":
            return False
        origin, own = urlsplit(source), urlsplit(str(request.base_url))
        return (origin.scheme, origin.netloc) == (own.scheme, own.netloc)

    def csrf_ok(self, request: Request, offered: str) -> bool:
        expected = self.csrf_for(request)
        return self.same_origin(request) and hmac.compare_digest(
            offered.encode(), expected.encode()
        )


def install(app: FastAPI, access: AdminAccess) -> None:
    """Make ``access`` the rule of ``app``'s operator endpoints (the dashboard mounts it)."""
    app.state.admin_access = access


def of(app: FastAPI) -> AdminAccess:
    """The rule installed on ``app`` (:func:`install`); loopback-only until one is."""
    access = getattr(app.state, "admin_access", None)
    if not isinstance(access, AdminAccess):
        access = AdminAccess(None)
        install(app, access)
    return access
