"""The audit log (``/dashboard/audit``): newest first, filtered by actor / action prefix."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response

from adapters.http.console.context import Console
from adapters.http.console.page import PREFIX, e, layout, table, when


def add_routes(router: APIRouter, console: Console) -> None:
    monitor = console.monitor
    render, page_of = console.render, console.page_of

    @router.get(f"{PREFIX}/audit")
    def audit(request: Request, actor: str = "", action: str = "", limit: int = 200) -> Response:
        if (refused := console.guard(request, "audit")) is not None:
            return refused
        page = page_of(request)
        rows = monitor.audit(actor=actor, action=action, limit=max(1, min(limit, 1000)))
        form = (
            f'<form method="get" action="{PREFIX}/audit">'
            f"<label>{page.t('actor')} "
            f'<input type="text" name="actor" value="{e(actor)}"></label> '
            f"<label>{page.t('action')} "
            f'<input type="text" name="action" value="{e(action)}"></label> '
            f"<button>{page.t('filter')}</button></form><h2></h2>"
        )
        listing = table(
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
        return render(request, layout(page, "audit", page.t("audit"), form + listing))
