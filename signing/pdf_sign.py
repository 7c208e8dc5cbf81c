"""Sign PDFs the Nghị định 30 way: PAdES B-B, or B-T with an RFC 3161 timestamp.

:class:`PdfSigningService` holds one key (a pyHanko ``Signer``: a key file parsed once, or a
PKCS#11 session) and optionally one timestamp authority, and applies the four Nghị định 30
signatures of :mod:`signing.pdf_layout` as incremental updates (ISO 32000-1 §7.5.6): each new
signature leaves the bytes of the earlier ones untouched, so every signature still verifies and
the verifier can tell a later signature from a later edit.

PAdES baseline (ETSI EN 319 142-1): the CMS container is ``ETSI.CAdES.detached`` with the
signing certificate bound by ``signing-certificate-v2`` (B-B); a signature timestamp from the
configured TSA (RFC 3161) inside the unsigned attributes makes it B-T.

Performance hazards (PERFORMANCE.md): pyHanko signs twice, to size the signature, unless
``bytes_reserved`` is given, and reloads a key file each time unless the signer object is kept.
The service therefore keeps its ``Signer`` and computes the reserved size once from the
certificates it embeds (≈ 9.6 → 45 signatures/s).

Hazard: the service is not thread-safe for PKCS#11 signers (one token session); give each
worker thread its own service.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from asn1crypto import tsp
from pyhanko.pdf_utils.generic import IndirectObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.attributes import CMSAttributeProvider, SignedAttributeProviderSpec
from pyhanko.sign.general import SigningError, as_signing_certificate_v2
from pyhanko.sign.signers.pdf_signer import PdfSigningSession
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError

from hub.errors import InvalidRequest, KeyAccessError, PeerUnavailable, SenderError
from signing import loop
from signing.pdf_layout import (
    DEFAULT_LAYOUT_STYLE,
    VIETNAM_TZ,
    Box,
    LayoutStyle,
    SignatureRole,
    corner_box,
    drawable,
    font_for_pdf,
    seal_box,
    signature_text,
    stamp_style,
)

#: Room for the CMS container besides the certificates and the signature value: signed
#: attributes (content type, digest, signing time, signing-certificate-v2) and the DER framing.
_CMS_OVERHEAD = 1536
#: Room for an RFC 3161 timestamp token (TSA certificate chain included).
_TIMESTAMP_ROOM = 6144


@dataclass(frozen=True)
class SignRequest:
    """One signature to apply. Pages are numbered from 1; ``None`` picks the role's default."""

    role: SignatureRole
    """Which Nghị định 30 signature: person, agency, attachment or copy."""

    page: int | None = None
    """Page of the signature (1-based; negative counts from the end). Default: the last page for
    person signatures, the page of the person's signature for agency ones, page 1 otherwise."""

    box: Box | None = None
    """Person: the signature image's box. Agency: the *person's* box the seal covers (default:
    the last visible signature on the page). Attachment/copy: overrides the top-right box."""

    image: bytes | None = None
    """PNG of the signature (person) or of the seal (agency); ignored for attachment/copy."""

    agency_name: str | None = None
    """Agency name shown beside the seal and on copies (and attachments, when given)."""

    number: str | None = None
    """Document number/symbol (số, ký hiệu) shown on attachment signatures."""

    copy_form: str | None = None
    """Copy form shown on copy signatures: ``SAO Y``, ``SAO LỤC`` or ``TRÍCH SAO``."""

    text: str | None = None
    """An extra line of text appended to the appearance."""

    reason: str | None = None
    location: str | None = None
    field_name: str | None = None
    """Name of the new signature field; default ``<role>-<n>``."""


