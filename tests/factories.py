"""Fixture builders: edXML packages made by the project's own writer, for every test suite.

Use these instead of ``../shared/edxml-samples`` so suites run where that folder is absent::

    from tests.factories import make_edoc, make_status, make_pdf_bytes

    data = make_edoc(sender="000.00.00.G22", to=["000.00.00.H41"], subject="Về việc …")
    status = make_status(status_code="03", response_to="000.00.00.G22")

``edoc_package(**overrides)`` / ``status_package(**overrides)`` return the model values the bytes
are written from (``read(make_edoc(...))`` equals ``edoc_package(...)`` apart from the manifest
and attachment metadata, which the writer derives from the attachments).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from hub.edxml.model import (
    VN_TZ,
    Bussiness,
    BussinessDocType,
    Code,
    DocumentType,
    EdocHeader,
    EdocPackage,
    EdxmlDate,
    EdxmlTimestamp,
    Organization,
    OtherInfo,
    PromulgationInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusHeader,
    StatusPackage,
    TraceHeader,
    TraceHeaderList,
)
from hub.edxml.reader import format_date, format_timestamp
from hub.edxml.writer import OutgoingAttachment, write_edoc, write_status

DEFAULT_SENDER = "000.00.00.G22"
DEFAULT_RECIPIENTS = ("000.00.00.H41",)
DEFAULT_WHEN = dt.datetime(2024, 3, 15, 9, 30, 0, tzinfo=VN_TZ)
DEFAULT_DATE = DEFAULT_WHEN.date()

_NAMES = {
    "000.00.00.G22": "Văn phòng Chính phủ",
    "000.00.00.H41": "UBND Tỉnh Nghệ An",
    "000.00.00.H14": "UBND Tỉnh Cao Bằng",
}


def make_pdf_bytes(text: str = "lienthong test") -> bytes:
    """A tiny valid one-page PDF 1.4, written by hand (correct xref offsets, no library); the
    text is set in Helvetica, so non-ASCII letters show as ``?``."""
    from signing.demo_material import make_pdf

    return make_pdf((text,))


def organization(organ_id: str, **overrides: Any) -> Organization:
    """An agency with plausible contact details."""
    name = _NAMES.get(organ_id, f"Cơ quan {organ_id}")
    base = Organization(
        organ_id=organ_id,
        organ_name=name,
        organization_in_charge=name,
        organ_add="Số 1 Hoàng Hoa Thám, Quận Ba Đình, Hà Nội",
        email="vanthu@gov.vn",
        telephone="024 3825 8261",
    )
    return dataclasses.replace(base, **overrides)


def _orgs(items: Iterable[str | Organization]) -> tuple[Organization, ...]:
    return tuple(i if isinstance(i, Organization) else organization(i) for i in items)


def _date(d: dt.date) -> EdxmlDate:
    return EdxmlDate(format_date(d), d)


def _ts(when: dt.datetime) -> EdxmlTimestamp:
    return EdxmlTimestamp(format_timestamp(when), when.astimezone(dt.UTC))


def edoc_package(
    *,
    sender: str | Organization = DEFAULT_SENDER,
    to: Sequence[str | Organization] = DEFAULT_RECIPIENTS,
    code_number: str = "7816",
    code_notation: str = "VPCP-TTĐT",
    promulgation_date: dt.date = DEFAULT_DATE,
    document_id: str | None = None,
    subject: str = "V/v kết nối, liên thông phần mềm quản lý văn bản",
    business_type: BussinessDocType | int = BussinessDocType.NEW,
    reason: str | None = None,
    trace: Sequence[tuple[str, dt.datetime]] | None = None,
    response_for: Sequence[ResponseFor] = (),
    signature: bytes | None = None,
    **header_overrides: Any,
) -> EdocPackage:
    """The model value of a typical new document; keyword overrides change the usual fields,
    other ``EdocHeader`` fields pass through ``header_overrides``."""
    from_ = sender if isinstance(sender, Organization) else organization(sender)
    doc_id = document_id or (
        f"{from_.organ_id},{format_date(promulgation_date)},{code_number}/{code_notation}"
    )
    header = EdocHeader(
        from_=from_,
        to=_orgs(to),
        document_id=doc_id,
        code=Code(code_number, code_notation),
        promulgation_info=PromulgationInfo("Hà Nội", _date(promulgation_date)),
        document_type=DocumentType(1, 0, "Công văn", "1"),
        subject=subject,
        content=None,
        signer_info=SignerInfo("KT. BỘ TRƯỞNG", "Thứ trưởng", "Nguyễn Văn An"),
        due_date=None,
        to_places=("Như trên", "Lưu: VT"),
        other_info=OtherInfo(priority=0, promulgation_amount=1, page_amount=2),
        response_for=tuple(response_for),
        steering_type=None,
    )
    if header_overrides:
        header = dataclasses.replace(header, **header_overrides)
    hops = trace if trace is not None else [(from_.organ_id, DEFAULT_WHEN)]
    bt = BussinessDocType(int(business_type))
    default_reason = {
        BussinessDocType.NEW: "Văn bản điện tử mới",
        BussinessDocType.REVOKE: "Thu hồi do sai sót",
        BussinessDocType.UPDATE: "Cập nhật nơi nhận",
        BussinessDocType.REPLACE: "Thay thế văn bản",
    }[bt]
    bussiness = Bussiness(
        document_id=doc_id,
        doc_type=bt,
        doc_type_raw=str(int(bt)),
        reason=reason or default_reason,
        paper=0,
        staff_info=StaffInfo("Văn thư văn phòng", "Nguyễn Thị Ngọc Trâm", "vanthu@gov.vn", None),
    )
    return EdocPackage(
        header=header,
        trace=TraceHeaderList(tuple(TraceHeader(o, _ts(w)) for o, w in hops), bussiness),
        signature=signature,
    )


def pdf_attachment(
    name: str = "7816-VPCP-TTDT.pdf", *, content_id: str = "1", data: bytes | None = None
) -> OutgoingAttachment:
    """A zipped PDF attachment (the SDK habit)."""
    return OutgoingAttachment(
        content_id=content_id,
        attachment_name=name,
        content_type="application/pdf",
        data=data if data is not None else make_pdf_bytes(name),
        description=name,
    )


def make_edoc(
    *, attachments: Sequence[OutgoingAttachment] | None = None, **overrides: Any
) -> bytes:
    """Bytes of a typical edoc (one zipped PDF unless ``attachments`` says otherwise);
    ``overrides`` as for :func:`edoc_package`."""
    atts = [pdf_attachment()] if attachments is None else list(attachments)
    return write_edoc(edoc_package(**overrides), atts)


def status_package(
    *,
    sender: str | Organization = "000.00.00.H41",
    status_code: str = "01",
    response_to: str = DEFAULT_SENDER,
    document_id: str = f"{DEFAULT_SENDER},2024/03/15,7816/VPCP-TTĐT",
    code: str | None = "7816/VPCP-TTĐT",
    description: str | None = "Đã đến - Phần mềm QLVB đã nhận nhưng văn thư chưa xử lý",
    when: dt.datetime = DEFAULT_WHEN,
    staff: StaffInfo | None = None,
) -> StatusPackage:
    """The model value of a status message about a document of ``response_to``."""
    from_ = sender if isinstance(sender, Organization) else organization(sender)
    return StatusPackage(
        header=StatusHeader(
            from_=from_,
            response_for=ResponseFor(
                organ_id=response_to,
                code=code,
                promulgation_date=_date(DEFAULT_WHEN.date()),
                document_id=document_id,
            ),
            staff_info=staff
            or StaffInfo("Văn thư", "Trần Thị Bích", "vanthu@nghean.gov.vn", "0912000001"),
            status_code=status_code,
            description=description,
            timestamp=_ts(when),
        )
    )


def make_status(**overrides: Any) -> bytes:
    """Bytes of a status message; ``overrides`` as for :func:`status_package`."""
    return write_status(status_package(**overrides))
