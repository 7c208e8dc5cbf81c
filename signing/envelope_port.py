"""The hub's signature port (:class:`hub.ports.SignatureVerifier`) implemented with ``signing``.

The composition root builds one :class:`HubSignatureVerifier` from a
:class:`signing.xmldsig.SignatureVerifier` (trust store + per-sender policies) and, optionally, a
PDF check supplied by :mod:`signing.pdf_verify`, and hands it to the services. The services
decide on the coarse :class:`hub.ports.EnvelopeStatus`; the full verdict goes into
``Verdicts.details["envelope"]`` (JSON-ready) for storage and display.

Mapping of the envelope verdict onto the hub's statuses (the three-way outcome goes along
unchanged in ``Verdicts.envelope_verdict`` / ``envelope_subindication``):

==========================================  =============  ========================================
signing status                              hub status     why
==========================================  =============  ========================================
absent; unverifiable without XML-DSig       missing        nothing that could be checked (SDK)
valid                                       valid
untrusted                                   untrusted      intact, no chain to a configured anchor
expired, not_yet_valid,                     indeterminate  intact, but trust cannot be established
unknown_revocation                                         now (no proof of time, data unreachable)
revoked                                     invalid        a certificate of the chain is revoked
digest_mismatch, bad_signature,             invalid        a real signature that fails, a refused
weak_algorithm, unverifiable with XML-DSig                 algorithm, or a wrapping attempt
==========================================  =============  ========================================

A refused algorithm and a signature without a readable certificate are *indeterminate* in
ETSI's terms (CRYPTO_CONSTRAINTS_FAILURE, NO_SIGNING_CERTIFICATE_FOUND) but stay ``invalid``
for the hub: the sender's policy forbids them outright, and flagging instead of refusing them
would let a downgraded or stripped signature through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from lxml import etree

from hub.edxml.reader import ParsedPackage
from hub.edxml.source import Package
from hub.errors import HubError
from hub.ports import EnvelopeStatus as HubEnvelopeStatus
from hub.ports import Indication, Verdicts
from signing.verdicts import EnvelopeStatus, EnvelopeVerdict
from signing.xmldsig import SignatureVerifier

if TYPE_CHECKING:
    from signing.pdf_verify import PdfVerifier

#: ``(parsed, data, sender) -> (pdf_checked, pdf_bad, pdf_indeterminate, details)``; supplied
#: by the PDF side (``pdf_indeterminate`` counts the indeterminate ones among ``pdf_bad``).
PdfCheck = Callable[[ParsedPackage, Package, str], tuple[int, int, int, Mapping[str, Any]]]

_INDETERMINATE = frozenset(
    {
        EnvelopeStatus.EXPIRED,
        EnvelopeStatus.NOT_YET_VALID,
        EnvelopeStatus.UNKNOWN_REVOCATION,
    }
)


def hub_status(verdict: EnvelopeVerdict) -> HubEnvelopeStatus:
    """The hub's coarse status for an envelope verdict (table in the module docstring)."""
    if verdict.status is EnvelopeStatus.VALID:
        return HubEnvelopeStatus.VALID
    if not verdict.xmldsig_present:
        return HubEnvelopeStatus.MISSING
    if verdict.status is EnvelopeStatus.UNTRUSTED:
        return HubEnvelopeStatus.UNTRUSTED
    if verdict.status in _INDETERMINATE:
        return HubEnvelopeStatus.INDETERMINATE
    return HubEnvelopeStatus.INVALID


class HubSignatureVerifier:
    """Implements :class:`hub.ports.SignatureVerifier` on top of the envelope verifier."""

    def __init__(self, envelope: SignatureVerifier, pdf_check: PdfCheck | None = None) -> None:
        self.envelope = envelope
        self._pdf_check = pdf_check

    def verify(self, parsed: ParsedPackage, data: Package, sender: str) -> Verdicts:
        """Verdicts on ``data`` as received; the parsed tree saves the structural pass a parse.

        The cryptographic check always runs on ``data`` (the received bytes). A tree rebuilt
        with elided attachments is not used for the structural checks of a signature (comments
        and processing instructions may not survive the rebuild): the bytes are parsed again.
        It does say whether there is a signature at all: a large unsigned package (the usual
        SDK package) is judged from it without loading its bytes.
        """
        root: etree._Element | None = parsed.root
        raw = b""  # an unsigned elided tree: the verdict needs no bytes
        if not parsed.attachments_elided or _has_signature(parsed.root):
            root = None if parsed.attachments_elided else root
            raw = data if isinstance(data, bytes) else data.read_all()
        verdict = self.envelope.verify_envelope(raw, sender, root=root)
        details: dict[str, Any] = {"envelope": verdict.to_dict()}
        checked = bad = unsure = 0
        if self._pdf_check is not None:
            checked, bad, unsure, pdf_details = self._pdf_check(parsed, data, sender)
            details["pdf"] = dict(pdf_details)
        outcome = verdict.outcome if verdict.xmldsig_present else None
        return Verdicts(
            hub_status(verdict),
            pdf_checked=checked,
            pdf_bad=bad,
            details=details,
            envelope_verdict=outcome.indication if outcome else None,
            envelope_subindication=(
                outcome.subindication.value if outcome and outcome.subindication else None
            ),
            pdf_indeterminate=unsure,
        )


def _has_signature(root: etree._Element) -> bool:
    """Whether any element of the tree is named ``Signature`` (in any namespace)."""
    return any(
        isinstance(el.tag, str) and el.tag.rpartition("}")[2] == "Signature" for el in root.iter()
    )


def pdf_check_from(verifier: PdfVerifier) -> PdfCheck:
    """A :data:`PdfCheck` that verifies every PDF signature inside the package.

    Counts signatures examined, those whose outcome is not valid, and among them the
    indeterminate ones; the per-PDF verdicts (with the Nghị định 30 warnings) go into the
    details. A package whose attachments cannot be read yields no count and the reason — the
    profile check already reported it.
    """

    def check(
        parsed: ParsedPackage, data: Package, sender: str
    ) -> tuple[int, int, int, dict[str, Any]]:
        if not getattr(parsed.package, "attachments", ()):
            return 0, 0, 0, {"pdfs": []}
        try:
            verdicts = verifier.verify_parsed(parsed, data)  # reuses the intake's one parse
        except HubError as exc:
            return 0, 0, 0, {"pdfs": [], "error": exc.code}
        outcomes = [s.outcome.indication for v in verdicts for s in v.signatures]
        bad = sum(1 for o in outcomes if o is not Indication.VALID)
        unsure = sum(1 for o in outcomes if o is Indication.INDETERMINATE)
        return len(outcomes), bad, unsure, {"pdfs": [v.to_dict("en") for v in verdicts]}

    return check
