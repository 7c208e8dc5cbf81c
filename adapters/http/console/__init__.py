"""The IT staff's web console (``/dashboard/…``) and the hub's state gauges on ``/metrics``.

Server-rendered HTML, Vietnamese by default, English with ``?lang=en`` (remembered in a
cookie); no JS framework and no script at all except the overview's few lines of live refresh
(allowed by a per-response CSP nonce). Every value that reaches a page goes through
:func:`html.escape` (subjects, reasons and codes come from outside: a Subject of ``<script>``
is shown, never run).

Pages, one module each beside this one (``page`` holds what they share: texts, layout,
tables, links; ``context`` the access rule, responses and refusals; ``charts`` the SVG bar
charts): ``overview`` (rates over time, deliveries by state and route, queue depths, waiting by
route, oldest waiting delivery per system, failing peers, peers' health, certificate expiry,
storage); ``deliveries`` (undeliverable / dead / retry_wait lists: **redrive** one or many,
**discard** with a required reason); ``log`` (the message log: filters, keyed pages, streamed
CSV); ``documents`` (search by DocId, DocumentId, sender; a document's timeline across every
hop); ``downloads`` (the package as received, its attachments); ``evidence`` (a document's
evidence chain and its ASiC-E container); ``seal`` (the clerks' agency seal); ``systems`` (the
list, never a secret; one system's inbox, last pull and newest deliveries; one agency code's
deliveries); ``audit`` (newest first, filter by actor/action); ``metrics`` (the gauges below).
A page module offers ``add_routes(router, console)`` and adds its texts with
:func:`~adapters.http.console.page.add_texts`; a page that acts or hands out data asks
:meth:`Console.guard` for its right (``download``, ``evidence``, ``seal``, ``discard``…).

Access (DESIGN.md §4) is the operators' one rule, :mod:`adapters.http.admin_access`, which
:func:`mount_dashboard` installs on the app so ``/metrics`` and ``/readyz`` follow it too:

* A request acts as an operator (a named account's session, the Bearer admin token, or — in
  the loopback-without-login mode — any loopback client); anyone else is sent to the login
  page (:mod:`adapters.http.console.login`: login, logout, the accounts page), or answered 403
  when no login exists at all.
* Each page asks :meth:`Console.guard` for the operator's right (:meth:`AdminAccess.may`, the
  role table of :mod:`hub.access`): ``watch`` for the views, ``redrive``, ``discard``,
  ``download``, ``evidence``, ``seal``, ``audit``…; a logged-in operator without the right gets
  403 and a security event.
* State-changing forms (redrive, discard, seal, logout, accounts) are CSRF-safe twice over: the
  request must be same-origin (``Origin``, else ``Referer``, must match the host) and carry a
  form token bound to the session.

Every IT action is audited with the operator's name (:func:`~.context.actor_of`).

Metrics (registered in the app's registry by :func:`mount_dashboard`, collected on scrape from
the read model through a cache of ``cache_ttl_s`` seconds):

====================================================  =============================================
``lienthong_deliveries{state,route}``                 deliveries by state and route
``lienthong_documents_received_last_hour``            documents accepted in the last hour
``lienthong_documents_received_last_day``             documents accepted in the last 24 hours
``lienthong_inbox_oldest_age_seconds{system}``        age of the oldest ``available`` delivery
``lienthong_inbox_waiting{system}``                   ``available`` deliveries per system
``lienthong_system_last_pull_age_seconds{system}``    seconds since the system last listed its inbox
``lienthong_queue_messages{queue,status}``            broker depths (status: ready, delayed, dead)
``lienthong_broker_up``                               1 when the broker answered the last read
====================================================  =============================================

The composition root (:meth:`hub.entrypoints.bootstrap.Hub.app`) adds the process's own figures
to the same registry: prometheus_client's ``process_*`` (CPU, resident memory, open files) and
``python_gc_*`` (collections per generation), and ``python_gc_frozen_objects``
(:class:`~.metrics.FrozenHeapCollector`: the start-up heap kept out of full collections).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from prometheus_client import CollectorRegistry

from adapters.http import admin_access
from adapters.http.admin_access import AdminAccess
from adapters.http.console import (
    audit,
    deliveries,
    documents,
    downloads,
    log,
    seal,
    systems,
)
from adapters.http.console import evidence as evidence_page
from adapters.http.console import overview as overview_page
from adapters.http.console.context import Console
from adapters.http.console.evidence import EvidenceExport
from adapters.http.console.login import Kit, login_routes
from adapters.http.console.metrics import CaptureLoop, HubCollector, LoopHolder, queue_reader
from adapters.http.console.page import PREFIX, layout
from hub.messaging import Broker
from hub.ports import BlobStore, PeerHealth
from hub.services.accounts import Accounts
from hub.services.activity import ConsoleFacts
from hub.services.monitor import CachedOverview, CachedRates, Monitor

if TYPE_CHECKING:
    from signing.seal_service import SealService

__all__ = ["PREFIX", "HubCollector", "mount_dashboard"]


def mount_dashboard(
    app: FastAPI,
    monitor: Monitor,
    broker: Broker,
    *,
    admin_token: str | None,
    registry: CollectorRegistry | None = None,
    cache_ttl_s: float = 5.0,
    session_max_age_s: float = admin_access.DEFAULT_SESSION_MAX_AGE_S,
    clock: Callable[[], float] = time.time,
    peer_health: Callable[[], Sequence[PeerHealth]] | None = None,
    facts: Callable[[], ConsoleFacts] | None = None,
    blobs: BlobStore | None = None,
    evidence: EvidenceExport | None = None,
    sealer: SealService | None = None,
    accounts: Accounts | None = None,
    loopback_without_login: bool | None = None,
) -> None:
    """Add the dashboard routes (ahead of the VXP catch-all) and the gauges to ``registry``, and
    install the operators' access rule for ``admin_token`` on ``app`` (``/metrics``, ``/readyz``
    follow it). ``clock`` (epoch seconds) dates the sessions; ``facts`` reads certificate expiry
    and storage for the overview (absent: those sections are not shown). ``blobs`` enables the
    package and attachment downloads, ``evidence`` a document's evidence page and container,
    ``sealer`` the clerks' seal page (each absent: that page answers 404). ``accounts`` are the
    named accounts (their login, logout and page: :mod:`adapters.http.console.login`);
    ``loopback_without_login`` defaults to "no token and no accounts"."""
    if loopback_without_login is None:
        loopback_without_login = admin_token is None and accounts is None
    access = AdminAccess(
        admin_token,
        session_max_age_s=session_max_age_s,
        clock=clock,
        people=accounts.operator if accounts is not None else None,
        loopback_without_login=loopback_without_login,
    )
    admin_access.install(app, access)
    overview = CachedOverview(monitor, cache_ttl_s)
    console = Console(
        access,
        monitor,
        broker,
        overview,
        CachedRates(monitor, cache_ttl_s),
        peer_health,
        facts,
        blobs,
        evidence,
        sealer,
        accounts.agencies_of if accounts is not None else None,
    )
    holder = LoopHolder()
    router = APIRouter(include_in_schema=False)
    render, page_of, form_of = console.render, console.page_of, console.form_of
    csrf_refused = console.csrf_refused

    @router.get("/")
    def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", 307)

    @router.get(PREFIX)
    def bare() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", 307)

    kit = Kit(render, page_of, layout, form_of, csrf_refused)
    router.routes.extend(login_routes(access, monitor, accounts, kit).routes)

    pages = (overview_page, deliveries, log, documents, downloads, evidence_page, seal, systems)
    for module in (*pages, audit):
        module.add_routes(router, console)
    # Ahead of the VXP catch-all (which routes any other path on its last segment).
    app.router.routes[0:0] = router.routes
    app.add_middleware(CaptureLoop, holder=holder)
    if registry is not None:
        registry.register(HubCollector(overview, queue_reader(broker, holder), cache_ttl_s))
