"""The problem lists (``/dashboard/deliveries?state=…``) and the redrive action."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from adapters.http.console.context import Console, actor_of
from adapters.http.console.page import PREFIX, TEXTS, Page, doc_link, e, layout, short, table, when
from hub.delivery import State


def add_routes(router: APIRouter, console: Console) -> None:
    access, monitor = console.access, console.monitor
    render, page_of, refuse = console.render, console.page_of, console.refuse
    form_of, csrf_refused = console.form_of, console.csrf_refused

    @router.get(f"{PREFIX}/deliveries")
    def deliveries(request: Request, state: str = "undeliverable", moved: int = -1) -> Response:
        if not access.allowed(request):
            return refuse(request)
        page = page_of(request)
        try:
            items = monitor.deliveries(state, limit=200)
        except ValueError:
            return render(request, layout(page, "", e(state), page.t("none")), 404)
        flash = page.t("redriven", n=moved) if moved >= 0 else ""
        title = page.t(state) if state in TEXTS else page.state(state)
        body = _deliveries_body(page, state, items, flash)
        return render(request, layout(page, state, title, body))

    @router.post(f"{PREFIX}/redrive")
    async def redrive(request: Request) -> Response:
        if not access.allowed(request):
            return refuse(request)
        form = await form_of(request)
        if not access.csrf_ok(request, (form.get("csrf") or [""])[0]):
            return await run_in_threadpool(csrf_refused, request)
        ids = form.get("id", [])[:500]
        moved = await run_in_threadpool(monitor.redrive, ids, actor=actor_of(request))
        back = (form.get("back") or ["undeliverable"])[0]
        back = back if back in {s.value for s in State} else "undeliverable"
        return RedirectResponse(f"{PREFIX}/deliveries?state={back}&moved={len(moved)}", 303)


def _deliveries_body(page: Page, state: str, items: Sequence[Any], flash: str) -> str:
    redrivable = any(i.redrivable for i in items)
    rows = []
    for i in items:
        d = i.delivery
        check = (
            f'<input type="checkbox" name="id" value="{e(d.id)}" form="bulk" '
            f'aria-label="{page.t("select")} {e(d.id)}">'
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
    bulk = (
        f'<form id="bulk" method="post" action="{PREFIX}/redrive">{page.form_token()}'
        f'<input type="hidden" name="back" value="{e(state)}">'
        f"<button>{page.t('redrive_selected')}</button></form>"
        if redrivable
        else ""
    )
    flash_html = f'<p class="flash">{flash}</p>' if flash else ""
    return f"{flash_html}{listing}{bulk}"
