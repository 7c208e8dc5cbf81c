"""The message log (``/dashboard/log``) and its CSV export (``/dashboard/log.csv``).

A GET form (bookmarkable, no CSRF needed: it changes nothing) filters every delivery with its
document by DocumentId, số/ký hiệu, sender, recipient, state, date range and status code
(:class:`hub.ports.LogFilter`); pages are keyed (``cursor``), newest first. The CSV link carries
the same filter and streams the whole result (:mod:`hub.services.message_log`).

Dates are calendar days in Vietnam's time: ``since`` is the start of that day (+07:00),
``until`` includes its whole day. A value that is not a date, a state or a status code is
answered 400 with the field named, never silently dropped (the operator would read a
different log than the one asked for).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from adapters.http.console.context import Console
from adapters.http.console.page import (
    PREFIX,
    VN_TIME,
    Page,
    add_texts,
    doc_link,
    e,
    layout,
    pill,
    short,
    table,
    when,
)
from hub.delivery import State
from hub.errors import InvalidRequest
from hub.ports import LogFilter
from hub.services import message_log

add_texts(
    {
        "log": ("Nhật ký văn bản", "Message log"),
        "log_document": ("Mã văn bản (DocumentId / DocId)", "DocumentId / DocId"),
        "log_code": ("Số/ký hiệu", "Number/notation"),
        "log_sender": ("Nơi gửi (mã cơ quan / hệ thống)", "Sender (agency code / system)"),
        "log_recipient": ("Nơi nhận (mã cơ quan)", "Recipient (agency code)"),
        "log_since": ("Từ ngày", "From"),
        "log_until": ("Đến ngày", "To"),
        "log_status": ("Mã trạng thái xử lý", "Status code"),
        "log_any": ("— tất cả —", "— any —"),
        "log_next": ("Trang sau →", "Next page →"),
        "log_first": ("← Trang đầu", "← First page"),
        "log_csv": ("Tải CSV", "Download CSV"),
        "log_bad": ("Tham số không hợp lệ: {field}", "Invalid parameter: {field}"),
        "log_business": ("Xử lý", "Status"),
    }
)

_TEXT_FIELDS = ("document", "code", "sender", "recipient")
#: Status codes of QCVN 102 (01…16) offered in the form.
STATUS_CODES = tuple(f"{n:02d}" for n in range(1, 17))


def _day(value: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest(
            f"{field}: {value[:40]!r} is not a date (YYYY-MM-DD)",
            message_vi=f"{field}: {value[:40]!r} không phải ngày (YYYY-MM-DD)",
            code="log.field",
            details={"field": field},
        ) from exc


def filter_of(params: Mapping[str, str]) -> LogFilter:
    """The :class:`LogFilter` of the form's query parameters; :class:`InvalidRequest` names
    the first field that does not parse."""
    text = {f: (params.get(f) or "").strip()[:255] or None for f in _TEXT_FIELDS}
    state = (params.get("state") or "").strip() or None
    if state is not None and state not in {s.value for s in State}:
        raise InvalidRequest(f"state: {state[:40]!r}", code="log.field", details={"field": "state"})
    status = (params.get("status") or "").strip() or None
    if status is not None and status not in STATUS_CODES:
        raise InvalidRequest(
            f"status: {status[:40]!r}", code="log.field", details={"field": "status"}
        )
    since = until = None
    if params.get("since"):
        since = dt.datetime.combine(_day(params["since"], "since"), dt.time(), VN_TIME)
    if params.get("until"):
        day = _day(params["until"], "until") + dt.timedelta(days=1)
        until = dt.datetime.combine(day, dt.time(), VN_TIME)
    return LogFilter(
        document=text["document"],
        code=text["code"],
        sender=text["sender"],
        recipient=text["recipient"],
        state=state,
        since=since,
        until=until,
        status=status,
    )


def _query(params: Mapping[str, str], **changes: str | None) -> str:
    kept = {k: v for k, v in params.items() if k not in ("cursor", "lang") and v}
    kept.update({k: v for k, v in changes.items() if v})
    return urlencode(kept)


def add_routes(router: APIRouter, console: Console) -> None:
    monitor, render, page_of = console.monitor, console.render, console.page_of

    @router.get(f"{PREFIX}/log")
    def log(request: Request) -> Response:
        if (refused := console.guard(request, "watch")) is not None:
            return refused
        page = page_of(request)
        params = dict(request.query_params)
        try:
            where = filter_of(params)
            cursor = params.get("cursor") or None
            result = monitor.log(where, cursor=cursor, limit=message_log.PAGE_SIZE)
        except InvalidRequest as exc:
            field = str(exc.details.get("field", "cursor"))
            body = _form(page, params) + f'<p class="error">{page.t("log_bad", field=field)}</p>'
            return render(request, layout(page, "log", page.t("log"), body), 400)
        rows = [
            [
                when(d.created_at),
                doc_link(doc.id, short_id=True),
                e(doc.document_id),
                e("/".join(x for x in (doc.code_number, doc.code_notation) if x)),
                e(doc.subject),
                e(doc.sender_code),
                e(d.resolved_code or d.recipient_code),
                e(d.route) + (f" ({e(d.peer_name or d.system_id)})" if d.route != "none" else ""),
                pill(page, d.state),
                e(d.business_status or ""),
                short(d.id),
            ]
            for d, doc in result.rows
        ]
        listing = table(
            [
                page.t("received"),
                "DocId",
                "DocumentId",
                page.t("code"),
                page.t("subject"),
                page.t("sender"),
                page.t("recipient"),
                page.t("route"),
                page.t("state"),
                page.t("log_business"),
                page.t("delivery"),
            ],
            rows,
            page,
        )
        nav = []
        if params.get("cursor"):
            nav.append(f'<a href="{PREFIX}/log?{e(_query(params))}">{page.t("log_first")}</a>')
        if result.next_cursor:
            href = f"{PREFIX}/log?{_query(params, cursor=result.next_cursor)}"
            nav.append(f'<a rel="next" href="{e(href)}">{page.t("log_next")}</a>')
        footer = f"<p>{' · '.join(nav)}</p>" if nav else ""
        body = _form(page, params) + listing + footer
        return render(request, layout(page, "log", page.t("log"), body))

    @router.get(f"{PREFIX}/log.csv")
    async def log_csv(request: Request) -> Response:
        if (refused := console.guard(request, "watch")) is not None:
            return refused
        try:
            where = filter_of(dict(request.query_params))
        except InvalidRequest as exc:
            return Response(f"{exc}\n", 400, media_type="text/plain; charset=utf-8")
        chunks = monitor.log_csv(where)

        async def stream() -> AsyncIterator[bytes]:
            while True:  # each page read in the threadpool: the loop is never blocked
                chunk = await run_in_threadpool(next, chunks, None)
                if chunk is None:
                    return
                yield chunk

        stamp = dt.datetime.now(VN_TIME).strftime("%Y%m%d-%H%M")
        return StreamingResponse(
            stream(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="lienthong-log-{stamp}.csv"',
                "Cache-Control": "no-store",
            },
        )


def _form(page: Page, params: Mapping[str, str]) -> str:
    def text(name: str, label: str, kind: str = "text") -> str:
        return (
            f'<label>{page.t(label)}<br><input type="{kind}" name="{name}" '
            f'value="{e(params.get(name, ""))}"></label> '
        )

    def select(name: str, label: str, options: list[tuple[str, str]]) -> str:
        chosen = params.get(name, "")
        opts = f'<option value="">{page.t("log_any")}</option>' + "".join(
            f'<option value="{e(v)}"{" selected" if v == chosen else ""}>{t}</option>'
            for v, t in options
        )
        return f'<label>{page.t(label)}<br><select name="{name}">{opts}</select></label> '

    states = [(s.value, page.state(s.value)) for s in State]
    codes = [(c, e(c)) for c in STATUS_CODES]
    csv_href = f"{PREFIX}/log.csv?{_query(params)}"
    return (
        f'<form method="get" action="{PREFIX}/log" class="filters">'
        + text("document", "log_document")
        + text("code", "log_code")
        + text("sender", "log_sender")
        + text("recipient", "log_recipient")
        + select("state", "state", states)
        + select("status", "log_status", codes)
        + text("since", "log_since", "date")
        + text("until", "log_until", "date")
        + f"<button>{page.t('filter')}</button> "
        f'<a href="{e(csv_href)}" download>{page.t("log_csv")}</a></form><h2></h2>'
    )