class _TimedPdfSigner(signers.PdfSigner):
    """A ``PdfSigner`` whose signing time is fixed up front, so the text on the page shows the
    very instant written in the CMS ``signingTime`` attribute and the ``/M`` entry."""

    def __init__(self, *args: Any, system_time: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._system_time = system_time

    def init_signing_session(
        self, pdf_out: BasePdfFileWriter, existing_fields_only: bool = False
    ) -> PdfSigningSession:
        session = super().init_signing_session(pdf_out, existing_fields_only)
        session.system_time = self._system_time
        return session


class _EncodedSigningCertificate(CMSAttributeProvider):
    """The ``signing-certificate-v2`` value from its DER encoding (parsed afresh per signature:
    a parsed value is written back as it was read, never re-encoded)."""

    attribute_type = "signing_certificate_v2"

    def __init__(self, der: bytes) -> None:
        self._der = der

    async def build_attr_value(self, dry_run: bool = False) -> tsp.SigningCertificateV2:
        return tsp.SigningCertificateV2.load(self._der)


class _PadesSignedAttributes(SignedAttributeProviderSpec):
    """The signed attributes pyHanko gives a PAdES signature (ETSI EN 319 142-1 §5.2.2:
    ``signing-certificate-v2``; ``content-type`` and ``message-digest`` it adds itself, and
    PAdES forbids ``signing-time``), with the ``signing-certificate-v2`` value — a function of
    the certificate alone — encoded once per key instead of built and encoded per signature."""

    def __init__(self, signing_cert: Any) -> None:
        self._der = as_signing_certificate_v2(signing_cert).dump()

    def signed_attr_providers(
        self, data_digest: bytes, digest_algorithm: str
    ) -> Iterator[CMSAttributeProvider]:
        yield _EncodedSigningCertificate(self._der)


def _page_count(writer: IncrementalPdfFileWriter) -> int:
    return int(writer.root["/Pages"]["/Count"])


def _page_box(writer: IncrementalPdfFileWriter, page_ix: int) -> Box:
    page_ref, _ = writer.find_page_for_modification(page_ix)  # type: ignore[no-untyped-call]
    node = page_ref.get_object()
    while "/MediaBox" not in node and "/Parent" in node:
        node = node["/Parent"].get_object()
    x1, y1, x2, y2 = (float(v) for v in node["/MediaBox"])
    return Box(x1, y1, x2, y2)


def last_visible_signature(writer: IncrementalPdfFileWriter) -> tuple[int, Box] | None:
    """Page index (0-based) and box of the last filled signature field that has an area."""
    found: tuple[int, Box] | None = None
    widget_pages: dict[int, int] = {}
    for ix in range(_page_count(writer)):
        page_ref, _ = writer.find_page_for_modification(ix)  # type: ignore[no-untyped-call]
        for annot in page_ref.get_object().get("/Annots", ()):
            if isinstance(annot, IndirectObject):
                widget_pages[annot.idnum] = ix
    for _name, _value, field_ref in fields.enumerate_sig_fields(writer, filled_status=True):
        field = field_ref.get_object()
        rect = field.get("/Rect")
        if rect is None or field_ref.idnum not in widget_pages:
            continue
        x1, y1, x2, y2 = (float(v) for v in rect)
        if x2 - x1 > 1 and y2 - y1 > 1:
            found = (widget_pages[field_ref.idnum], Box(x1, y1, x2, y2))
    return found


class PdfSigningService:
    """Applies Nghị định 30 signatures with one long-lived key and an optional TSA.

    ``signer`` is a pyHanko ``Signer`` (from :mod:`signing.keys`); ``timestamper`` a pyHanko
    ``TimeStamper`` (see :func:`http_timestamper`) — with it signatures are PAdES B-T, without
    it B-B. ``style`` sets fonts and sizes.
    """

    def __init__(
        self,
        signer: signers.Signer,
        *,
        timestamper: TimeStamper | None = None,
        style: LayoutStyle = DEFAULT_LAYOUT_STYLE,
        md_algorithm: str = "sha256",
    ) -> None:
        if signer.signing_cert is None:
            raise KeyAccessError(
                "the signing key has no certificate",
                message_vi="Khóa ký không có chứng thư số đi kèm",
            )
        cert = signer.signing_cert
        if signer.signed_attr_prov_spec is None:
            # A copy: the caller's signer may also make other (CAdES) signatures.
            signer = copy.copy(signer)
            signer.signed_attr_prov_spec = _PadesSignedAttributes(cert)
        self.signer = signer
        self.timestamper = timestamper
        self._fonts: tempfile.TemporaryDirectory[str] | None = None
        if style.font_file is not None:
            # Rescaled once per service; the directory lives as long as the service.
            self._fonts = tempfile.TemporaryDirectory(prefix="lienthong-fonts-")
            style = replace(style, font_file=font_for_pdf(style.font_file, Path(self._fonts.name)))
        self.style = style
        self.md_algorithm = md_algorithm
        cert_bytes = len(cert.dump()) + sum(len(c.dump()) for c in signer.cert_registry)
        # The signature value is as long as the key's modulus (RSA) or ≤ 2·size + 8 (ECDSA).
        key_bytes = 2 * (cert.public_key.bit_size + 7) // 8 + 8
        reserved = cert_bytes + key_bytes + _CMS_OVERHEAD
        reserved += _TIMESTAMP_ROOM if timestamper else 0
        # ``/Contents`` is written in hex: two characters per byte of the CMS container. Keep it
        # tight — readers scan the whole hex string byte by byte (≈ 1 ms per 1,000 characters).
        self.bytes_reserved = 2 * reserved

    def _placement(self, writer: IncrementalPdfFileWriter, request: SignRequest) -> tuple[int, Box]:
        pages = _page_count(writer)

        def page_ix(default: int) -> int:
            if request.page is None:
                return default
            ix = request.page - 1 if request.page > 0 else pages + request.page
            if not 0 <= ix < pages:
                raise InvalidRequest(
                    f"page {request.page} is outside the document's {pages} pages",
                    message_vi=f"Trang {request.page} nằm ngoài {pages} trang của văn bản",
                    code="pdf.page",
                )
            return ix

        role = request.role
        if role is SignatureRole.PERSON:
            ix = page_ix(pages - 1)
            if request.box is not None:
                return ix, request.box
            page = _page_box(writer, ix)
            # Default: the signature block on the right half, above the lower margin.
            return ix, Box(page.x2 - 260, page.y1 + 160, page.x2 - 90, page.y1 + 230)
        if role is SignatureRole.AGENCY:
            if request.box is not None:
                return page_ix(pages - 1), seal_box(request.box, self.style)
            person = last_visible_signature(writer)
            if person is None:
                raise InvalidRequest(
                    "no visible signature to place the seal on; give the person's box",
                    message_vi="Văn bản chưa có chữ ký hiển thị để đóng dấu lên; "
                    "hãy chỉ ra khung chữ ký của người có thẩm quyền",
                    code="pdf.no_person_signature",
                )
            return page_ix(person[0]), seal_box(person[1], self.style)
        ix = page_ix(0)
        return ix, request.box or corner_box(_page_box(writer, ix), self.style)

    def sign(self, pdf: bytes, request: SignRequest, *, now: datetime | None = None) -> bytes:
        """Return ``pdf`` with one more signature appended as an incremental update.

        Raises :class:`~hub.errors.SenderError` (``pdf.unreadable``) for bytes that are not a
        PDF pyHanko can update, :class:`~hub.errors.InvalidRequest` for a bad placement, and
        :class:`~hub.errors.KeyAccessError` when the key fails, and
        :class:`~hub.errors.PeerUnavailable` (``tsa.unavailable``) when the TSA does not answer.
        """
        return loop.run(self.async_sign(pdf, request, now=now))

    async def async_sign(
        self, pdf: bytes, request: SignRequest, *, now: datetime | None = None
    ) -> bytes:
        """The coroutine behind :meth:`sign`, for callers that already run an event loop."""
        try:
            writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
        except (PdfError, ValueError, KeyError) as exc:
            raise SenderError(
                "not a PDF that can be signed",
                message_vi="Tệp không phải PDF có thể ký",
                code="pdf.unreadable",
            ) from exc
        page_ix, box = self._placement(writer, request)
        existing = len(list(fields.enumerate_sig_fields(writer)))
        name = request.field_name or f"{request.role.value}-{existing + 1}"
        moment = (now or datetime.now(VIETNAM_TZ)).astimezone(VIETNAM_TZ).replace(microsecond=0)
        text = signature_text(
            request.role,
            signing_time=moment,
            agency_name=request.agency_name,
            number=request.number,
            copy_form=request.copy_form,
            extra=request.text,
        )
        image = (
            request.image if request.role in (SignatureRole.PERSON, SignatureRole.AGENCY) else None
        )
        meta = signers.PdfSignatureMetadata(
            field_name=name,
            md_algorithm=self.md_algorithm,
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=request.reason,
            location=request.location,
        )
        pdf_signer = _TimedPdfSigner(
            meta,
            signer=self.signer,
            timestamper=self.timestamper,
            # An embedded font with no glyphs cannot be written: image-only stamps use none.
            stamp_style=stamp_style(
                request.role,
                image=image,
                style=self.style if text else replace(self.style, font_file=None),
            ),
            new_field_spec=fields.SigFieldSpec(
                sig_field_name=name, on_page=page_ix, box=box.as_int_tuple()
            ),
            system_time=moment,
        )
        params = {"text": drawable(text, self.style)}
        try:
            try:
                out = BytesIO()
                await pdf_signer.async_sign_pdf(
                    writer,
                    bytes_reserved=self.bytes_reserved,
                    appearance_text_params=params,
                    output=out,
                )
            except SigningError as exc:
                if "larger than expected" not in str(exc):
                    raise
                # A bigger container than estimated (a TSA with a long chain): double the room,
                # keep it for the next signatures, and sign this one again from the start.
                self.bytes_reserved *= 2
                return await self.async_sign(pdf, request, now=now)
        except TimestampRequestError as exc:
            # RFC 3161 §3.4: the TSA is reached over HTTP; an outage is the peer's, retry later.
            raise PeerUnavailable(
                f"the timestamp authority did not answer: {exc}",
                message_vi=f"Máy chủ dấu thời gian không phản hồi: {exc}",
                code="tsa.unavailable",
            ) from exc
        except SigningError as exc:
            raise KeyAccessError(
                f"signing failed: {exc}",
                message_vi=f"Ký số không thành công: {exc}",
                code="pdf.sign_failed",
            ) from exc
        return out.getvalue()

    def with_style(self, style: LayoutStyle) -> PdfSigningService:
        """The same key and TSA with another layout style."""
        return PdfSigningService(
            self.signer, timestamper=self.timestamper, style=style, md_algorithm=self.md_algorithm
        )


def http_timestamper(url: str, *, timeout: float = 10.0) -> TimeStamper:
    """An RFC 3161 client for the TSA at ``url`` (HTTP POST, ``application/timestamp-query``)."""
    from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

    return RequestsHTTPTimeStamper(url, timeout=timeout)  # type: ignore[no-untyped-call]


__all__ = [
    "Box",
    "PdfSigningService",
    "SignRequest",
    "SignatureRole",
    "http_timestamper",
    "last_visible_signature",
]
