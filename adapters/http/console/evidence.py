"""A document's delivery evidence (``/dashboard/documents/{doc_id}/evidence``) and its ASiC-E
container (``…/evidence.asice``), as ``lienthong evidence export`` writes it.

The page lists every delivery event of the document with its place in the hash chain (``seq``,
the link's hash) and the RFC 3161 timestamp whose head covers it — or says it is not sealed /
not timestamped yet. The container is built by :func:`signing.evidence_asic.export_with_key`
(the CLI's own code), with receipts signed by ``evidence.key``; ``lienthong evidence verify``
checks the download offline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from adapters.http.console.context import Console, actor_of
from adapters.http.console.page import PREFIX, Page, add_texts, e, layout, pill, table, when
from hub.audit_chain import SealedRow
from hub.errors import HubError, NotFound
from hub.evidence import Batch, EvidenceEvent, EvidenceStore, covering
from hub.ports import BlobStore

add_texts(
    {
        "evidence": ("Chứng cứ chuyển phát", "Delivery evidence"),
        "ev_download": ("Tải hồ sơ chứng cứ (ASiC-E)", "Download the evidence (ASiC-E)"),
        "ev_seq": ("Số thứ tự chuỗi", "Chain seq"),
        "ev_hash": ("Mã băm", "Hash"),
        "ev_stamp": ("Dấu thời gian", "Timestamp"),
        "ev_unsealed": ("chưa niêm phong", "not sealed yet"),
        "ev_unstamped": ("chưa đóng dấu thời gian", "not timestamped yet"),
        "ev_none": ("Chưa cấu hình chứng cứ.", "Evidence is not configured."),
        "ev_failed": (
            "Không tạo được hồ sơ chứng cứ: {why}",
            "Could not build the evidence: {why}",
        ),
        "ev_verify": (
            "Kiểm tra ngoại tuyến: lienthong evidence verify TỆP --ca CA.pem",
            "Check offline: lienthong evidence verify FILE --ca CA.pem",
        ),
    }
)


@dataclass(frozen=True, slots=True)
class EvidenceExport:
    """What the evidence pages need: the chain, the package bytes and the receipt key."""

    store: EvidenceStore
    blobs: BlobStore
    key_ref: str | None  # evidence.key; absent: the page shows, the download explains why not
    hub_id: str
    clock: Callable[[], dt.datetime]

    def container(self, doc_id: str) -> bytes:
        from signing.evidence_asic import export_with_key

        return export_with_key(
            self.store, self.blobs, self.key_ref, doc_id, hub_id=self.hub_id, now=self.clock()
        )


def add_routes(router: APIRouter, console: Console) -> None:
    monitor, render, page_of = console.monitor, console.render, console.page_of

    @router.get(PREFIX + "/documents/{doc_id}/evidence")
    def evidence_page(request: Request, doc_id: str) -> Response:
        if (refused := console.guard(request, "evidence")) is not None:
            return refused
        page = page_of(request)
        ev = console.evidence
        if ev is None:
            body = f'<p class="muted">{page.t("ev_none")}</p>'
            return render(request, layout(page, "documents", page.t("evidence"), body), 404)
        doc = ev.store.document(doc_id)
        if doc is None or doc.doc_id != doc_id:
            body = f'<p class="muted">{page.t("not_found")}</p>'
            return render(request, layout(page, "documents", page.t("evidence"), body), 404)
        body = _evidence_body(page, doc_id, ev.store.events_of(doc_id), ev.store.batches())
        title = f"{page.t('evidence')}: {doc_id}"
        return render(request, layout(page, "documents", title, body))

    @router.get(PREFIX + "/documents/{doc_id}/evidence.asice")
    async def evidence_container(request: Request, doc_id: str) -> Response:
        if (refused := console.guard(request, "evidence")) is not None:
            return refused
        ev = console.evidence
        if ev is None:
            return Response("evidence is not configured\n", 404, media_type="text/plain")
        try:
            data = await run_in_threadpool(ev.container, doc_id)
        except NotFound:
            return Response("no such document\n", 404, media_type="text/plain")
        except HubError as exc:  # no key configured, a token that does not open…
            await run_in_threadpool(
                monitor.record, actor_of(request), "evidence.export", doc_id, exc.code
            )
            page = page_of(request)
            body = f'<p class="error">{page.t("ev_failed", why=exc.message(page.lang))}</p>'
            return render(request, layout(page, "documents", page.t("evidence"), body), 503)
        await run_in_threadpool(
            monitor.record, actor_of(request), "evidence.export", doc_id, size=len(data)
        )
        return Response(
            data,
            media_type="application/vnd.etsi.asic-e+zip",
            headers={
                "Content-Disposition": f'attachment; filename="evidence-{quote(doc_id)}.asice"',
                "Cache-Control": "no-store",
            },
        )


def _evidence_body(
    page: Page,
    doc_id: str,
    events: Sequence[SealedRow[EvidenceEvent] | EvidenceEvent],
    batches: Sequence[Batch],
) -> str:
    rows = []
    for item in events:
        if isinstance(item, SealedRow):
            event, seq, digest = item.row, str(item.seq), f"<code>{e(item.hash[:16])}…</code>"
            batch = covering(batches, item.seq)
            stamp = (
                f"#{e(batch.to_seq)} {when(batch.at)}"
                if batch is not None
                else f'<span class="muted">{page.t("ev_unstamped")}</span>'
            )
        else:
            event, seq, digest = item, "—", f'<span class="muted">{page.t("ev_unsealed")}</span>'
            stamp = ""
        move = (pill(page, event.from_state) + " → " if event.from_state else "") + pill(
            page, event.to_state
        )
        rows.append(
            [e(seq), when(event.at), e(event.recipient), move, e(event.reason), digest, stamp]
        )
    listing = table(
        [
            page.t("ev_seq"),
            page.t("at"),
            page.t("recipient"),
            page.t("state"),
            page.t("reason"),
            page.t("ev_hash"),
            page.t("ev_stamp"),
        ],
        rows,
        page,
    )
    href = f"{PREFIX}/documents/{quote(doc_id, safe='')}/evidence.asice"
    return (
        f'<p><a href="{e(href)}" download>{page.t("ev_download")}</a> · '
        f'<span class="muted">{page.t("ev_verify")}</span></p>{listing}'
    )
