"""Document search (``/dashboard/documents``) and a document's timeline
(``/dashboard/documents/{doc_id}``): header facts, verdicts, findings, every delivery's events."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from adapters.http.console.context import Console
from adapters.http.console.page import (
    PREFIX,
    TEXTS,
    Page,
    add_texts,
    doc_link,
    e,
    layout,
    pill,
    table,
    when,
)
from hub.errors import NotFound
from hub.services.monitor import DocumentView
from hub.services.trace import Trace

add_texts(
    {
        "timeline": ("Diễn biến qua các chặng", "Timeline across hops"),
        "tl_origin": ("Nhận từ trục/kết nối", "Taken from a peer"),
        "tl_accepted": ("Tiếp nhận", "Accepted"),
        "tl_delivery": ("Bản chuyển", "Delivery"),
        "tl_status": ("Trạng thái xử lý", "Business status"),
        "tl_remote": ("Trạng thái ở nơi nhận xa", "Remote state"),
        "tl_link": ("Liên quan tới", "Refers to"),
        "tl_related": ("Văn bản liên quan", "Related document"),
        "package": ("Gói tin gốc", "Package as received"),
        "attachments": ("Tệp đính kèm", "Attachments"),
        "evidence": ("Chứng cứ chuyển phát", "Delivery evidence"),
    }
)


def add_routes(router: APIRouter, console: Console) -> None:
    monitor = console.monitor
    render, page_of = console.render, console.page_of

    @router.get(f"{PREFIX}/documents")
    def documents(request: Request, q: str = "") -> Response:
        if (refused := console.guard(request, "watch")) is not None:
            return refused
        page = page_of(request)
        found = monitor.search(q) if q else []
        if len(found) == 1 and q.strip() in (found[0].id,):
            return RedirectResponse(f"{PREFIX}/documents/{quote(found[0].id, safe='')}", 303)
        form = (
            f'<form method="get" action="{PREFIX}/documents">'
            f'<label for="q">{page.t("search_hint")}</label><br>'
            f'<input type="text" id="q" name="q" value="{e(q)}"> '
            f"<button>{page.t('search')}</button></form>"
        )
        result = ""
        if q:
            result = table(
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
                        doc_link(d.id),
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
            layout(page, "documents", page.t("documents"), f"{form}<h2></h2>{result}"),
        )

    @router.get(PREFIX + "/documents/{doc_id}")
    def document(request: Request, doc_id: str) -> Response:
        if (refused := console.guard(request, "watch")) is not None:
            return refused
        page = page_of(request)
        try:
            view = monitor.document(doc_id)
            trace = next(t for t in monitor.trace(doc_id) if t.document.id == doc_id)
        except NotFound:
            body = f'<p class="muted">{page.t("not_found")}</p>'
            return render(request, layout(page, "documents", page.t("document"), body), 404)
        title = f"{page.t('document')}: {view.document.subject or view.document.id}"
        rights = (console.may(request, "download"), console.may(request, "evidence"))
        body = _document_body(page, view, trace, rights)
        return render(request, layout(page, "documents", title, body))


def _verdict_word(page: Page, verdicts: Mapping[str, Any]) -> str:
    """The package's three-way outcome as stored (rows stored before it existed have none)."""
    word = verdicts.get("verdict")
    if word not in ("valid", "invalid", "indeterminate"):
        return ""
    sub = verdicts.get("envelope_subindication")
    return f"<b>{page.t('verdict_' + word)}</b>" + (f" ({e(sub)})" if sub else "") + " — "


def _document_body(page: Page, view: DocumentView, trace: Trace, rights: tuple[bool, bool]) -> str:
    """The document's page; ``rights`` (may download, may see evidence) leaves out the links
    the operator's role may not follow (the pages refuse them anyway)."""
    may_download, may_evidence = rights
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
        facts.append((page.t("related"), doc_link(r.id) + f" {e(r.subject)}"))
    head = "<table>" + "".join(
        f'<tr><th scope="row">{k}</th><td>{val}</td></tr>' for k, val in facts
    )
    head += "</table>"
    base = f"{PREFIX}/documents/{quote(doc.id, safe='')}"
    anchors = []
    if may_download:
        anchors.append(f'<a href="{e(base)}/package" download>{page.t("package")}</a>')
        anchors.append(f'<a href="{e(base)}/attachments">{page.t("attachments")}</a>')
    if may_evidence:
        anchors.append(f'<a href="{e(base)}/evidence">{page.t("evidence")}</a>')
    links = f"<p>{' · '.join(anchors)}</p>" if anchors else ""
    parts = [links, head, f"<h2>{page.t('timeline')}</h2>", _timeline(page, trace)]
    for dv in view.deliveries:
        d = dv.delivery
        business = (
            f"{e(d.business_status)} {e(d.business_status_desc)} ({when(d.business_status_at)})"
            if d.business_status
            else "—"
        )
        parts.append(
            f"<h2>{page.t('delivery')} <code>{e(d.id)}</code> → "
            f"{e(d.resolved_code or d.recipient_code)} {pill(page, d.state)}</h2>"
            f'<p class="muted">{page.t("route")}: {e(d.route)} {e(d.peer_name or d.system_id)}'
            f" · {page.t('attempts')}: {e(d.attempts)} · {page.t('business')}: {business}</p>"
        )
        parts.append(
            table(
                [page.t("at"), page.t("state"), page.t("reason")],
                [
                    [
                        when(ev.at),
                        (pill(page, ev.from_state) + " → " if ev.from_state else "")
                        + pill(page, ev.to_state),
                        e(ev.reason),
                    ]
                    for ev in dv.events
                ],
                page,
            )
        )
    return "".join(parts)


def _timeline(page: Page, trace: Trace) -> str:
    """Every hop in one table, oldest first (:mod:`hub.services.trace`), labelled in the page's
    language; codes, states and ids as the wire has them."""
    rows = []
    for hop in trace.hops:
        if hop.kind == "verdicts":
            continue  # the facts table above shows them
        d = hop.details
        where = e(hop.recipient or "")
        if d.get("destination"):
            where += f' <span class="muted">{e(d.get("route"))} {e(d.get("destination"))}</span>'
        if hop.kind == "delivery":
            what = (pill(page, d["from_state"]) + " → " if d.get("from_state") else "") + pill(
                page, str(d.get("to_state") or "")
            )
            text = e(d.get("reason"))
        elif hop.kind == "status":
            what, text = "", e(str(d.get("reason") or "").removeprefix("status "))
        elif hop.kind == "remote":
            what = e(d.get("remote_status"))
            text = e(d.get("remote_status_desc"))
        elif hop.kind in ("link", "related"):
            what = e(d.get("action"))
            text = doc_link(str(d.get("doc_id")), short_id=True)
        elif hop.kind == "origin":
            what = e(d.get("outcome"))
            text = f"{e(d.get('peer'))}: <code>{e(d.get('remote_id'))}</code>"
        else:  # accepted
            what, text = "", f"{e(d.get('sender'))} ({e(d.get('sender_system'))})"
        label = f"tl_{hop.kind}"
        rows.append(
            [when(hop.at), page.t(label) if label in TEXTS else e(hop.kind), where, what, text]
        )
    return table(
        [page.t("at"), page.t("kind"), page.t("recipient"), page.t("state"), page.t("details")],
        rows,
        page,
    )
