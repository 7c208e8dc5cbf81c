"""Connected systems and agencies: the list (``/dashboard/systems``, never a secret), one
system (``/dashboard/systems/{id}``) and one agency code (``/dashboard/agencies/{code}``).

A system's page answers "why has the commune not received it?": how many wait in its inbox and
since when, when it last listed its inbox (a system that stopped polling), when it last took
something, what it sent and received, and its newest deliveries with their state and error —
each a link to the document's timeline. The agency page shows the same list for one recipient
code (as addressed, or as resolved after a merger) and which system hosts it here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from adapters.http.console.context import Console
from adapters.http.console.page import (
    PREFIX,
    VN_TIME,
    Page,
    add_texts,
    age,
    agency_link,
    doc_link,
    e,
    layout,
    pill,
    short,
    system_link,
    table,
    when,
)
from hub.errors import NotFound
from hub.services.activity import RecentDelivery

#: Deliveries listed on a system or agency page.
RECENT = 50

add_texts(
    {
        "last_pull": ("Lấy danh sách gần nhất", "Last inbox listing"),
        "last_fetch": ("Nhận văn bản gần nhất", "Last fetch"),
        "never": ("chưa", "never"),
        "sent": ("Đã gửi", "Sent"),
        "taken": ("Đã nhận", "Received"),
        "oldest_waiting": ("Chờ lâu nhất", "Oldest waiting"),
        "recent": ("Bản chuyển gần nhất", "Newest deliveries"),
        "created": ("Tạo lúc", "Created"),
        "fetched": ("Đã lấy lúc", "Fetched"),
        "agency": ("Cơ quan", "Agency"),
        "hosted_by": ("Hệ thống tiếp nhận", "Hosted by"),
        "not_hosted": ("Không có hệ thống nào ở trục này", "No system on this hub"),
        "not_in_registry": ("Không có trong danh mục", "Not in the registry"),
        "system_page": ("Hệ thống", "System"),
        "states": ("Bản chuyển theo trạng thái", "Deliveries by state"),
        "valid_to": ("Hết hiệu lực", "Closed on"),
        "successor": ("Mã kế thừa", "Successor code"),
        "deleted": ("đã xóa", "deleted"),
        "why_disabled": (
            "Hệ thống đang bị khóa: trục từ chối mọi yêu cầu của hệ thống này.",
            "The system is disabled: the hub refuses all its requests.",
        ),
        "why_not_polling": (
            "Có {n} văn bản đang chờ nhưng hệ thống không lấy danh sách văn bản đến "
            "từ {since}: kiểm tra phần mềm QLVB của đơn vị và đường kết nối tới trục.",
            "{n} documents wait but the system has not listed its inbox since {since}: "
            "check the agency's document system and its connection to the hub.",
        ),
        "why_never_polled": (
            "Có {n} văn bản đang chờ nhưng hệ thống chưa từng lấy danh sách văn bản đến: "
            "kiểm tra phần mềm QLVB của đơn vị và đường kết nối tới trục.",
            "{n} documents wait but the system has never listed its inbox: check the "
            "agency's document system and its connection to the hub.",
        ),
        "why_not_fetching": (
            "Hệ thống vẫn lấy danh sách nhưng có văn bản chờ từ {since}: kiểm tra nhật ký "
            "lỗi của phần mềm QLVB (văn bản bị báo lỗi hoặc không tải được).",
            "The system lists its inbox but a document has waited since {since}: check the "
            "document system's error log (a document it fails or cannot download).",
        ),
    }
)


def add_routes(router: APIRouter, console: Console) -> None:
    monitor = console.monitor
    render, page_of = console.render, console.page_of

    @router.get(f"{PREFIX}/systems")
    def systems(request: Request) -> Response:
        if (refused := console.guard(request, "watch")) is not None:
            return refused
        page = page_of(request)
        rows = [
            [
                system_link(s.id),
                e(s.name),
                ", ".join(agency_link(a) for a in s.agencies),
                f'<span class="{"ok" if s.enabled else "bad"}">'
                f"{page.t('yes') if s.enabled else page.t('no')}</span>",
                when(s.last_seen),
                when(s.last_pull),
            ]
            for s in monitor.systems()
        ]
        listing = table(
            [
                page.t("system"),
                page.t("name"),
                page.t("agencies"),
                page.t("enabled"),
                page.t("last_seen"),
                page.t("last_pull"),
            ],
            rows,
            page,
        )
        return render(request, layout(page, "systems", page.t("systems"), listing))

    @router.get(PREFIX + "/systems/{system_id}")
    async def system(request: Request, system_id: str) -> Response:
        if (refused := console.guard(request, "watch")) is not None:
            return refused
        page = page_of(request)
        try:
            view = await run_in_threadpool(monitor.system_activity, system_id, limit=RECENT)
        except NotFound:
            body = f'<p class="muted">{page.t("not_found")}</p>'
            return render(request, layout(page, "systems", page.t("system_page"), body), 404)
        now = view.at
        never = f'<span class="bad">{page.t("never")}</span>'
        cards = [
            ("waiting", str(view.waiting), view.waiting > 0 and view.oldest_waiting_at is not None),
            (
                "oldest_waiting",
                age(view.oldest_waiting_at, now) if view.oldest_waiting_at else "—",
                False,
            ),
            (
                "last_pull",
                age(view.last_pull_at, now) if view.last_pull_at else never,
                view.diagnosis == "not_polling",
            ),
            ("last_fetch", age(view.last_fetch_at, now) if view.last_fetch_at else never, False),
            ("taken", str(view.received), False),
            ("sent", str(view.sent), False),
        ]
        html_cards = "".join(
            f'<div class="card{" bad" if bad else ""}"><div class="n" data-card="{key}">{value}'
            f'</div><div class="l">{page.t(key)}</div></div>'
            for key, value, bad in cards
        )
        why = view.diagnosis
        since = view.last_pull_at if why == "not_polling" else view.oldest_waiting_at
        key = "never_polled" if why == "not_polling" and since is None else why
        warning = (
            f'<p class="error" role="status" data-diagnosis="{why}">⚠ '
            f"{page.t(f'why_{key}', n=view.waiting, since=_since(since))}</p>"
            if why
            else ""
        )
        facts = table(
            [page.t("name"), page.t("enabled"), page.t("agencies"), page.t("last_pull")],
            [
                [
                    e(view.name),
                    page.t("yes") if view.enabled else f'<span class="bad">{page.t("no")}</span>',
                    ", ".join(agency_link(a) for a in view.agencies) or "—",
                    when(view.last_pull_at),
                ]
            ],
            page,
        )
        states = table(
            [page.t("state"), page.t("count")],
            [
                [pill(page, state), f'<span class="n">{n}</span>']
                for state, n in sorted(view.by_state.items())
            ],
            page,
        )
        body = (
            f'{warning}<div class="cards">{html_cards}</div>{facts}'
            f"<h2>{page.t('states')}</h2>{states}"
            f"<h2>{page.t('recent')}</h2>{recent_table(page, view.recent)}"
        )
        title = f"{page.t('system_page')}: {view.system_id}"
        return render(request, layout(page, "systems", title, body))

    @router.get(PREFIX + "/agencies/{code}")
    async def agency(request: Request, code: str) -> Response:
        if (refused := console.guard(request, "watch")) is not None:
            return refused
        page = page_of(request)
        view = await run_in_threadpool(monitor.agency_activity, code, limit=RECENT)
        a = view.agency
        name = e(a.name) if a else f'<span class="bad">{page.t("not_in_registry")}</span>'
        if a is not None and a.deleted:
            name += f' <span class="bad">({page.t("deleted")})</span>'
        host = system_link(view.system_id) if view.system_id else page.t("not_hosted")
        # A closed code (the 2025 merger of communes) hands its mail to its successor.
        successor = agency_link(a.successor_code) if a and a.successor_code else "—"
        closed = e(a.valid_to.isoformat()) if a and a.valid_to else "—"
        facts = table(
            [
                page.t("agency"),
                page.t("name"),
                page.t("hosted_by"),
                page.t("valid_to"),
                page.t("successor"),
            ],
            [[f"<code>{e(code)}</code>", name, host, closed, successor]],
            page,
        )
        body = f"{facts}<h2>{page.t('recent')}</h2>{recent_table(page, view.recent)}"
        title = f"{page.t('agency')}: {code}"
        return render(request, layout(page, "systems", title, body))


def _since(at: dt.datetime | None) -> str:
    return at.astimezone(VN_TIME).strftime("%Y-%m-%d %H:%M") if at is not None else ""


def recent_table(page: Page, items: Sequence[RecentDelivery]) -> str:
    """Deliveries newest first: each leads to its document's timeline."""
    rows = []
    for item in items:
        d, doc = item.delivery, item.document
        recipient = agency_link(d.recipient_code)
        if d.resolved_code and d.resolved_code != d.recipient_code:
            recipient += " → " + agency_link(d.resolved_code)
        rows.append(
            [
                when(d.created_at),
                doc_link(d.doc_id, short_id=True) + f" {e(doc.subject if doc else '')}",
                f"{e(doc.sender_code)} ({e(doc.sender_system)})" if doc else "—",
                recipient,
                e(d.route) + (f" ({e(d.peer_name)})" if d.peer_name else ""),
                pill(page, d.state)
                + (f'<br><span class="bad">{e(d.last_error)}</span>' if d.last_error else ""),
                when(d.fetched_at),
                short(d.id),
            ]
        )
    return table(
        [
            page.t("created"),
            page.t("document"),
            page.t("sender"),
            page.t("recipient"),
            page.t("route"),
            page.t("state"),
            page.t("fetched"),
            page.t("delivery"),
        ],
        rows,
        page,
    )
