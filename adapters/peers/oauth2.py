"""OAuth2 client credentials (RFC 6749 §4.4) for peers that sit behind an API gateway.

Theory of operation. A gateway such as an LGSP (WSO2 API Manager) lets a client call its APIs
with ``Authorization: Bearer <token>``; the token comes from its token endpoint in exchange for
the client's id and secret (``POST /token``, ``grant_type=client_credentials``, the credential
in HTTP Basic as RFC 6749 §2.3.1 allows and WSO2 expects). :class:`ClientCredentials` keeps one
token per client and hands it to every request until shortly before it expires
(:func:`refresh_margin` of the announced ``expires_in``), then fetches a new one. A gateway may
still drop a token early (revocation, a restart of its key manager): the caller then answers
the 401 with :meth:`ClientCredentials.invalidate` and asks again, once.

Thread safety: :meth:`~ClientCredentials.token` holds a lock while it fetches, so a crowd of
workers finding the token expired makes one request to the token endpoint, not one each.
``invalidate`` forgets the token only if it is still the cached one: a late 401 on a token
another thread already replaced does not throw the new one away.

Errors are translated here, once: the token endpoint unreachable, timing out, answering 5xx,
429 or something that is not JSON → :class:`hub.errors.PeerUnavailable`; a refused credential
(``invalid_client`` / ``unauthorized_client``, or any 401, RFC 6749 §5.2) →
:class:`hub.errors.PeerAuthRefused`, never retried here — a wrong secret stays wrong, and
hammering the endpoint can lock the client out; any other refusal (``invalid_scope``…) →
:class:`hub.errors.PeerError`. The secret and the tokens appear in no log line, no ``repr`` and
no error message.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from hub.errors import PeerAuthRefused, PeerError, PeerUnavailable

log = logging.getLogger(__name__)

#: The lifetime assumed when a token answer omits ``expires_in`` (RFC 6749 §5.1 makes it
#: optional; WSO2 sends it). Short enough that a forgotten token is soon renewed; a 401 before
#: then is handled by :meth:`ClientCredentials.invalidate`.
DEFAULT_LIFETIME_S = 300.0
#: OAuth2 error codes that mean "this client id / secret is not accepted" (RFC 6749 §5.2).
_CREDENTIAL_ERRORS = frozenset({"invalid_client", "unauthorized_client"})


def refresh_margin(lifetime_s: float) -> float:
    """How long before its announced expiry a token is replaced: a tenth of its lifetime, at
    most a minute (a request in flight, and clock drift between us and the gateway)."""
    return min(60.0, lifetime_s / 10.0)


class ClientCredentials:
    """Bearer tokens for one client at one token endpoint, cached until shortly before expiry.

    ``http`` is the caller's ``httpx.Client`` (its timeouts apply); ``clock`` a monotonic clock
    in seconds (tests move it). ``peer`` names the peer in messages and logs.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        secret: str,
        *,
        http: httpx.Client,
        scope: str | None = None,
        peer: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._secret = secret
        self.scope = scope
        self.peer = peer or token_url
        self._http = http
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def __repr__(self) -> str:  # neither the secret nor the token
        return f"ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r})"

    def token(self) -> str:
        """A token believed valid: the cached one, or a fresh one from the token endpoint.

        Raises :class:`~hub.errors.PeerAuthRefused`, :class:`~hub.errors.PeerUnavailable` or
        :class:`~hub.errors.PeerError` as the module docstring says.
        """
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._token, self._renew_at = self._fetch()
            return self._token

    def invalidate(self, token: str) -> None:
        """The gateway refused ``token`` (401): forget it, unless it was already replaced."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch(self) -> tuple[str, float]:
        """One token request; returns the token and the monotonic instant to renew it at."""
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        asked_at = self._clock()  # the lifetime runs from before the request, to be safe
        try:
            response = self._http.post(
                self.token_url,
                data=form,
                auth=(self.client_id, self._secret),
                headers={"Accept": "application/json"},
            )
        except httpx.TimeoutException as exc:
            raise PeerUnavailable(
                f"{self.peer}: token endpoint timed out",
                message_vi=f"{self.peer}: máy chủ cấp token không trả lời kịp",
            ) from exc
        except httpx.HTTPError as exc:
            raise PeerUnavailable(
                f"{self.peer}: token endpoint unreachable: {type(exc).__name__}",
                message_vi=f"{self.peer}: không kết nối được máy chủ cấp token",
            ) from exc
        status = response.status_code
        log.info("oauth2 %s: token request for %s → %s", self.peer, self.client_id, status)
        answer = _json_object(response)
        if status >= 500 or status in (408, 429) or (answer is None and status < 400):
            raise PeerUnavailable(
                f"{self.peer}: token endpoint answered HTTP {status}"
                + ("" if answer is not None else " (not JSON)"),
                message_vi=f"{self.peer}: máy chủ cấp token lỗi (HTTP {status})",
                details={"http_status": status},
            )
        if status >= 400:
            raise _refusal(self.peer, self.client_id, status, answer or {})
        assert answer is not None  # narrowed above: a 2xx that is not JSON is unavailable
        token = answer.get("access_token")
        token_type = answer.get("token_type", "Bearer")
        if not isinstance(token, str) or not token or str(token_type).lower() != "bearer":
            raise PeerError(
                f"{self.peer}: token answer without a bearer access_token",
                message_vi=f"{self.peer}: máy chủ cấp token trả lời thiếu access_token",
                code="oauth2.reply",
            )
        lifetime = _lifetime(answer.get("expires_in"))
        log.info("oauth2 %s: token for %s valid %.0f s", self.peer, self.client_id, lifetime)
        return token, asked_at + lifetime - refresh_margin(lifetime)


def _refusal(peer: str, client_id: str, status: int, answer: dict[str, Any]) -> PeerError:
    """The error for a 4xx from the token endpoint, with the endpoint's own words."""
    error = str(answer.get("error", "")) or f"HTTP {status}"
    said = answer.get("error_description")
    words = f"{error}: {said}" if isinstance(said, str) and said else error
    details = {"http_status": status, "oauth2_error": error}
    if status == 401 or error in _CREDENTIAL_ERRORS:
        return PeerAuthRefused(
            f"{peer}: the token endpoint refused client {client_id!r} ({words})",
            message_vi=f"{peer}: máy chủ cấp token từ chối client {client_id!r} ({words})",
            details=details,
        )
    return PeerError(
        f"{peer}: the token endpoint refused the request ({words})",
        message_vi=f"{peer}: máy chủ cấp token từ chối yêu cầu ({words})",
        code="oauth2.refused",
        details=details,
    )


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The answer as a JSON object, or ``None`` for HTML, garbage, or JSON of another shape."""
    try:
        value = json.loads(response.content)
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _lifetime(expires_in: object) -> float:
    """``expires_in`` in seconds (a number or numeric text); the default when absent or bad."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float | str):
        return DEFAULT_LIFETIME_S
    try:
        seconds = float(expires_in)
    except (TypeError, ValueError):
        return DEFAULT_LIFETIME_S
    return seconds if seconds > 0 else DEFAULT_LIFETIME_S
