"""The IT staff's web dashboard (``/dashboard/…``) and the hub's state gauges on ``/metrics``.

Server-rendered HTML, Vietnamese by default, English with ``?lang=en`` (remembered in a
cookie); no JS framework. Every value that reaches a page goes through :func:`html.escape`
(subjects, reasons and codes come from outside: a Subject of ``<script>`` is shown, never run).

Pages: overview (deliveries by state and route, queue depths, documents in the last hour/day,
oldest waiting delivery per system, failing peers); undeliverable / dead / retry_wait lists with
a **redrive** button; document search (DocId, DocumentId, sender) and a document's timeline;
connected systems (never a secret); the audit log (newest first, filter by actor/action).

Access (DESIGN.md §4) is the operators' one rule, :mod:`adapters.http.admin_access`, which
:func:`mount_dashboard` installs on the app so ``/metrics`` and ``/readyz`` follow it too:

* A request acts as an operator (a named account's session, the Bearer admin token, or — in
  the loopback-without-login mode — any loopback client); anyone else is sent to the login
  page (:mod:`adapters.http.console_login`: login, logout, the accounts page), or answered 403
  when no login exists at all.
* Each page checks the operator's role (:meth:`AdminAccess.may`): ``watch`` for the views,
  ``redrive`` for a redrive, ``audit`` for the audit log; a logged-in operator without the
  right gets 403 and a security event.
* State-changing forms (redrive, logout) are CSRF-safe twice over: the request must be
  same-origin (``Origin``, else ``Referer``, must match the host) and carry a form token bound
  to the session.

Every IT action is audited with the operator's name (:func:`actor_of`).

Metrics (registered in the app's registry by :func:`mount_dashboard`, collected on scrape from
the read model through a cache of ``cache_ttl_s`` seconds):

================================================  =============================================
``lienthong_deliveries{state,route}``             deliveries by state and route
``lienthong_documents_received_last_hour``        documents accepted in the last hour
``lienthong_documents_received_last_day``         documents accepted in the last 24 hours
``lienthong_inbox_oldest_age_seconds{system}``    age of the oldest ``available`` delivery
``lienthong_inbox_waiting{system}``               ``available`` deliveries per system
``lienthong_queue_messages{queue,status}``        broker depths (status: ready, delayed, dead)
``lienthong_broker_up``                           1 when the broker answered the last read
================================================  =============================================
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.http import admin_access
from adapters.http.admin_access import LOOPBACK_OPERATOR, TOKEN_OPERATOR, AdminAccess
from adapters.http.console_login import Kit, login_routes
from adapters.http.gate import read_capped
from hub.delivery import State, describe
from hub.errors import HubError, NotFound
from hub.messaging import Broker
from hub.ports import PeerHealth
from hub.security import emit
from hub.services.accounts import Accounts
from hub.services.monitor import (
    PROBLEM_STATES,
    CachedOverview,
    Monitor,
    Overview,
    QueueDepths,
    read_queue_depths,
)

PREFIX = "/dashboard"
LANG_COOKIE = "lienthong_lang"
_FORM_CAP = 64 * 1024
_VN = dt.timezone(dt.timedelta(hours=7), "ICT")  # times are shown in Vietnam's time (UTC+7)

# ------------------------------------------------------------------------------ language

_T: dict[str, tuple[str, str]] = {
    "title": ("Trục liên thông — quản trị", "Interchange hub — operations"),
    "overview": ("Tổng quan", "Overview"),
    "undeliverable": ("Không chuyển được", "Undeliverable"),
    "dead": ("Thất bại", "Dead"),
    "retry_wait": ("Chờ thử lại", "Retrying"),
    "documents": ("Tra cứu văn bản", "Documents"),
    "systems": ("Hệ thống kết nối", "Systems"),
    "audit": ("Nhật ký", "Audit log"),
    "users": ("Tài khoản", "Accounts"),
    "logout": ("Đăng xuất", "Log out"),
    "login": ("Đăng nhập", "Log in"),
    "by_state": ("Bản chuyển theo trạng thái và tuyến", "Deliveries by state and route"),
    "state": ("Trạng thái", "State"),
    "route": ("Tuyến", "Route"),
    "count": ("Số lượng", "Count"),
    "queues": ("Hàng đợi", "Queues"),
    "queue": ("Hàng đợi", "Queue"),
    "ready": ("Sẵn sàng", "Ready"),
    "delayed": ("Hẹn lại", "Delayed"),
    "broker_down": ("Không đọc được hàng đợi", "Broker not answering"),
    "docs_hour": ("Văn bản trong 1 giờ", "Documents, last hour"),
    "docs_day": ("Văn bản trong 24 giờ", "Documents, last 24 h"),
    "oldest": ("Văn bản chờ lâu nhất theo hệ thống", "Oldest waiting delivery per system"),
    "system": ("Hệ thống", "System"),
    "waiting": ("Đang chờ", "Waiting"),
    "since": ("Từ lúc", "Since"),
    "peers": ("Đích chuyển tiếp đang lỗi", "Failing destinations"),
    "peer": ("Đích", "Destination"),
    "none": ("Không có.", "None."),
    "delivery": ("Bản chuyển", "Delivery"),
    "document": ("Văn bản", "Document"),
    "recipient": ("Nơi nhận", "Recipient"),
    "sender": ("Nơi gửi", "Sender"),
    "subject": ("Trích yếu", "Subject"),
    "reason": ("Lý do", "Reason"),
    "attempts": ("Số lần", "Attempts"),
    "updated": ("Cập nhật", "Updated"),
    "redrive": ("Chuyển lại", "Redrive"),
    "redrive_selected": ("Chuyển lại các bản đã chọn", "Redrive selected"),
    "redriven": ("Đã chuyển lại {n} bản.", "{n} deliveries redriven."),
    "search": ("Tìm", "Search"),
    "search_hint": (
        "DocId, mã văn bản (DocumentId), mã cơ quan gửi hoặc hệ thống gửi",
        "DocId, DocumentId, sender agency code or sender system",
    ),
    "not_found": ("Không tìm thấy.", "Nothing found."),
    "received": ("Tiếp nhận", "Received"),
    "kind": ("Loại", "Kind"),
    "code": ("Số, ký hiệu", "Number/notation"),
    "verdicts": ("Kết quả kiểm tra chữ ký", "Signature verdicts"),
    "verdict_valid": ("HỢP LỆ", "VALID"),
    "verdict_invalid": ("KHÔNG HỢP LỆ", "INVALID"),
    "verdict_indeterminate": ("CHƯA XÁC ĐỊNH ĐƯỢC", "INDETERMINATE"),
    "problems": ("Cảnh báo hồ sơ", "Profile findings"),
    "flags": ("Gắn cờ", "Flags"),
    "business": ("Trạng thái xử lý", "Business status"),
    "events": ("Diễn biến", "Events"),
    "related": ("Văn bản liên quan", "Related document"),
    "name": ("Tên", "Name"),
    "agencies": ("Cơ quan", "Agencies"),
    "enabled": ("Hoạt động", "Enabled"),
    "last_seen": ("Hoạt động gần nhất", "Last seen"),
    "yes": ("có", "yes"),
    "no": ("không", "no"),
    "at": ("Thời điểm", "At"),
    "actor": ("Người thực hiện", "Actor"),
    "action": ("Thao tác", "Action"),
    "outcome": ("Kết quả", "Outcome"),
    "details": ("Chi tiết", "Details"),
    "filter": ("Lọc", "Filter"),
    "denied": ("Tài khoản của bạn không có quyền này.", "Your account may not do this."),
    "forbidden": (
        "Chỉ truy cập được từ máy chủ (chưa cấu hình mã quản trị).",
        "Loopback clients only (no admin token is configured).",
    ),
    "csrf": ("Yêu cầu bị từ chối (kiểm tra nguồn gốc).", "Request refused (origin check)."),
    "other_lang": ("English", "Tiếng Việt"),
    "links": ("Kết nối liên thông", "Connections to other hubs"),
    "link_state": ("Trạng thái kết nối", "Connection"),
    "failures": ("Lỗi liên tiếp", "Failures in a row"),
    "last_ok": ("Thành công gần nhất", "Last success"),
    "last_error": ("Lỗi gần nhất", "Last error"),
    "sync": ("Đồng bộ danh mục", "Registry sync"),
    "closed": ("bình thường", "up"),
    "half_open": ("đang thử lại", "probing"),
    "open": ("tạm ngắt", "circuit open"),
}


def _lang(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in ("vi", "en"):
        return asked
    return "en" if request.cookies.get(LANG_COOKIE) == "en" else "vi"


class _Page:
    """Rendering context of one request: language, CSRF token, escaping helpers."""

    def __init__(self, request: Request, csrf: str, *, logout: bool) -> None:
        self.request = request
        self.lang = _lang(request)
        self.csrf = csrf
        self.logout = logout  # a session to end (token mode); loopback mode has none

    def t(self, key: str, **kw: object) -> str:
        vi, en = _T[key]
        text = en if self.lang == "en" else vi
        return html.escape(text.format(**kw) if kw else text)

    def state(self, state: str) -> str:
        return html.escape(describe(state) if self.lang == "vi" else state)

    def form_token(self) -> str:
        return f'<input type="hidden" name="csrf" value="{e(self.csrf)}">'


def e(value: object) -> str:
    """Escape anything for HTML text and attribute values (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)


