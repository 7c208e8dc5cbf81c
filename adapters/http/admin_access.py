"""Who may see the hub's insides: the console, ``/metrics`` and ``/readyz``'s details.

One rule, in one place (:meth:`AdminAccess.operator`), for every operator-facing endpoint. A
request acts as an :class:`Operator` (name and role, :mod:`hub.access`) when it carries:

* a **person's session** cookie (a named account logged in with its password; the session is
  checked in the database through :class:`hub.services.accounts.Accounts`, so a logout, a
  disabled account or a new password ends it in every API process within a few seconds);
* ``Authorization: Bearer <admin token>`` (a Prometheus scraper, ``curl``) or a session opened
  with the admin token (below): ``Operator("admin-token", "admin")``;
* nothing, from a loopback address, when the loopback-without-login mode is on
  (``admin.loopback_without_login``): ``Operator("loopback", "admin")``. Hazard: a reverse proxy
  on the same machine makes every client look like loopback — never turn the mode on for a hub
  published through one.

Tokens are compared in constant time. :meth:`AdminAccess.may` answers what the operator may do
(the role table of :mod:`hub.access`).

``/healthz`` is open to all and says nothing internal; ``/readyz`` answers everyone "ready" or
"not ready" and adds why only to an allowed request (a probe's error text may name hosts, users
or database errors); ``/metrics`` (system ids and queue names as labels) needs the rule.

Admin-token sessions. A login with the shared token issues a new value every time:
``<issued-at ms>.<random nonce>`` signed with HMAC-SHA256 under a key derived from the admin
token (so every API process of one hub accepts the sessions of the others, and changing the
token ends every session). A session
is good while its signature verifies (constant-time), it is younger than ``session_max_age_s``
and it was issued at or after the process' *epoch*: the epoch starts when the process starts
(a restart ends earlier sessions) and a logout moves it to now, ending every session issued
before — there is one admin token, so there is no finer owner to end sessions for.
Hazard: with several API processes (``serve --workers N``) a logout moves the epoch of the
process that served it only; the others keep honouring older sessions until they expire.

CSRF. State-changing forms must be same-origin (``Origin``, else ``Referer``, matches the
host) and carry a token bound to the session: an HMAC keyed with a hash of the session value
(secret, ``HttpOnly``), so every API process of the hub computes the same token for a session;
without a session (the loopback mode) the key is per process. The login form has no session
to bind to yet and relies on the origin check.
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

from hub.access import Operator
from hub.access import may as _may

__all__ = ["SESSION_COOKIE", "AdminAccess", "Operator", "install", "is_loopback", "of"]

#: Resolves a person's session value to its operator (``None``: unknown, expired or ended).
SessionLookup = Callable[[str], "Operator | None"]
TOKEN_OPERATOR = Operator("admin-token", "admin")
LOOPBACK_OPERATOR = Operator("loopback", "admin")

SESSION_COOKIE = "lienthong_admin"
#: A dashboard session's default lifetime: a working day.
DEFAULT_SESSION_MAX_AGE_S = 8 * 3600
_SESSION_KEY_LABEL = b"lienthong-dashboard-session-v2"
_CSRF_LABEL = b"lienthong-console-csrf-v1:"


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
        people: SessionLookup | None = None,
        loopback_without_login: bool | None = None,
    ) -> None:
        """``people`` resolves person sessions (none: only the admin token logs in);
        ``loopback_without_login`` defaults to "when no token is configured"."""
        self._token = token
        self._people = people
        self.loopback_without_login = (
            token is None if loopback_without_login is None else loopback_without_login
        )
        self._max_age_ms = int(session_max_age_s * 1000)
        self._clock = clock
        self._lock = threading.Lock()
        self._epoch_ms = self._now_ms()
        self._csrf_key = secrets.token_bytes(32)
        self._session_key = (
            hmac.new(token.encode(), _SESSION_KEY_LABEL, hashlib.sha256).digest() if token else b""
        )

    def __repr__(self) -> str:  # never the token
        return (
            f"AdminAccess(token_required={self._token is not None}, "
            f"people={self._people is not None}, "
            f"loopback_without_login={self.loopback_without_login})"
        )

    @property
    def token_required(self) -> bool:
        """True when a login exists (a token or named accounts): the console then shows a login
        page and a logout button; otherwise only the loopback mode lets anyone in."""
        return self.login_enabled

    @property
    def token_configured(self) -> bool:
        """True when the shared admin token is set (Bearer, token logins)."""
        return self._token is not None

    @property
    def login_enabled(self) -> bool:
        """True when someone can log in: named accounts, or the admin token."""
        return self._people is not None or self._token is not None

    def operator(self, conn: HTTPConnection) -> Operator | None:
        """The one rule: who this request acts as, ``None`` for nobody (module docstring)."""
        value = conn.cookies.get(SESSION_COOKIE, "")
        if value and "." not in value and self._people is not None:
            person = self._people(value)
            if person is not None:
                return person
        elif value and self.session_ok(value):
            return TOKEN_OPERATOR
        scheme, _, offered = conn.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.token_ok(offered.strip()):
            return TOKEN_OPERATOR
        if self.loopback_without_login and is_loopback(conn):
            return LOOPBACK_OPERATOR
        return None

    def may(self, operator: Operator | None, action: str) -> bool:
        """True when ``operator``'s role allows ``action`` (:data:`hub.access.PERMISSIONS`)."""
        return _may(operator, action)

    def allowed(self, conn: HTTPConnection, action: str = "watch") -> bool:
        """True when the request's operator may ``action`` (``/metrics``, ``/readyz``)."""
        return self.may(self.operator(conn), action)

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
        session = request.cookies.get(SESSION_COOKIE)
        if not session:
            return hmac.new(self._csrf_key, b"loopback", hashlib.sha256).hexdigest()
        key = hashlib.sha256(_CSRF_LABEL + session.encode()).digest()
        return hmac.new(key, b"csrf", hashlib.sha256).hexdigest()

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
