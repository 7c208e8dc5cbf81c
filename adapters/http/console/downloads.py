"""A document's package as received (``/dashboard/documents/{doc_id}/package``) and its
attachments (``…/attachments``: the list; ``…/attachments/{n}``: the n-th file).

The package is streamed from the blob store byte for byte (the hub never re-serialises it:
what is downloaded is what the sender's signature covers). Attachments are extracted with the
intake's own streaming reader (:func:`hub.edxml.attachments.iter_attachments`, the same caps);
a ZIP payload is one file per entry, numbered in document order. Every download is audited with
the operator, the document and the file's SHA-256.

File names come from the package (outside): the ``Content-Disposition`` header carries an ASCII
fallback and the UTF-8 name percent-encoded (RFC 6266 / RFC 5987), never a raw byte of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from adapters.http.console.context import Console, actor_of
from adapters.http.console.page import PREFIX, Page, add_texts, doc_link, e, layout, table
from hub.edxml.attachments import ExtractedAttachment, iter_attachments
from hub.errors import HubError, NotFound
from hub.ports import BlobStore, DocumentRow
from hub.services.monitor import Monitor

add_texts(
    {
        "package": ("Gói tin gốc", "Package as received"),
        "attachments": ("Tệp đính kèm", "Attachments"),
        "att_name": ("Tên tệp", "File name"),
        "att_size": ("Kích thước (byte)", "Size (bytes)"),
        "att_type": ("Kiểu", "Type"),
        "att_bad": ("Không đọc được tệp đính kèm: {why}", "Attachments unreadable: {why}"),
    }
)

_CHUNK = 64 * 1024


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback and the UTF-8 name (RFC 6266, RFC 5987)."""
    fallback = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _file_name(att: ExtractedAttachment, n: int) -> str:
    return att.entry_name or att.attachment_name or att.content_id or f"attachment-{n}"


def _document(monitor: Monitor, doc_id: str) -> DocumentRow:
    return monitor.document(doc_id).document  # NotFound for an unknown id


def _attachments(blobs: BlobStore, doc: DocumentRow) -> list[tuple[str, str | None, int, str]]:
    out = []
    with blobs.open(doc.digest) as source:
        for n, att in enumerate(iter_attachments(source, require_manifest_match=False), 1):
            with att:
                out.append((_file_name(att, n), att.content_type, att.size, att.sha256))
    return out


def _nth(blobs: BlobStore, doc: DocumentRow, n: int) -> tuple[str, str | None, str, bytes]:
    with blobs.open(doc.digest) as source:
        for i, att in enumerate(iter_attachments(source, require_manifest_match=False), 1):
            with att:
                if i == n:
                    return _file_name(att, n), att.content_type, att.sha256, att.read_bytes()
    raise NotFound(f"no attachment {n}", message_vi=f"không có tệp đính kèm {n}")


def add_routes(router: APIRouter, console: Console) -> None:
    monitor, render, page_of = console.monitor, console.render, console.page_of

    def not_found(request: Request) -> Response:
        page = page_of(request)
        body = f'<p class="muted">{page.t("not_found")}</p>'
        return render(request, layout(page, "documents", page.t("document"), body), 404)

    @router.get(PREFIX + "/documents/{doc_id}/package")
    async def package(request: Request, doc_id: str) -> Response:
        if (refused := console.guard(request, "download")) is not None:
            return refused
        blobs = console.blobs
        try:
            if blobs is None:
                raise NotFound("no blob store")
            doc = await run_in_threadpool(_document, monitor, doc_id)
        except NotFound:
            return not_found(request)
        await run_in_threadpool(
            monitor.record, actor_of(request), "document.download", doc_id, sha256=doc.digest
        )

        def chunks() -> Iterator[bytes]:
            with blobs.open(doc.digest) as f:
                while chunk := f.read(_CHUNK):
                    yield chunk

        return StreamingResponse(
            chunks(),
            media_type="application/xml",
            headers={
                "Content-Disposition": content_disposition(f"{doc_id}.edxml"),
                "Cache-Control": "no-store",
            },
        )

    @router.get(PREFIX + "/documents/{doc_id}/attachments")
    async def attachments(request: Request, doc_id: str) -> Response:
        if (refused := console.guard(request, "download")) is not None:
            return refused
        blobs = console.blobs
        try:
            if blobs is None:
                raise NotFound("no blob store")
            doc = await run_in_threadpool(_document, monitor, doc_id)
        except NotFound:
            return not_found(request)
        page = page_of(request)
        try:
            files = await run_in_threadpool(_attachments, blobs, doc)
        except HubError as exc:  # stored before a stricter reader: say so, never a 500
            files = []
            error = f'<p class="error">{page.t("att_bad", why=exc.message(page.lang))}</p>'
        else:
            error = ""
        body = _attachments_body(page, doc, files) + error
        title = f"{page.t('attachments')}: {doc.subject or doc.id}"
        return render(request, layout(page, "documents", title, body))

    @router.get(PREFIX + "/documents/{doc_id}/attachments/{n}")
    async def attachment(request: Request, doc_id: str, n: int) -> Response:
        if (refused := console.guard(request, "download")) is not None:
            return refused
        blobs = console.blobs
        try:
            if blobs is None:
                raise NotFound("no blob store")
            doc = await run_in_threadpool(_document, monitor, doc_id)
            name, ctype, sha, data = await run_in_threadpool(_nth, blobs, doc, n)
        except NotFound:
            return not_found(request)
        await run_in_threadpool(
            monitor.record,
            actor_of(request),
            "document.attachment",
            doc_id,
            n=n,
            name=name,
            sha256=sha,
        )
        return Response(
            data,
            media_type=ctype or "application/octet-stream",
            headers={"Content-Disposition": content_disposition(name), "Cache-Control": "no-store"},
        )


def _attachments_body(
    page: Page, doc: DocumentRow, files: list[tuple[str, str | None, int, str]]
) -> str:
    base = f"{PREFIX}/documents/{quote(doc.id, safe='')}"
    rows = [
        [
            f'<a href="{e(base)}/attachments/{n}" download>{e(name)}</a>',
            e(ctype),
            f'<span class="n">{e(size)}</span>',
            f"<code>{e(sha)}</code>",
        ]
        for n, (name, ctype, size, sha) in enumerate(files, 1)
    ]
    head = f"<p>{page.t('document')}: {doc_link(doc.id)} · "
    head += f'<a href="{e(base)}/package" download>{page.t("package")}</a></p>'
    return head + table(
        [page.t("att_name"), page.t("att_type"), page.t("att_size"), "SHA-256"], rows, page
    )
