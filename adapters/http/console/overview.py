"""The overview page (``/dashboard/``): counters, rates over time (received, delivered, refused,
failed as server-drawn bar charts), deliveries by state and route, queue depths and what waits
on each route, the oldest waiting delivery per system, failing destinations, every peer's
health, certificate expiry, disk and database size.

The page refreshes itself without a reload: a small inline script (allowed by a per-response
CSP nonce, nothing else) fetches ``/dashboard/overview/live`` every :data:`REFRESH_S` seconds
and swaps the live part in; the page holds no form whose input a refresh could lose. Without
scripts a ``<noscript>`` meta refresh reloads the page instead.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Sequence

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from adapters.http.console.charts import bar_chart
from adapters.http.console.context import Console
from adapters.http.console.page import (
    PREFIX,
    Page,
    add_texts,
    age,
    e,
    layout,
    pill,
    system_link,
    table,
    when,
)
from hub.delivery import State
from hub.errors import HubError
from hub.ports import PeerHealth
from hub.services.activity import SERIES, SPANS, ConsoleFacts, Rates
from hub.services.monitor import PROBLEM_STATES, Overview, QueueDepths, read_queue_depths

#: Seconds between two refreshes of the overview's live part (``?refresh=N`` asks for another
#: interval, within :data:`REFRESH_RANGE_S`).
REFRESH_S = 30
REFRESH_RANGE_S = (2, 3600)
#: A certificate expiring within this many days is shown as a warning.
EXPIRY_WARN_DAYS = 30
#: A data directory with less than this share of its file system free is shown as a warning.
DISK_WARN_FREE = 0.10

add_texts(
    {
        "rates": ("Lưu lượng theo thời gian", "Rates over time"),
        "span_hour": ("1 giờ qua", "Last hour"),
        "span_day": ("24 giờ qua", "Last 24 hours"),
        "span_week": ("7 ngày qua", "Last 7 days"),
        "series_received": ("Tiếp nhận", "Received"),
        "series_delivered": ("Đã chuyển giao", "Delivered"),
        "series_refused": ("Bị từ chối", "Refused"),
        "series_failed": ("Thất bại", "Failed"),
        "total": ("Tổng", "Total"),
        "by_route": ("Đang chờ theo tuyến", "Waiting by route"),
        "oldest_age": ("Chờ lâu nhất", "Oldest"),
        "kind_peer": ("Loại", "Kind"),
        "certs": ("Chứng thư số", "Certificates"),
        "cert_role": ("Vai trò", "Role"),
        "cert_subject": ("Chủ thể", "Subject"),
        "cert_expires": ("Hết hạn", "Expires"),
        "cert_days": ("Còn (ngày)", "Days left"),
        "role_anchor": ("Chứng thư gốc tin cậy", "Trust anchor"),
        "role_seal": ("Khóa con dấu", "Seal key"),
        "role_receipt": ("Khóa ký biên nhận", "Receipt key"),
        "expired": ("ĐÃ HẾT HẠN", "EXPIRED"),
        "unreadable": ("Không đọc được", "Unreadable"),
        "storage": ("Lưu trữ", "Storage"),
        "data_dir": ("Thư mục dữ liệu", "Data directory"),
        "disk_free": ("Dung lượng trống", "Disk free"),
        "db_size": ("Kích thước cơ sở dữ liệu", "Database size"),
        "dead_letters": ("Thư chết (xem danh sách)", "Dead letters (see the list)"),
        "refreshed": (
            "Tự cập nhật mỗi {n} giây; lần cuối:",
            "Refreshes every {n} s; last:",
        ),
    }
)


def add_routes(router: APIRouter, console: Console) -> None:
    render, page_of = console.render, console.page_of
    overview, broker, peer_health = console.overview, console.broker, console.peer_health
    rates_of, facts = console.rates, console.facts

    async def live(request: Request, page: Page, span: str) -> str:
        ov = await run_in_threadpool(overview.get)
        rates = await run_in_threadpool(rates_of.get, span)
        queues = await read_queue_depths(broker)
        links = await run_in_threadpool(_read_links, peer_health)
        known = await run_in_threadpool(_read_facts, facts)
        return (
            _rates_body(page, rates)
            + _overview_body(page, ov, queues)
            + _links_body(page, links, ov.at)
            + _facts_body(page, known, ov.at)
        )

    @router.get(f"{PREFIX}/")
    async def home(request: Request, span: str = "day", refresh: int = REFRESH_S) -> Response:
        if not console.may(request, "watch") and console.may(request, "seal"):
            # A clerk lands on the one page it may use (the login sends everyone here).
            return RedirectResponse(f"{PREFIX}/seal", 303)
        if (refused := console.guard(request, "watch")) is not None:
            return refused
        span = span if span in SPANS else "day"
        every = max(REFRESH_RANGE_S[0], min(refresh, REFRESH_RANGE_S[1]))
        page = page_of(request)
        nonce = secrets.token_urlsafe(16)
        source = f"{PREFIX}/overview/live?span={span}&lang={page.lang}"
        body = (
            f'<p class="muted" id="refreshed">{page.t("refreshed", n=every)} '
            f'<span id="stamp">{when(dt.datetime.now(dt.UTC))}</span></p>'
            f'<div id="live">{await live(request, page, span)}</div>'
            f'<script nonce="{nonce}">{_refresh_script(source, every)}</script>'
        )
        head = f'<noscript><meta http-equiv="refresh" content="{every * 2}"></noscript>'
        html_text = layout(page, "overview", page.t("overview"), body, head=head)
        return render(request, html_text, script_nonce=nonce)

    @router.get(f"{PREFIX}/overview/live")
    async def live_part(request: Request, span: str = "day") -> Response:
        if (refused := console.guard(request, "watch")) is not None:
            return refused
        span = span if span in SPANS else "day"
        fragment = await live(request, page_of(request), span)
        return render(request, fragment)


def _refresh_script(source: str, every_s: int) -> str:
    # Swap the live part in place (no reload: scroll position, focus and the language stay);
    # skip while the tab is hidden; on a failure keep the last figures and try again later.
    return (
        "(function(){var src=" + _js_string(source) + ";"
        "function tick(){if(document.hidden)return;"
        "fetch(src,{credentials:'same-origin',headers:{'Accept':'text/html'}})"
        # a session that expired answers with the login page: reload to show it
        ".then(function(r){if(r.redirected){location.reload();throw r;}"
        "if(!r.ok)throw r;return r.text();})"
        ".then(function(t){document.getElementById('live').innerHTML=t;"
        "document.getElementById('stamp').textContent=new Date().toLocaleString();})"
        ".catch(function(){});}"
        f"setInterval(tick,{every_s * 1000});}})();"
    )


def _js_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("<", "\\u003c")
    return "'" + escaped + "'"


def _read_facts(read: Callable[[], ConsoleFacts] | None) -> ConsoleFacts | None:
    if read is None:
        return None
    try:
        return read()
    except HubError:
        return None  # the page still shows everything else


def _rates_body(page: Page, rates: Rates) -> str:
    spans = " · ".join(
        f'<a href="{PREFIX}/?span={s}"{" aria-current=page class=on" if s == rates.span else ""}>'
        f"{page.t('span_' + s)}</a>"
        for s in SPANS
    )
    charts = []
    for name in SERIES:
        label = f"{page.t('series_' + name)} — {page.t('span_' + rates.span)}"
        chart = bar_chart(
            rates.series[name], rates.window, label=label, css=name, chart_id=f"chart-{name}"
        )
        charts.append(
            f'<figure class="chartbox"><figcaption>{page.t("series_" + name)}: '
            f'<b data-series="{name}">{rates.total(name)}</b></figcaption>{chart}</figure>'
        )
    totals = table(
        [page.t("series_" + n) for n in SERIES],
        [[f'<span class="n">{rates.total(n)}</span>' for n in SERIES]],
        page,
    )
    return (
        f"<h2>{page.t('rates')}</h2><p>{spans}</p>"
        f'<div class="charts">{"".join(charts)}</div>{totals}'
    )


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
        for label, n, bad in cards[:3]
    ) + "".join(
        # the problem counters lead to their lists (redrive there)
        f'<a class="card{" bad" if n else ""}" href="{PREFIX}/deliveries?state={state}">'
        f'<div class="n" data-state="{state}">{n}</div><div class="l">{label}</div></a>'
        for (label, n, _), state in zip(
            cards[3:], ("undeliverable", "dead", "retry_wait"), strict=True
        )
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
    routes = table(
        [page.t("route"), page.t("waiting"), page.t("oldest_age")],
        [
            [
                e(r.route),
                f'<span class="n">{r.waiting}</span>',
                f"{when(r.oldest_at)} ({age(r.oldest_at, ov.at)})" if r.oldest_at else "—",
            ]
            for r in ov.waiting_by_route
        ],
        page,
    )
    waits = table(
        [page.t("system"), page.t("waiting"), page.t("since")],
        [
            [
                system_link(w.system_id),
                e(w.waiting),
                f"{when(w.oldest_at)} ({age(w.oldest_at, ov.at)})",
            ]
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
        f"<h2>{page.t('by_route')}</h2>{routes}"
        f"<h2>{page.t('oldest')}</h2>{waits}"
        f"<h2>{page.t('peers')}</h2>{peers}"
    )


def _links_body(page: Page, rows: Sequence[PeerHealth] | None, now: dt.datetime) -> str:
    """The peers section ("Kết nối liên thông"): breaker, failures, last success / error."""
    if rows is None:
        return ""
    listing = table(
        [
            page.t("peer"),
            page.t("kind_peer"),
            page.t("link_state"),
            page.t("failures"),
            page.t("last_ok"),
            page.t("last_error"),
            page.t("sync"),
        ],
        [
            [
                e(h.name),
                e(h.kind),
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


def _facts_body(page: Page, facts: ConsoleFacts | None, now: dt.datetime) -> str:
    """Certificate expiry (soonest first) and storage."""
    if facts is None:
        return ""
    rows = []
    soonest = sorted(facts.certificates, key=lambda c: (c.not_after is not None, c.not_after))
    for c in soonest:
        if c.not_after is None:
            left = f'<span class="bad">{page.t("unreadable")}: {e(c.problem)}</span>'
        else:
            days = (c.not_after - now).days
            if c.not_after <= now:
                left = f'<span class="bad">{page.t("expired")}</span>'
            else:
                css = "bad" if days < EXPIRY_WARN_DAYS else "ok"
                left = f'<span class="{css}" data-days="{days}">{days}</span>'
        rows.append(
            [
                page.t("role_" + c.role) if c.role in ("anchor", "seal", "receipt") else e(c.role),
                f"<code>{e(c.name)}</code>",
                e(c.subject or ""),
                when(c.not_after),
                left,
            ]
        )
    certs = table(
        [
            page.t("cert_role"),
            page.t("name"),
            page.t("cert_subject"),
            page.t("cert_expires"),
            page.t("cert_days"),
        ],
        rows,
        page,
    )
    storage = ""
    st = facts.storage
    if st is not None:
        free = (
            f"{_bytes(st.disk_free)} / {_bytes(st.disk_total)}"
            if st.disk_free is not None and st.disk_total is not None
            else "—"
        )
        storage = table(
            [page.t("data_dir"), page.t("disk_free"), page.t("db_size")],
            [
                [
                    f"<code>{e(st.data_dir)}</code>",
                    f'<span class="{_room(st.disk_free, st.disk_total)}" '
                    f'data-bytes="{e(st.disk_free)}">{free}</span>',
                    f'{e(st.database_kind)}: <span data-bytes="{e(st.database_bytes)}">'
                    f"{_bytes(st.database_bytes)}</span>"
                    + (f' <span class="bad">{e(st.problem)}</span>' if st.problem else ""),
                ]
            ],
            page,
        )
    return f"<h2>{page.t('certs')}</h2>{certs}<h2>{page.t('storage')}</h2>{storage}"


def _room(free: int | None, total: int | None) -> str:
    """``bad`` under :data:`DISK_WARN_FREE` of the file system free, else ``ok``."""
    if free is None or not total:
        return ""
    return "bad" if free / total < DISK_WARN_FREE else "ok"


def _bytes(n: int | None) -> str:
    if n is None:
        return "—"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
