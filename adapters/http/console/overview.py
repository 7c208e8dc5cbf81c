"""The overview page (``/dashboard/``): counters, deliveries by state and route, queue depths,
the oldest waiting delivery per system, failing destinations and every peer's health."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from adapters.http.console.context import Console
from adapters.http.console.page import PREFIX, Page, age, e, layout, pill, table, when
from hub.delivery import State
from hub.errors import HubError
from hub.ports import PeerHealth
from hub.services.monitor import PROBLEM_STATES, Overview, QueueDepths, read_queue_depths


def add_routes(router: APIRouter, console: Console) -> None:
    access = console.access
    render, page_of, refuse = console.render, console.page_of, console.refuse
    overview, broker, peer_health = console.overview, console.broker, console.peer_health

    @router.get(f"{PREFIX}/")
    async def home(request: Request) -> Response:
        if not access.allowed(request):
            return refuse(request)
        ov = await run_in_threadpool(overview.get)
        queues = await read_queue_depths(broker)
        links = await run_in_threadpool(_read_links, peer_health)
        page = page_of(request)
        body = _overview_body(page, ov, queues) + _links_body(page, links, ov.at)
        return render(request, layout(page, "overview", page.t("overview"), body))


def _overview_body(page: Page, ov: Overview, queues: QueueDepths) -> str:
    by_state = ov.by_state()
    problems = sum(by_state.get(s.value, 0) for s in PROBLEM_STATES)
    cards = [
        (page.t("docs_hour"), ov.documents_last_hour, False),
        (page.t("docs_day"), ov.documents_last_day, False),
        (page.t("waiting"), by_state.get(State.AVAILABLE.value, 0), False),
        (page.t("undeliverable"), by_state.get(State.UNDELIVERABLE.value, 0), True),
        (page.t("dead"), by_state.get(State.DEAD.value, 0), True),
        (page.t("retry_wait"), by_state.get(State.RETRY_WAIT.value, 0), True),
    ]
    html_cards = "".join(
        f'<div class="card{" bad" if bad and n else ""}"><div class="n">{n}</div>'
        f'<div class="l">{label}</div></div>'
        for label, n, bad in cards
    )
    states = table(
        [page.t("state"), page.t("route"), page.t("count")],
        [
            [pill(page, s), e(r), f'<span class="n">{n}</span>']
            for (s, r), n in sorted(ov.by_state_route.items())
        ],
        page,
    )
    if queues.error is not None:
        q = f'<p class="error">{page.t("broker_down")}: {e(queues.error)}</p>'
    else:
        q = table(
            [page.t("queue"), page.t("ready"), page.t("delayed"), page.t("dead")],
            [
                [f"<code>{e(s.queue)}</code>", e(s.ready), e(s.delayed), e(s.dead)]
                for s in queues.stats
            ],
            page,
        )
    waits = table(
        [page.t("system"), page.t("waiting"), page.t("since")],
        [
            [e(w.system_id), e(w.waiting), f"{when(w.oldest_at)} ({age(w.oldest_at, ov.at)})"]
            for w in ov.oldest_waiting
        ],
        page,
    )
    peers = table(
        [page.t("peer"), page.t("retry_wait"), page.t("dead"), page.t("since")],
        [[e(p.peer), e(p.retry_wait), e(p.dead), when(p.oldest_at)] for p in ov.failing_peers],
        page,
    )
    note = f' <span class="muted">({problems} ⚠)</span>' if problems else ""
    return (
        f'<div class="cards">{html_cards}</div>'
        f"<h2>{page.t('by_state')}{note}</h2>{states}"
        f"<h2>{page.t('queues')}</h2>{q}"
        f"<h2>{page.t('oldest')}</h2>{waits}"
        f"<h2>{page.t('peers')}</h2>{peers}"
        f'<p class="muted">{when(ov.at)}</p>'
    )


def _links_body(page: Page, rows: Sequence[PeerHealth] | None, now: dt.datetime) -> str:
    """The peers section ("Kết nối liên thông"): breaker, failures, last success / error."""
    if rows is None:
        return ""
    listing = table(
        [
            page.t("peer"),
            page.t("link_state"),
            page.t("failures"),
            page.t("last_ok"),
            page.t("last_error"),
            page.t("sync"),
        ],
        [
            [
                e(h.name),
                f'<span class="{"" if h.up else "error"}">{e(page.t(h.state))}</span>'
                + (f'<br><span class="error">⚠ {e(h.alert)}</span>' if h.alert else ""),
                e(h.consecutive_failures),
                f"{when(h.last_success_at)} ({age(h.last_success_at, now)})"
                if h.last_success_at
                else "—",
                f"{when(h.last_error_at)} {e(h.last_error or '')}" if h.last_error_at else "—",
                f"{when(h.sync_at)} {e(h.sync_outcome or '')}" if h.sync_at else "—",
            ]
            for h in rows
        ],
        page,
    )
    return f"<h2>{page.t('links')}</h2>{listing}"


def _read_links(read: Callable[[], Sequence[PeerHealth]] | None) -> Sequence[PeerHealth] | None:
    if read is None:
        return None
    try:
        return read()
    except HubError:
        return None  # the page still shows everything else
