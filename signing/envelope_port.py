"""The hub's signature port (:class:`hub.ports.SignatureVerifier`) implemented with ``signing``.

The composition root builds one :class:`HubSignatureVerifier` from a
:class:`signing.xmldsig.SignatureVerifier` (trust store + per-sender policies) and, optionally, a
PDF check supplied by :mod:`signing.pdf_verify`, and hands it to the services. The services
decide on the coarse :class:`hub.ports.EnvelopeStatus`; the full verdict goes into
``Verdicts.details["envelope"]`` (JSON-ready) for storage and display.

Mapping of the envelope verdict onto the hub's statuses:

==========================================  ===========  ==========================================
signing status                              hub status   why
==========================================  ===========  ==========================================
absent; unverifiable without XML-DSig       missing      nothing that could be checked (SDK layout)
valid                                       valid
untrusted, expired, not_yet_valid,          untrusted    intact, but the signer is not trusted now
revoked, unknown_revocation
digest_mismatch, bad_signature,             invalid      a real signature that fails, a refused
weak_algorithm, unverifiable with XML-DSig               algorithm, or a wrapping attempt
==========================================  ===========  ==========================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from hub.edxml.reader import ParsedPackage
from hub.errors import HubError
from hub.ports import EnvelopeStatus as HubEnvelopeStatus
from hub.ports import Verdicts
from signing.verdicts import EnvelopeStatus, EnvelopeVerdict
from signing.xmldsig import SignatureVerifier

if TYPE_CHECKING:
    from signing.pdf_verify import PdfVerifier

#: ``(parsed, data, sender) -> (pdf_checked, pdf_bad, details)``; supplied by the PDF side.
PdfCheck = Callable[[ParsedPackage, bytes, str], tuple[int, int, Mapping[str, Any]]]

_UNTRUSTED = frozenset(
    {
        EnvelopeStatus.UNTRUSTED,
        EnvelopeStatus.EXPIRED,
        EnvelopeStatus.NOT_YET_VALID,
        EnvelopeStatus.REVOKED,
        EnvelopeStatus.UNKNOWN_REVOCATION,
    }
)


def hub_status(verdict: EnvelopeVerdict) -> HubEnvelopeStatus:
    """The hub's coarse status for an envelope verdict (table in the module docstring)."""
    if verdict.status is EnvelopeStatus.VALID:
        return HubEnvelopeStatus.VALID
    if not verdict.xmldsig_present:
        return HubEnvelopeStatus.MISSING
    if verdict.status in _UNTRUSTED:
        return HubEnvelopeStatus.UNTRUSTED
    return HubEnvelopeStatus.INVALID


class HubSignatureVerifier:
    """Implements :class:`hub.ports.SignatureVerifier` on top of the envelope verifier."""

    def __init__(self, envelope: SignatureVerifier, pdf_check: PdfCheck | None = None) -> None:
        self.envelope = envelope
        self._pdf_check = pdf_check

    def verify(self, parsed: ParsedPackage, data: bytes, sender: str) -> Verdicts:
        """Verdicts on ``data`` as received; the parsed tree saves the structural pass a parse.

        The cryptographic check always runs on ``data`` (the received bytes). A tree rebuilt
        with elided attachments is not used even for the structural checks (comments and
        processing instructions may not survive the rebuild): the bytes are parsed again.
        """
        root = None if parsed.attachments_elided else parsed.root
        verdict = self.envelope.verify_envelope(data, sender, root=root)
        details: dict[str, Any] = {"envelope": verdict.to_dict()}
        checked = bad = 0
        if self._pdf_check is not None:
            checked, bad, pdf_details = self._pdf_check(parsed, data, sender)
            details["pdf"] = dict(pdf_details)
        return Verdicts(hub_status(verdict), pdf_checked=checked, pdf_bad=bad, details=details)


def pdf_check_from(verifier: PdfVerifier) -> PdfCheck:
    """A :data:`PdfCheck` that verifies every PDF signature inside the package.

    Counts signatures examined and those that are not intact, valid and trusted; the per-PDF
    verdicts (with the Nghị định 30 warnings) go into the details. A package whose attachments
    cannot be read yields no count and the reason — the profile check already reported it.
    """

    def check(parsed: ParsedPackage, data: bytes, sender: str) -> tuple[int, int, dict[str, Any]]:
        if not getattr(parsed.package, "attachments", ()):
            return 0, 0, {"pdfs": []}
        try:
            verdicts = verifier.verify_parsed(parsed, data)  # reuses the intake's one parse
        except HubError as exc:
            return 0, 0, {"pdfs": [], "error": exc.code}
        checked = sum(len(v.signatures) for v in verdicts)
        bad = sum(1 for v in verdicts for s in v.signatures if not s.bottom_line)
        return checked, bad, {"pdfs": [v.to_dict("en") for v in verdicts]}

    return check
