"""Connected systems (``/dashboard/systems``): never a secret."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from adapters.http.console.context import Console
from adapters.http.console.page import PREFIX, e, layout, table, when


def add_routes(router: APIRouter, console: Console) -> None:
    access, monitor = console.access, console.monitor
    render, page_of, refuse = console.render, console.page_of, console.refuse

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
        listing = table(
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
        return render(request, layout(page, "systems", page.t("systems"), listing))
