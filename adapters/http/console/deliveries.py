"""The problem lists (``/dashboard/deliveries?state=…``) and the redrive action."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from adapters.http.console.context import Console, actor_of
from adapters.http.console.page import (
    PREFIX,
    TEXTS,
    Page,
    add_texts,
    doc_link,
    e,
    layout,
    short,
    table,
    when,
)
from hub.delivery import State
from hub.errors import InvalidRequest

add_texts(
    {
        "discard_reason": ("Lý do loại bỏ (bắt buộc)", "Reason to discard (required)"),
        "discard_selected": ("Loại bỏ các bản đã chọn", "Discard selected"),
        "discarded_n": ("Đã loại bỏ {n} bản.", "{n} deliveries discarded."),
        "discard_no_reason": (
            "Phải ghi lý do loại bỏ; không bản nào bị loại bỏ.",
            "A reason is required to discard; nothing was discarded.",
        ),
    }
)


def add_routes(router: APIRouter, console: Console) -> None:
    access, monitor = console.access, console.monitor
    render, page_of = console.render, console.page_of
    form_of, csrf_refused = console.form_of, console.csrf_refused

    @router.get(f"{PREFIX}/deliveries")
    def deliveries(
        request: Request, state: str = "undeliverable", moved: int = -1, discarded: int = -1
    ) -> Response:
        if (refused := console.guard(request, "watch")) is not None:
            return refused
        page = page_of(request)
        try:
            items = monitor.deliveries(state, limit=200)
        except ValueError:
            return render(request, layout(page, "", e(state), page.t("none")), 404)
        flash = page.t("redriven", n=moved) if moved >= 0 else ""
        flash = page.t("discarded_n", n=discarded) if discarded >= 0 else flash
        title = page.t(state) if state in TEXTS else page.state(state)
        rights = (console.may(request, "redrive"), console.may(request, "discard"))
        body = _deliveries_body(page, state, items, flash, rights)
        return render(request, layout(page, state, title, body))

    @router.post(f"{PREFIX}/redrive")
    async def redrive(request: Request) -> Response:
        if (refused := console.guard(request, "redrive")) is not None:
            return refused
        form = await form_of(request)
        if not access.csrf_ok(request, (form.get("csrf") or [""])[0]):
            return await run_in_threadpool(csrf_refused, request)
        ids = form.get("id", [])[:500]
        moved = await run_in_threadpool(monitor.redrive, ids, actor=actor_of(request))
        back = (form.get("back") or ["undeliverable"])[0]
        back = back if back in {s.value for s in State} else "undeliverable"
        return RedirectResponse(f"{PREFIX}/deliveries?state={back}&moved={len(moved)}", 303)

    @router.post(f"{PREFIX}/discard")
    async def discard(request: Request) -> Response:
        if (refused := console.guard(request, "discard")) is not None:
            return refused
        form = await form_of(request)
        if not access.csrf_ok(request, (form.get("csrf") or [""])[0]):
            return await run_in_threadpool(csrf_refused, request)
        ids = form.get("id", [])[:500]
        reason = (form.get("reason") or [""])[0].strip()
        back = (form.get("back") or ["dead"])[0]
        back = back if back in {s.value for s in State} else "dead"
        try:
            moved = await run_in_threadpool(
                monitor.discard, ids, reason=reason, actor=actor_of(request)
            )
        except InvalidRequest:
            page = page_of(request)
            body = f'<p class="error">{page.t("discard_no_reason")}</p>'
            return render(request, layout(page, back, page.t("discard_selected"), body), 400)
        return RedirectResponse(f"{PREFIX}/deliveries?state={back}&discarded={len(moved)}", 303)


def _deliveries_body(
    page: Page, state: str, items: Sequence[Any], flash: str, rights: tuple[bool, bool]
) -> str:
    """The listing; ``rights`` (may redrive, may discard) leaves out the controls the operator's
    role may not use (the actions refuse them anyway)."""
    may_redrive, may_discard = rights
    redrivable = may_redrive and any(i.redrivable for i in items)
    discardable = may_discard and any(i.discardable for i in items)
    rows = []
    for i in items:
        d = i.delivery
        check = (
            f'<input type="checkbox" name="id" value="{e(d.id)}" form="bulk" '
            f'aria-label="{page.t("select")} {e(d.id)}">'
            if (may_redrive and i.redrivable) or (may_discard and i.discardable)
            else ""
        )
        button = (
            f'<form class="inline" method="post" action="{PREFIX}/redrive">{page.form_token()}'
            f'<input type="hidden" name="id" value="{e(d.id)}">'
            f'<input type="hidden" name="back" value="{e(state)}">'
            f'<button class="small">{page.t("redrive")}</button></form>'
            if may_redrive and i.redrivable
            else ""
        )
        rows.append(
            [
                check,
                short(d.id),
                doc_link(d.doc_id, short_id=True),
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
    listing = table(
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
    # One form for the selection, two actions: redrive needs nothing more (formnovalidate),
    # discard needs its reason (required here, and checked again by the server).
    buttons = (
        f'<button formaction="{PREFIX}/redrive" formnovalidate>{page.t("redrive_selected")}'
        "</button> "
        if redrivable
        else ""
    )
    if discardable:
        buttons += (
            f'<label>{page.t("discard_reason")} <input type="text" name="reason" required '
            f'maxlength="1000"></label> <button formaction="{PREFIX}/discard">'
            f"{page.t('discard_selected')}</button>"
        )
    bulk = (
        f'<form id="bulk" method="post" action="{PREFIX}/redrive">{page.form_token()}'
        f'<input type="hidden" name="back" value="{e(state)}">{buttons}</form>'
        if buttons
        else ""
    )
    flash_html = f'<p class="flash">{flash}</p>' if flash else ""
    return f"{flash_html}{listing}{bulk}"
