"""What every console page shares: language, translations, escaping, the layout and tables.

Server-rendered HTML, Vietnamese by default, English with ``?lang=en`` (remembered in a
cookie). Every value that reaches a page goes through :func:`e` (subjects, reasons and codes
come from outside: a Subject of ``<script>`` is shown, never run); the table and layout helpers
take cells that are already escaped, because cells may hold markup built here.

Texts are pairs (Vietnamese, English) keyed by a short name: the shared ones are below, a page
module adds its own with :func:`add_texts` (a key defined twice with different words is a
mistake and raises).
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import quote

from fastapi import Request

from adapters.http import admin_access
from hub.delivery import describe

PREFIX = "/dashboard"
LANG_COOKIE = "lienthong_lang"
VN_TIME = dt.timezone(dt.timedelta(hours=7), "ICT")  # times are shown in Vietnam's time (UTC+7)

# ------------------------------------------------------------------------------ language

TEXTS: dict[str, tuple[str, str]] = {
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
    "account": ("Tài khoản của tôi", "My account"),
    "login": ("Đăng nhập", "Log in"),
    "token": ("Mã quản trị", "Admin token"),
    "bad_token": ("Mã quản trị không đúng.", "Wrong admin token."),
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
    "not_allowed": (
        "Tài khoản này không có quyền: {action}.",
        "This account may not do this: {action}.",
    ),
    "forbidden": (
        "Chỉ truy cập được từ máy chủ (chưa cấu hình mã quản trị).",
        "Loopback clients only (no admin token is configured).",
    ),
    "csrf": ("Yêu cầu bị từ chối (kiểm tra nguồn gốc).", "Request refused (origin check)."),
    "other_lang": ("English", "Tiếng Việt"),
    "select": ("Chọn bản chuyển", "Select delivery"),
    "skip": ("Bỏ qua thanh điều hướng", "Skip to content"),
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


def add_texts(texts: Mapping[str, tuple[str, str]]) -> None:
    """Add a page module's (Vietnamese, English) texts to the shared table."""
    for key, pair in texts.items():
        if TEXTS.get(key, pair) != pair:
            raise ValueError(f"console text {key!r} is defined twice with different words")
        TEXTS[key] = pair


#: The navigation bar: (text key, href). Pages with an entry here are one click from any page.
NAV: list[tuple[str, str]] = [
    ("overview", f"{PREFIX}/"),
    ("undeliverable", f"{PREFIX}/deliveries?state=undeliverable"),
    ("dead", f"{PREFIX}/deliveries?state=dead"),
    ("retry_wait", f"{PREFIX}/deliveries?state=retry_wait"),
    ("log", f"{PREFIX}/log"),
    ("documents", f"{PREFIX}/documents"),
    ("seal", f"{PREFIX}/seal"),
    ("systems", f"{PREFIX}/systems"),
    ("audit", f"{PREFIX}/audit"),
    ("users", f"{PREFIX}/users"),
]
#: The right a menu entry needs beyond ``watch`` (an entry the operator may not use is hidden).
NAV_RIGHT: dict[str, str] = {"seal": "seal", "audit": "audit", "users": "accounts"}


def lang_of(request: Request) -> str:
    """``vi`` or ``en``: the ``lang`` query parameter, else the cookie, else Vietnamese."""
    asked = request.query_params.get("lang")
    if asked in ("vi", "en"):
        return asked
    return "en" if request.cookies.get(LANG_COOKIE) == "en" else "vi"


class Page:
    """Rendering context of one request: language, CSRF token, escaping helpers."""

    def __init__(self, request: Request, csrf: str, *, logout: bool) -> None:
        self.request = request
        self.lang = lang_of(request)
        self.csrf = csrf
        self.logout = logout  # a session to end (token mode); loopback mode has none

    def t(self, key: str, **kw: object) -> str:
        vi, en = TEXTS[key]
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
    return f'<span class="t">{e(at.astimezone(VN_TIME).strftime("%Y-%m-%d %H:%M:%S"))}</span>'


def age(at: dt.datetime | None, now: dt.datetime) -> str:
    if at is None:
        return ""
    s = int((now - at).total_seconds())
    text = (
        f"{s // 86400}d {s % 86400 // 3600}h" if s >= 86400 else f"{s // 3600}h {s % 3600 // 60}m"
    )
    return e(text if s >= 60 else f"{s}s")


