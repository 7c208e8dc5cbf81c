"""What every console route needs besides the page helpers: the access rule, the read model,
the response with its security headers, the form parser, and the refusals.

One :class:`Console` is built by :func:`adapters.http.console.mount_dashboard` and handed to
each page module's ``add_routes``; it holds no state of its own beyond what it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from adapters.http import admin_access
from adapters.http.admin_access import LOOPBACK_OPERATOR, TOKEN_OPERATOR, AdminAccess
from adapters.http.console.page import LANG_COOKIE, PREFIX, Page, layout
from adapters.http.gate import read_capped
from hub.errors import HubError
from hub.messaging import Broker
from hub.ports import BlobStore, PeerHealth
from hub.security import emit
from hub.services.activity import ConsoleFacts
from hub.services.monitor import CachedOverview, CachedRates, Monitor

if TYPE_CHECKING:
    from adapters.http.console.evidence import EvidenceExport
    from signing.seal_service import SealService

_FORM_CAP = 64 * 1024


def actor_of(request: Request) -> str:
    """Who acts, as audited: a person's account name; the shared identities (``admin-token``,
    ``loopback``) and nobody (``anonymous``) with the client's address."""
    op = admin_access.of(request.app).operator(request)
    if op is not None and op.name not in (TOKEN_OPERATOR.name, LOOPBACK_OPERATOR.name):
        return op.name
    name = op.name if op is not None else "anonymous"
    return f"{name}@{request.client.host if request.client else '-'}"


def security_event(event: str, category: str, request: Request, **fields: Any) -> None:
    emit(
        event,
        category,
        remote=request.client.host if request.client else None,
        path=request.url.path,
        **fields,
    )


@dataclass(frozen=True, slots=True)
class Console:
    """The console's collaborators (see the module docstring)."""

    access: AdminAccess
    monitor: Monitor
    broker: Broker
    overview: CachedOverview
    rates: CachedRates
    peer_health: Callable[[], Sequence[PeerHealth]] | None = None
    facts: Callable[[], ConsoleFacts] | None = None
    blobs: BlobStore | None = None  # package and attachment downloads
    evidence: EvidenceExport | None = None  # a document's evidence and its ASiC-E container
    sealer: SealService | None = None  # the clerks' seal page
    agencies_of: Callable[[str], Sequence[str]] | None = None  # a bound account's agencies

    def render(
        self, request: Request, html_text: str, status: int = 200, *, script_nonce: str = ""
    ) -> HTMLResponse:
        """An HTML response with the console's headers; ``script_nonce`` allows the one inline
        script that carries it (and fetches from this origin), nothing else."""
        response = HTMLResponse(html_text, status)
        asked = request.query_params.get("lang")
        if asked in ("vi", "en"):
            response.set_cookie(LANG_COOKIE, asked, max_age=365 * 86400, samesite="strict")
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        scripts = f"; script-src 'nonce-{script_nonce}'; connect-src 'self'" if script_nonce else ""
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'" + scripts
        )
        return response

    def page_of(self, request: Request) -> Page:
        return Page(request, self.access.csrf_for(request), logout=self.access.token_required)

    def refuse(self, request: Request) -> Response:
        """The answer to a request without the right to see the console: the login page when
        a login exists, 403 otherwise (loopback clients only)."""
        if self.access.login_enabled:
            return RedirectResponse(f"{PREFIX}/login", 303)
        security_event("dashboard_refused", "access_refused", request, reason="not loopback")
        page = self.page_of(request)
        body = f'<p class="error">{page.t("forbidden")}</p>'
        return self.render(request, layout(page, "", page.t("title"), body, nav=False), 403)

    def may(self, request: Request, action: str) -> bool:
        """Whether this request's operator may do ``action`` (the words of the role table in
        :mod:`hub.access`: ``watch``, ``redrive``, ``discard``, ``download``, ``evidence``,
        ``seal``, ``audit``…)."""
        return self.access.may(self.access.operator(request), action)

    def guard(self, request: Request, action: str) -> Response | None:
        """``None`` when the request may do ``action``; otherwise the answer to give: the login
        (or loopback refusal) for a stranger, 403 naming the action for an operator without
        the right (a security event)."""
        op = self.access.operator(request)
        if op is None:
            return self.refuse(request)
        if self.may(request, action):
            return None
        security_event(
            "dashboard_action_refused", "access_refused", request, action=action, actor=op.name
        )
        page = self.page_of(request)
        body = f'<p class="error" role="alert">{page.t("not_allowed", action=action)}</p>'
        return self.render(request, layout(page, "", page.t("title"), body), 403)

    async def form_of(self, request: Request) -> dict[str, list[str]]:
        # The forms are small urlencoded posts: parsed here under a cap (no multipart parser
        # dependency, and nothing large is ever read for an anonymous client).
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return {}
        try:
            body = await read_capped(request, _FORM_CAP)
        except HubError:
            return {}
        return parse_qs(body.decode("utf-8", "replace"), max_num_fields=1000)

    def csrf_refused(self, request: Request) -> Response:
        security_event("dashboard_csrf_refused", "csrf_refused", request)
        self.monitor.record(actor_of(request), "dashboard.csrf", request.url.path, "csrf.refused")
        page = self.page_of(request)
        body = f'<p class="error">{page.t("csrf")}</p>'
        return self.render(request, layout(page, "", page.t("title"), body, nav=False), 403)
