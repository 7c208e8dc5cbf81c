"""The packages the conformance bench sends: one document's life (new, update, revoke, replace)
from the bench's agency to the vendor's, and the statuses answering the vendor's document.

Pure: PDFs come in as bytes (the runner signs them with :mod:`signing`, which the core may not
import) and every package is written by :mod:`hub.edxml.writer`. Text fields carry Vietnamese
diacritics on purpose — a connector that mangles them shows it in its statuses and in the
documents it stores.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hub.edxml.model import (
    VN_TZ,
    Bussiness,
    BussinessDocType,
    BussinessDocumentInfo,
    Code,
    DocumentType,
    EdocHeader,
    EdocPackage,
    EdxmlDate,
    EdxmlTimestamp,
    Organization,
    OtherInfo,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
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

#: Business reason per action (QĐ 28/2018 Art. 9: revoking, updating, replacing states why).
_REASONS = {
    BussinessDocType.NEW: "Văn bản điện tử mới",
    BussinessDocType.UPDATE: "Cập nhật nơi nhận và trích yếu",
    BussinessDocType.REVOKE: "Thu hồi do sai sót về thể thức",
    BussinessDocType.REPLACE: "Thay thế văn bản đã gửi",
}
#: The bench document of each ``receive.*`` step.
DOC_TYPES = {
    "new": BussinessDocType.NEW,
    "update": BussinessDocType.UPDATE,
    "revoke": BussinessDocType.REVOKE,
    "replace": BussinessDocType.REPLACE,
}


def organization(code: str, name: str) -> Organization:
    return Organization(
        organ_id=code,
        organ_name=name,
        organization_in_charge=name,
        organ_add="Số 1 Đường Trường Thi, TP Vinh, Nghệ An",
        email="vanthu@kiemthu.gov.vn",
        telephone="0238 3844 000",
    )


@dataclass(frozen=True)
class Parties:
    """Who sends to whom: the bench's agency and the vendor's."""

    bench: Organization
    vendor: Organization


def _ts(when: dt.datetime) -> EdxmlTimestamp:
    return EdxmlTimestamp(format_timestamp(when), when.astimezone(dt.UTC))


def document_id(parties: Parties, number: str, today: dt.date) -> str:
    """QCVN 102 ``DocumentId``: ``<sender code>,<yyyy/MM/dd>,<number/notation>``."""
    return f"{parties.bench.organ_id},{format_date(today)},{number}/UBND-KT"


def bench_edoc(
    parties: Parties,
    ref: str,
    *,
    now: dt.datetime,
    run: str,
    signed_pdf: bytes | None,
    original_id: str | None = None,
) -> tuple[str, bytes]:
    """The ``ref`` document (``new`` … ``replace``) and its ``DocumentId``. ``run`` makes the
    numbers unique per run; ``original_id`` is the new document's id (for the later actions)."""
    kind = DOC_TYPES[ref]
    local = now.astimezone(VN_TZ)
    today = local.date()
    number = f"{run}{int(kind)}"
    doc_id = document_id(parties, number, today)
    concerned = doc_id if kind is BussinessDocType.NEW else (original_id or doc_id)
    bussiness = Bussiness(
        document_id=concerned if kind is not BussinessDocType.NEW else doc_id,
        doc_type=kind,
        doc_type_raw=str(int(kind)),
        reason=_REASONS[kind],
        paper=0,
        document_info=(
            BussinessDocumentInfo(1, 1, (Receiver(parties.vendor.organ_id, 1),))
            if kind is BussinessDocType.UPDATE
            else None
        ),
        replacements=(
            (ReplacementInfo(concerned, (parties.vendor.organ_id,)),)
            if kind is BussinessDocType.REPLACE
            else ()
        ),
        staff_info=StaffInfo("Văn phòng", "Lê Thị Hòa", "vanthu@kiemthu.gov.vn", None),
    )
    package = EdocPackage(
        header=EdocHeader(
            from_=parties.bench,
            to=(parties.vendor,),
            document_id=doc_id,
            code=Code(number, "UBND-KT"),
            promulgation_info=PromulgationInfo("Nghệ An", EdxmlDate(format_date(today), today)),
            document_type=DocumentType(1, 0, "Công văn", "1"),
            subject=f"V/v kiểm thử liên thông: {_REASONS[kind].lower()} — Đặc biệt ưu tiên",
            signer_info=SignerInfo("TM. ỦY BAN NHÂN DÂN", "Chủ tịch", "Nguyễn Văn Bình"),
            to_places=("Như trên", "Lưu: VT, Văn phòng"),
            other_info=OtherInfo(priority=0, promulgation_amount=1, page_amount=1),
        ),
        trace=TraceHeaderList((TraceHeader(parties.bench.organ_id, _ts(local)),), bussiness),
    )
    attachments = []
    if signed_pdf is not None:
        attachments.append(
            OutgoingAttachment(
                "1", f"{number}-UBND-KT.pdf", "application/pdf", signed_pdf, description="Văn bản"
            )
        )
    notes = f"Phụ lục kèm theo văn bản {number}/UBND-KT — Đơn vị: Sở Nội vụ\n".encode()
    attachments.append(
        OutgoingAttachment(
            str(len(attachments) + 1),
            "phu-luc-danh-sach.txt",
            "text/plain",
            notes,
            description="Phụ lục danh sách đơn vị",
        )
    )
    return doc_id, write_edoc(package, attachments)


def bench_status(
    parties: Parties, code: str, description: str, *, about: str, now: dt.datetime
) -> bytes:
    """A status (``code``) from the bench's agency about the vendor's document ``about``
    (its ``DocumentId``: ``<code>,<date>,<number/notation>``)."""
    parts = about.split(",")
    notation = parts[2] if len(parts) >= 3 else about
    date_text = parts[1] if len(parts) >= 3 else format_date(now.date())
    try:
        day = dt.datetime.strptime(date_text, "%Y/%m/%d").date()
    except ValueError:
        day = None
    return write_status(
        StatusPackage(
            header=StatusHeader(
                from_=parties.bench,
                response_for=ResponseFor(
                    organ_id=parties.vendor.organ_id,
                    code=notation,
                    promulgation_date=EdxmlDate(date_text, day),
                    document_id=about,
                ),
                staff_info=StaffInfo("Văn thư", "Trần Thị Bích", "vanthu@kiemthu.gov.vn", None),
                status_code=code,
                description=description,
                timestamp=_ts(now.astimezone(VN_TZ)),
            )
        )
    )


#: The bench's answer to the vendor's document, with its descriptions (QCVN 102 §5).
ANSWERS = (
    ("01", "Đã đến — phần mềm QLVB đã nhận"),
    ("03", "Đã tiếp nhận — văn thư đã vào sổ"),
    ("06", "Hoàn thành — đã xử lý xong"),
)
