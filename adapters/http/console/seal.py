"""The clerks' seal page (``/dashboard/seal``): upload a PDF the competent person signed,
choose the agency, get the PDF back with the agency's seal (Nghị định 30, Art. 33).

The same :class:`signing.seal_service.SealService` as ``POST /api/v1/sign/seal``: the person's
signature must be present, valid and earlier, the PDF not sealed yet, the key the agency's own;
a refusal is shown on the page with its reason (Vietnamese or English) and the HTTP status of
the REST answer. Every attempt is audited with the operator as actor.

Which agencies: an admin may seal for every agency that has a seal key; a clerk (a bound role,
:func:`hub.access.bound`) only for the agencies of its account that have one, read from the
store at each request (a removed agency stops at once). The form offers only those; any other
code posted — a forged form — is refused by the seal service (403 ``seal.not_hosted``, audited
with the account) and reported as an ``access_refused`` security event.

The form is ``multipart/form-data`` (a file upload), parsed here with the standard library's
MIME parser from a body read under :data:`MAX_PDF_BYTES` (no multipart dependency; the bytes
of the file part come back exactly as sent). The CSRF token travels as a form field and the
request must be same-origin, as for every other console form.
"""

from __future__ import annotations

from collections.abc import Sequence
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from adapters.http.console.context import Console, actor_of, security_event
from adapters.http.console.downloads import content_disposition
from adapters.http.console.page import PREFIX, Page, add_texts, e, layout
from adapters.http.gate import read_capped
from hub.access import bound
from hub.errors import HubError, InvalidRequest

#: The largest PDF the page takes (a signed official document is a few MB).
MAX_PDF_BYTES = 64 * 1024 * 1024

add_texts(
    {
        "seal": ("Đóng dấu cơ quan", "Agency seal"),
        "seal_agency": ("Cơ quan", "Agency"),
        "seal_file": ("Tệp PDF đã có chữ ký của người có thẩm quyền", "PDF signed by the person"),
        "seal_go": ("Đóng dấu và tải về", "Seal and download"),
        "seal_none": ("Chưa cấu hình khóa con dấu nào.", "No seal key is configured."),
        "seal_unbound": (
            "Tài khoản của bạn chưa được giao cơ quan nào nên không đóng dấu được văn bản nào. "
            "Quản trị viên giao cơ quan ở trang Tài khoản.",
            "Your account is given no agency, so it may seal nothing. "
            "An admin gives agencies on the Accounts page.",
        ),
        "seal_no_key": (
            "Chưa có khóa con dấu cho cơ quan được giao ({codes}).",
            "No seal key is configured for your agencies ({codes}).",
        ),
        "seal_refused": ("Không đóng dấu được: {why}", "Not sealed: {why}"),
        "seal_hint": (
            "Tệp trả về có chữ ký số của cơ quan (con dấu) đặt theo Nghị định 30.",
            "The file comes back with the agency's digital signature (seal) per Decree 30.",
        ),
    }
)


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], bytes | None]:
    """The text fields and the first file's bytes of a ``multipart/form-data`` body;
    :class:`InvalidRequest` when it is not one."""
    if not content_type.startswith("multipart/form-data") or "boundary=" not in content_type:
        raise InvalidRequest("expected multipart/form-data", code="form.multipart")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise InvalidRequest("expected multipart/form-data", code="form.multipart")
    fields: dict[str, str] = {}
    file: bytes | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        if part.get_filename() is not None:
            file = payload if file is None else file
        else:
            fields[name] = payload.decode("utf-8", "replace")
    return fields, file


def add_routes(router: APIRouter, console: Console) -> None:
    access = console.access
    render, page_of = console.render, console.page_of
    csrf_refused = console.csrf_refused

    def own(request: Request) -> Sequence[str] | None:
        """The agencies of a bound operator (a clerk); ``None`` for one bound to none."""
        op = access.operator(request)
        if not bound(op) or op is None:
            return None
        return console.agencies_of(op.name) if console.agencies_of is not None else ()

    def agencies(request: Request) -> list[str]:
        """The agencies this operator may seal for: those with a seal key, a clerk's own."""
        keys = console.sealer.keys.agencies() if console.sealer is not None else []
        mine = own(request)
        if mine is None:
            return keys
        wanted = {c.casefold() for c in mine}
        return [k for k in keys if k.casefold() in wanted]

    def form_page(request: Request, error: str = "", status: int = 200) -> Response:
        page = page_of(request)
        codes = agencies(request)
        if console.sealer is None:
            body = f'<p class="muted">{page.t("seal_none")}</p>'
            status = 404
        elif codes:
            body = _form(page, codes, error)
        else:
            mine = own(request)
            why = page.t("seal_no_key", codes=", ".join(mine)) if mine else page.t("seal_unbound")
            alert = f'<p class="error" role="alert">{page.t("seal_refused", why=error)}</p>'
            body = (alert if error else "") + f'<p class="muted">{why}</p>'
        return render(request, layout(page, "seal", page.t("seal"), body), status)

    @router.get(f"{PREFIX}/seal")
    def seal_form(request: Request) -> Response:
        if (refused := console.guard(request, "seal")) is not None:
            return refused
        return form_page(request)

    @router.post(f"{PREFIX}/seal")
    async def seal(request: Request) -> Response:
        if (refused := console.guard(request, "seal")) is not None:
            return refused
        sealer = console.sealer
        if sealer is None:
            return form_page(request)
        page = page_of(request)
        try:
            body = await read_capped(request, MAX_PDF_BYTES)
            fields, pdf = parse_multipart(body, request.headers.get("content-type", ""))
        except HubError as exc:
            return form_page(request, exc.message(page.lang), exc.http_status)
        if not access.csrf_ok(request, fields.get("csrf", "")):
            return await run_in_threadpool(csrf_refused, request)
        agency = fields.get("agency", "")
        if not pdf:
            why = page.t("seal_file")
            return form_page(request, why, 400)
        actor, allowed = actor_of(request), agencies(request)
        try:
            result = await run_in_threadpool(sealer.seal_as, actor, agency, pdf, agencies=allowed)
        except HubError as exc:
            if exc.code == "seal.not_hosted":  # a code the form did not offer: forged
                security_event(
                    "seal_refused", "access_refused", request, actor=actor, agency=agency[:64]
                )
            return form_page(request, exc.message(page.lang), exc.http_status)
        return Response(
            result.pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": content_disposition(f"sealed-{result.agency_code}.pdf"),
                "Cache-Control": "no-store",
                "X-Seal-Level": result.level,
                "X-Sha256-Out": result.sha256_out,
            },
        )


def _form(page: Page, codes: list[str], error: str) -> str:
    options = "".join(f'<option value="{e(c)}">{e(c)}</option>' for c in codes)
    refused = f'<p class="error" role="alert">{page.t("seal_refused", why=error)}</p>'
    return (
        (refused if error else "") + f'<p class="muted">{page.t("seal_hint")}</p>'
        f'<form method="post" action="{PREFIX}/seal" enctype="multipart/form-data">'
        f"{page.form_token()}"
        f'<p><label>{page.t("seal_agency")} <select name="agency" required>{options}</select>'
        f"</label></p>"
        f'<p><label>{page.t("seal_file")} <input type="file" name="pdf" '
        f'accept="application/pdf" required></label></p>'
        f"<button>{page.t('seal_go')}</button></form>"
    )