CSS = """
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
.card .l{color:#4b5563;font-size:12px}
a.card{color:inherit;text-decoration:none;display:block}
a.card:hover .l{text-decoration:underline}
.card.bad .n{color:#b91c1c}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002;width:100%;
margin-bottom:8px}
th,td{padding:6px 10px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
th{background:#f9fafb;font-weight:600;font-size:12px;color:#4b5563}
td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:12px;word-break:break-all}
.muted{color:#4b5563}
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
a{color:#1d4ed8}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible{
outline:3px solid #2563eb;outline-offset:2px}
header a:focus-visible{outline-color:#fde68a}
.skip{position:absolute;left:-9999px}
.skip:focus{left:8px;top:8px;background:#fff;color:#1f2937;padding:6px 10px;z-index:9}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:12px}
.chartbox{background:#fff;margin:0;padding:8px 10px;border-radius:6px;box-shadow:0 1px 2px #0002}
.chartbox figcaption{font-size:13px;color:#374151}
svg.chart{width:100%;height:auto;display:block}
svg.chart .axis{stroke:#6b7280;stroke-width:1}
svg.chart .tick{font-size:11px;fill:#374151}
.bar.received{fill:#1d4ed8}.bar.delivered{fill:#047857}
.bar.refused{fill:#b45309}.bar.failed{fill:#b91c1c}
a.on{font-weight:600}
"""


def layout(
    page: Page, active: str, title: str, body: str, *, nav: bool = True, head: str = ""
) -> str:
    """The whole page: ``head`` is extra markup for ``<head>`` (already escaped)."""
    other = "en" if page.lang == "vi" else "vi"
    path = page.request.url.path
    links = ""
    if nav:
        access = admin_access.of(page.request.app)
        op = access.operator(page.request)
        links = "".join(
            f'<a href="{e(href)}"{" class=on" if key == active else ""}>{page.t(key)}</a>'
            for key, href in NAV
            if access.may(op, NAV_RIGHT.get(key, "watch"))
        )
        links += '<span class="sp"></span>'
        if op is not None and op.name not in (
            admin_access.TOKEN_OPERATOR.name,
            admin_access.LOOPBACK_OPERATOR.name,
        ):
            on = " class=on" if active == "account" else ""
            links += f'<a href="{PREFIX}/account"{on} title="{page.t("account")}">{e(op.name)}</a>'
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
        f"<title>{e(title)} · lienthong</title><style>{CSS}</style>{head}</head><body>"
        f'<a class="skip" href="#main">{page.t("skip")}</a>'
        f"<header><b>{page.t('title')}</b>{links}"
        f'<a href="{e(path)}?lang={other}" lang="{other}" hreflang="{other}">'
        f"{page.t('other_lang')}</a></header>"
        f'<main id="main"><h1>{e(title)}</h1>{body}</main></body></html>'
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], page: Page) -> str:
    """A table of already-escaped cells (callers escape: cells may hold markup we built)."""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="muted">{page.t("none")}</p>'
    head = "".join(f'<th scope="col">{h}</th>' for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def pill(page: Page, state: str) -> str:
    return f'<span class="pill {e(state)}" title="{e(state)}">{page.state(state)}</span>'


def short(identifier: str) -> str:
    """A uuid's first group, the whole value in the tooltip (lists stay readable)."""
    head = identifier[:8] + "…" if len(identifier) > 12 else identifier
    return f'<code title="{e(identifier)}">{e(head)}</code>'


def system_link(system_id: str) -> str:
    href = f"{PREFIX}/systems/{quote(system_id, safe='')}"
    return f'<a href="{e(href)}"><code>{e(system_id)}</code></a>'


def agency_link(code: str) -> str:
    href = f"{PREFIX}/agencies/{quote(code, safe='')}"
    return f'<a href="{e(href)}">{e(code)}</a>'


def doc_link(doc_id: str, *, short_id: bool = False) -> str:
    href = f"{PREFIX}/documents/{quote(doc_id, safe='')}"
    label = short(doc_id) if short_id else f"<code>{e(doc_id)}</code>"
    return f'<a href="{e(href)}">{label}</a>'