def when(at: dt.datetime | None) -> str:
    if at is None:
        return "—"
    return f'<span class="t">{e(at.astimezone(_VN).strftime("%Y-%m-%d %H:%M:%S"))}</span>'


def age(at: dt.datetime | None, now: dt.datetime) -> str:
    if at is None:
        return ""
    s = int((now - at).total_seconds())
    text = (
        f"{s // 86400}d {s % 86400 // 3600}h" if s >= 86400 else f"{s // 3600}h {s % 3600 // 60}m"
    )
    return e(text if s >= 60 else f"{s}s")


_CSS = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,"Segoe UI",Roboto,sans-serif;color:#1f2937;
background:#f3f4f6}
header{background:#7f1d1d;color:#fff;padding:10px 24px;display:flex;align-items:center;
gap:18px;flex-wrap:wrap}
.t{white-space:nowrap}
header b{font-size:16px}
header a{color:#fde68a;text-decoration:none;white-space:nowrap}
header a.on{color:#fff;font-weight:600;border-bottom:2px solid #fde68a}
header .sp{flex:1}
main{padding:18px 24px;max-width:1280px}
h1{font-size:20px;margin:4px 0 14px}
h2{font-size:15px;margin:18px 0 8px;color:#374151}
.cards{display:flex;gap:14px;flex-wrap:wrap}
.card{background:#fff;border-radius:6px;padding:12px 16px;box-shadow:0 1px 2px #0002;
min-width:150px}
.card .n{font-size:24px;font-weight:600}
.card .l{color:#6b7280;font-size:12px}
.card.bad .n{color:#b91c1c}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002;width:100%;
margin-bottom:8px}
th,td{padding:6px 10px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
th{background:#f9fafb;font-weight:600;font-size:12px;color:#4b5563}
td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:12px;word-break:break-all}
.muted{color:#6b7280}
.ok{color:#047857}
.bad{color:#b91c1c}
.pill{display:inline-block;padding:1px 8px;border-radius:10px;background:#e5e7eb;
font-size:12px}
.pill.dead,.pill.undeliverable{background:#fee2e2;color:#991b1b}
.pill.retry_wait{background:#fef3c7;color:#92400e}
.pill.done,.pill.forwarded{background:#d1fae5;color:#065f46}
button{background:#7f1d1d;color:#fff;border:0;border-radius:4px;padding:5px 12px;
cursor:pointer;white-space:nowrap}
button.small{padding:2px 8px;font-size:12px}
input[type=text],input[type=password]{padding:5px 8px;border:1px solid #d1d5db;
border-radius:4px;min-width:260px}
.flash{background:#d1fae5;padding:8px 12px;border-radius:4px;margin-bottom:12px}
.error{background:#fee2e2;padding:8px 12px;border-radius:4px;margin-bottom:12px}
form.inline{display:inline}
pre{white-space:pre-wrap;font-size:12px;margin:0}
"""


def _layout(page: _Page, active: str, title: str, body: str, *, nav: bool = True) -> str:
    other = "en" if page.lang == "vi" else "vi"
    path = page.request.url.path
    links = ""
    if nav:
        items = [
            ("overview", f"{PREFIX}/"),
            ("undeliverable", f"{PREFIX}/deliveries?state=undeliverable"),
            ("dead", f"{PREFIX}/deliveries?state=dead"),
            ("retry_wait", f"{PREFIX}/deliveries?state=retry_wait"),
            ("documents", f"{PREFIX}/documents"),
            ("systems", f"{PREFIX}/systems"),
            ("audit", f"{PREFIX}/audit"),
        ]
        access = admin_access.of(page.request.app)
        if access.may(access.operator(page.request), "accounts"):
            items.append(("users", f"{PREFIX}/users"))
        links = "".join(
            f'<a href="{e(href)}"{" class=on" if key == active else ""}>{page.t(key)}</a>'
            for key, href in items
        )
        links += '<span class="sp"></span>'
        links += (
            f'<form class="inline" method="post" '
            f'action="{PREFIX}/logout">{page.form_token()}'
            f'<button class="small">{page.t("logout")}</button></form>'
            if page.logout
            else ""
        )
    else:
        links = '<span class="sp"></span>'
    return (
        f'<!doctype html><html lang="{page.lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)} · lienthong</title><style>{_CSS}</style></head><body>"
        f"<header><b>{page.t('title')}</b>{links}"
        f'<a href="{e(path)}?lang={other}">{page.t("other_lang")}</a></header>'
        f"<main><h1>{e(title)}</h1>{body}</main></body></html>"
    )


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], page: _Page) -> str:
    """A table of already-escaped cells (callers escape: cells may hold markup we built)."""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="muted">{page.t("none")}</p>'
    head = "".join(f"<th>{h}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pill(page: _Page, state: str) -> str:
    return f'<span class="pill {e(state)}" title="{e(state)}">{page.state(state)}</span>'


def _short(identifier: str) -> str:
    """A uuid's first group, the whole value in the tooltip (lists stay readable)."""
    head = identifier[:8] + "…" if len(identifier) > 12 else identifier
    return f'<code title="{e(identifier)}">{e(head)}</code>'


def _doc_link(doc_id: str, *, short: bool = False) -> str:
    href = f"{PREFIX}/documents/{quote(doc_id, safe='')}"
    label = _short(doc_id) if short else f"<code>{e(doc_id)}</code>"
    return f'<a href="{e(href)}">{label}</a>'


# -------------------------------------------------------------------------------- pages


def _overview_body(page: _Page, ov: Overview, queues: QueueDepths) -> str:
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
    states = _table(
        [page.t("state"), page.t("route"), page.t("count")],
        [
            [_pill(page, s), e(r), f'<span class="n">{n}</span>']
            for (s, r), n in sorted(ov.by_state_route.items())
        ],
        page,
    )
    if queues.error is not None:
        q = f'<p class="error">{page.t("broker_down")}: {e(queues.error)}</p>'
    else:
        q = _table(
            [page.t("queue"), page.t("ready"), page.t("delayed"), page.t("dead")],
            [
                [f"<code>{e(s.queue)}</code>", e(s.ready), e(s.delayed), e(s.dead)]
                for s in queues.stats
            ],
            page,
        )
    waits = _table(
        [page.t("system"), page.t("waiting"), page.t("since")],
        [
            [e(w.system_id), e(w.waiting), f"{when(w.oldest_at)} ({age(w.oldest_at, ov.at)})"]
            for w in ov.oldest_waiting
        ],
        page,
    )
    peers = _table(
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


def _links_body(page: _Page, rows: Sequence[PeerHealth] | None, now: dt.datetime) -> str:
    """The peers section ("Kết nối liên thông"): breaker, failures, last success / error."""
    if rows is None:
        return ""
    table = _table(
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
    return f"<h2>{page.t('links')}</h2>{table}"


def _deliveries_body(page: _Page, state: str, items: Sequence[Any], flash: str) -> str:
    redrivable = any(i.redrivable for i in items)
    rows = []
    for i in items:
        d = i.delivery
        check = (
            f'<input type="checkbox" name="id" value="{e(d.id)}" form="bulk">'
            if i.redrivable
            else ""
        )
        button = (
            f'<form class="inline" method="post" action="{PREFIX}/redrive">{page.form_token()}'
            f'<input type="hidden" name="id" value="{e(d.id)}">'
            f'<input type="hidden" name="back" value="{e(state)}">'
            f'<button class="small">{page.t("redrive")}</button></form>'
            if i.redrivable
            else ""
        )
        rows.append(
            [
                check,
                _short(d.id),
                _doc_link(d.doc_id, short=True),
                e(i.sender_code),
                e(d.resolved_code or d.recipient_code),
                e(d.route) + (f" ({e(d.peer_name)})" if d.peer_name else ""),
                e(i.subject),
                f'<span class="bad">{e(d.last_error)}</span>',
                e(d.attempts),
                when(d.updated_at),
                button,
            ]
        )
    table = _table(
        [
            "",
            page.t("delivery"),
            page.t("document"),
            page.t("sender"),
            page.t("recipient"),
            page.t("route"),
            page.t("subject"),
            page.t("reason"),
            page.t("attempts"),
            page.t("updated"),
            "",
        ],
        rows,
        page,
    )
    bulk = (
        f'<form id="bulk" method="post" action="{PREFIX}/redrive">{page.form_token()}'
        f'<input type="hidden" name="back" value="{e(state)}">'
        f"<button>{page.t('redrive_selected')}</button></form>"
        if redrivable
        else ""
    )
    flash_html = f'<p class="flash">{flash}</p>' if flash else ""
    return f"{flash_html}{table}{bulk}"


def _verdict_word(page: _Page, verdicts: dict[str, Any]) -> str:
    """The package's three-way outcome as stored (rows stored before it existed have none)."""
    word = verdicts.get("verdict")
    if word not in ("valid", "invalid", "indeterminate"):
        return ""
    sub = verdicts.get("envelope_subindication")
    return f"<b>{page.t('verdict_' + word)}</b>" + (f" ({e(sub)})" if sub else "") + " — "


def _document_body(page: _Page, view: Any) -> str:
    doc = view.document
    v = doc.verdicts or {}
    facts = [
        ("DocId", f"<code>{e(doc.id)}</code>"),
        ("DocumentId", f"<code>{e(doc.document_id)}</code>"),
        (page.t("kind"), e(doc.kind)),
        (page.t("sender"), f"{e(doc.sender_code)} ({e(doc.sender_system)})"),
        (page.t("subject"), e(doc.subject)),
        (page.t("code"), e("/".join(x for x in (doc.code_number, doc.code_notation) if x))),
        (page.t("received"), when(doc.received_at)),
        (
            page.t("verdicts"),
            _verdict_word(page, v)
            + f"envelope: <b>{e(v.get('envelope'))}</b>, PDF: {e(v.get('pdf_checked', 0))} "
            f"/ bad {e(v.get('pdf_bad', 0))}",
        ),
        (page.t("flags"), e(", ".join(doc.flags)) or "—"),
    ]
    if doc.problems:
        facts.append(
            (
                page.t("problems"),
                "<pre>"
                + e(json.dumps(list(doc.problems), ensure_ascii=False, indent=1))
                + "</pre>",
            )
        )
    for r in view.related:
        facts.append((page.t("related"), _doc_link(r.id) + f" {e(r.subject)}"))
    head = "<table>" + "".join(f"<tr><th>{k}</th><td>{val}</td></tr>" for k, val in facts)
    head += "</table>"
    parts = [head]
    for dv in view.deliveries:
        d = dv.delivery
        business = (
            f"{e(d.business_status)} {e(d.business_status_desc)} ({when(d.business_status_at)})"
            if d.business_status
            else "—"
        )
        parts.append(
            f"<h2>{page.t('delivery')} <code>{e(d.id)}</code> → "
            f"{e(d.resolved_code or d.recipient_code)} {_pill(page, d.state)}</h2>"
            f'<p class="muted">{page.t("route")}: {e(d.route)} {e(d.peer_name or d.system_id)}'
            f" · {page.t('attempts')}: {e(d.attempts)} · {page.t('business')}: {business}</p>"
        )
        parts.append(
            _table(
                [page.t("at"), page.t("state"), page.t("reason")],
                [
                    [
                        when(ev.at),
                        (_pill(page, ev.from_state) + " → " if ev.from_state else "")
                        + _pill(page, ev.to_state),
                        e(ev.reason),
                    ]
                    for ev in dv.events
                ],
                page,
            )
        )
    return "".join(parts)


# ------------------------------------------------------------------------------ security


def actor_of(request: Request) -> str:
    """Who acts, as audited: a person's account name; the shared identities (``admin-token``,
    ``loopback``) and nobody (``anonymous``) with the client's address."""
    op = admin_access.of(request.app).operator(request)
    if op is not None and op.name not in (TOKEN_OPERATOR.name, LOOPBACK_OPERATOR.name):
        return op.name
    name = op.name if op is not None else "anonymous"
    return f"{name}@{request.client.host if request.client else '-'}"


def _security_event(event: str, category: str, request: Request, **fields: Any) -> None:
    emit(
        event,
        category,
        remote=request.client.host if request.client else None,
        path=request.url.path,
        **fields,
    )


# --------------------------------------------------------------------------------- metrics


class _LoopHolder:
    """Remembers the server's event loop (seen on the first request) for the collector."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None


class _CaptureLoop:
    """Pure ASGI pass-through that records the running loop once (no per-request cost)."""

    def __init__(self, app: ASGIApp, holder: _LoopHolder) -> None:
        self.app = app
        self.holder = holder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.holder.loop is None:
            self.holder.loop = asyncio.get_running_loop()
        await self.app(scope, receive, send)


class HubCollector(Collector):
    """The gauges of the module docstring, read on scrape (cached ``ttl_s``)."""

    def __init__(
        self, overview: CachedOverview, queues: Callable[[], QueueDepths | None], ttl_s: float
    ) -> None:
        self._overview = overview
        self._queues = queues
        self._ttl = ttl_s
        self._q: QueueDepths | None = None
        self._q_at = 0.0

    def describe(self) -> list[Metric]:
        return []  # no read at registration time

    def collect(self) -> Iterator[Metric]:
        ov = self._overview.get()
        g = GaugeMetricFamily(
            "lienthong_deliveries", "Deliveries by state and route", labels=["state", "route"]
        )
        for (state, route), n in sorted(ov.by_state_route.items()):
            g.add_metric([state, route], n)
        yield g
        yield GaugeMetricFamily(
            "lienthong_documents_received_last_hour",
            "Documents accepted in the last hour",
            value=ov.documents_last_hour,
        )
        yield GaugeMetricFamily(
            "lienthong_documents_received_last_day",
            "Documents accepted in the last 24 hours",
            value=ov.documents_last_day,
        )
        oldest = GaugeMetricFamily(
            "lienthong_inbox_oldest_age_seconds",
            "Age of the oldest available delivery per system",
            labels=["system"],
        )
        waiting = GaugeMetricFamily(
            "lienthong_inbox_waiting", "Available deliveries per system", labels=["system"]
        )
        for w in ov.oldest_waiting:
            oldest.add_metric([w.system_id], (ov.at - w.oldest_at).total_seconds())
            waiting.add_metric([w.system_id], w.waiting)
        yield oldest
        yield waiting
        if self._q is None or time.monotonic() - self._q_at > self._ttl:
            self._q = self._queues()
            self._q_at = time.monotonic()
        if self._q is not None:
            depth = GaugeMetricFamily(
                "lienthong_queue_messages",
                "Broker queue depths",
                labels=["queue", "status"],
            )
            for s in self._q.stats:
                depth.add_metric([s.queue, "ready"], s.ready)
                depth.add_metric([s.queue, "delayed"], s.delayed)
                depth.add_metric([s.queue, "dead"], s.dead)
            yield depth
            yield GaugeMetricFamily(
                "lienthong_broker_up",
                "1 when the broker answered the last depth read",
                value=0 if self._q.error else 1,
            )


def _read_links(read: Callable[[], Sequence[PeerHealth]] | None) -> Sequence[PeerHealth] | None:
    if read is None:
        return None
    try:
        return read()
    except HubError:
        return None  # the page still shows everything else


def _queue_reader(broker: Broker, holder: _LoopHolder) -> Callable[[], QueueDepths | None]:
    def read() -> QueueDepths | None:
        loop = holder.loop
        if loop is None or loop.is_closed() or not loop.is_running():
            return None
        try:
            if asyncio.get_running_loop() is loop:
                return None  # called on the loop itself: waiting here would deadlock it
        except RuntimeError:
            pass
        future = asyncio.run_coroutine_threadsafe(read_queue_depths(broker), loop)
        try:
            return future.result(timeout=3)
        except TimeoutError:
            future.cancel()
            return QueueDepths((), "timeout")

    return read


# ----------------------------------------------------------------------------------- mount


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
    accounts: Accounts | None = None,
    loopback_without_login: bool | None = None,
) -> None:
    """Add the dashboard routes (ahead of the VXP catch-all) and the gauges to ``registry``, and
    install the operators' access rule for ``admin_token`` on ``app`` (``/metrics``, ``/readyz``
    follow it). ``clock`` (epoch seconds) dates the admin-token sessions; ``accounts`` are the
    named accounts (their login, logout and page: :mod:`adapters.http.console_login`);
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
    holder = _LoopHolder()
    router = APIRouter(include_in_schema=False)

    def render(request: Request, html_text: str, status: int = 200) -> HTMLResponse:
        response = HTMLResponse(html_text, status)
        asked = request.query_params.get("lang")
        if asked in ("vi", "en"):
            response.set_cookie(LANG_COOKIE, asked, max_age=365 * 86400, samesite="strict")
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
        )
        return response

    def page_of(request: Request) -> _Page:
        return _Page(request, access.csrf_for(request), logout=access.token_required)

    def refuse(request: Request) -> Response:
        op = access.operator(request)
        page = page_of(request)
        if op is not None:  # logged in, but the role does not allow it
            _security_event("console_refused", "access_refused", request, actor=op.name)
            body = f'<p class="error" role="alert">{page.t("denied")}</p>'
            return render(request, _layout(page, "", page.t("title"), body), 403)
        if access.login_enabled:
            return RedirectResponse(f"{PREFIX}/login", 303)
        _security_event("dashboard_refused", "access_refused", request, reason="not loopback")
        body = f'<p class="error">{page.t("forbidden")}</p>'
        return render(request, _layout(page, "", page.t("title"), body, nav=False), 403)

    async def form_of(request: Request) -> dict[str, list[str]]:
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

    def csrf_refused(request: Request) -> Response:
        _security_event("dashboard_csrf_refused", "csrf_refused", request)
        monitor.record(actor_of(request), "dashboard.csrf", request.url.path, "csrf.refused")
        page = page_of(request)
        body = f'<p class="error">{page.t("csrf")}</p>'
        return render(request, _layout(page, "", page.t("title"), body, nav=False), 403)

    @router.get("/")
    def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", 307)

    @router.get(PREFIX)
    def bare() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", 307)

    kit = Kit(render, page_of, _layout, form_of, csrf_refused)
    router.routes.extend(login_routes(access, monitor, accounts, kit).routes)

    @router.get(f"{PREFIX}/")
    async def home(request: Request) -> Response:
        if not access.allowed(request):
            return refuse(request)
        ov = await run_in_threadpool(overview.get)
        queues = await read_queue_depths(broker)
        links = await run_in_threadpool(_read_links, peer_health)
        page = page_of(request)
        body = _overview_body(page, ov, queues) + _links_body(page, links, ov.at)
        return render(request, _layout(page, "overview", page.t("overview"), body))

    @router.get(f"{PREFIX}/deliveries")
    def deliveries(request: Request, state: str = "undeliverable", moved: int = -1) -> Response:
        if not access.allowed(request):
            return refuse(request)
        page = page_of(request)
        try:
            items = monitor.deliveries(state, limit=200)
        except ValueError:
            return render(request, _layout(page, "", e(state), page.t("none")), 404)
        flash = page.t("redriven", n=moved) if moved >= 0 else ""
        title = page.t(state) if state in _T else page.state(state)
        body = _deliveries_body(page, state, items, flash)
        return render(request, _layout(page, state, title, body))

    @router.post(f"{PREFIX}/redrive")
    async def redrive(request: Request) -> Response:
        if not access.allowed(request, "redrive"):
            return refuse(request)
        form = await form_of(request)
        if not access.csrf_ok(request, (form.get("csrf") or [""])[0]):
            return await run_in_threadpool(csrf_refused, request)
        ids = form.get("id", [])[:500]
        moved = await run_in_threadpool(monitor.redrive, ids, actor=actor_of(request))
        back = (form.get("back") or ["undeliverable"])[0]
        back = back if back in {s.value for s in State} else "undeliverable"
        return RedirectResponse(f"{PREFIX}/deliveries?state={back}&moved={len(moved)}", 303)

    @router.get(f"{PREFIX}/documents")
    def documents(request: Request, q: str = "") -> Response:
        if not access.allowed(request):
            return refuse(request)
        page = page_of(request)
        found = monitor.search(q) if q else []
        if len(found) == 1 and q.strip() in (found[0].id,):
            return RedirectResponse(f"{PREFIX}/documents/{quote(found[0].id, safe='')}", 303)
        form = (
            f'<form method="get" action="{PREFIX}/documents">'
            f'<input type="text" name="q" value="{e(q)}" placeholder="{page.t("search_hint")}"> '
            f"<button>{page.t('search')}</button></form>"
        )
        result = ""
        if q:
            result = _table(
                [
                    "DocId",
                    "DocumentId",
                    page.t("kind"),
                    page.t("sender"),
                    page.t("subject"),
                    page.t("received"),
                ],
                [
                    [
                        _doc_link(d.id),
                        e(d.document_id),
                        e(d.kind),
                        f"{e(d.sender_code)} ({e(d.sender_system)})",
                        e(d.subject),
                        when(d.received_at),
                    ]
                    for d in found
                ],
                page,
            )
            if not found:
                result = f'<p class="muted">{page.t("not_found")}</p>'
        return render(
            request,
            _layout(page, "documents", page.t("documents"), f"{form}<h2></h2>{result}"),
        )

    @router.get(PREFIX + "/documents/{doc_id}")
    def document(request: Request, doc_id: str) -> Response:
        if not access.allowed(request):
            return refuse(request)
        page = page_of(request)
        try:
            view = monitor.document(doc_id)
        except NotFound:
            body = f'<p class="muted">{page.t("not_found")}</p>'
            return render(request, _layout(page, "documents", page.t("document"), body), 404)
        title = f"{page.t('document')}: {view.document.subject or view.document.id}"
        return render(request, _layout(page, "documents", title, _document_body(page, view)))

    @router.get(f"{PREFIX}/systems")
    def systems(request: Request) -> Response:
        if not access.allowed(request):
            return refuse(request)
        page = page_of(request)
        rows = [
            [
                f"<code>{e(s.id)}</code>",
                e(s.name),
                e(", ".join(s.agencies)),
                f'<span class="{"ok" if s.enabled else "bad"}">'
                f"{page.t('yes') if s.enabled else page.t('no')}</span>",
                when(s.last_seen),
            ]
            for s in monitor.systems()
        ]
        table = _table(
            [
                page.t("system"),
                page.t("name"),
                page.t("agencies"),
                page.t("enabled"),
                page.t("last_seen"),
            ],
            rows,
            page,
        )
        return render(request, _layout(page, "systems", page.t("systems"), table))

    @router.get(f"{PREFIX}/audit")
    def audit(request: Request, actor: str = "", action: str = "", limit: int = 200) -> Response:
        if not access.allowed(request, "audit"):
            return refuse(request)
        page = page_of(request)
        rows = monitor.audit(actor=actor, action=action, limit=max(1, min(limit, 1000)))
        form = (
            f'<form method="get" action="{PREFIX}/audit">'
            f'<input type="text" name="actor" value="{e(actor)}" placeholder="{page.t("actor")}"> '
            f'<input type="text" name="action" value="{e(action)}" '
            f'placeholder="{page.t("action")}"> <button>{page.t("filter")}</button></form><h2></h2>'
        )
        table = _table(
            [
                page.t("at"),
                page.t("actor"),
                page.t("action"),
                "",
                page.t("outcome"),
                page.t("details"),
            ],
            [
                [
                    when(r.at),
                    e(r.actor),
                    e(r.action),
                    f"<code>{e(r.subject)}</code>",
                    f'<span class="{"ok" if r.outcome == "ok" else "bad"}">{e(r.outcome)}</span>',
                    f"<code>{e(json.dumps(dict(r.details), ensure_ascii=False))}</code>",
                ]
                for r in rows
            ],
            page,
        )
        return render(request, _layout(page, "audit", page.t("audit"), form + table))

    # Ahead of the VXP catch-all (which routes any other path on its last segment).
    app.router.routes[0:0] = router.routes
    app.add_middleware(_CaptureLoop, holder=holder)
    if registry is not None:
        registry.register(HubCollector(overview, _queue_reader(broker, holder), cache_ttl_s))
