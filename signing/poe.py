"""Trust at a proven past moment: a timestamped (PAdES B-T) signature judged at its timestamp.

Why. A signer certificate expires; the signatures it made do not. ETSI EN 319 102-1 §5.5
("validation process for signatures with time") judges an intact signature whose certificate
has expired *at the time a trusted timestamp proves the signature existed*: if the chain was
good then, the signature is valid today. Without such a proof of existence (POE) the answer is
indeterminate, ``OUT_OF_BOUNDS_NO_POE`` — which is what :class:`signing.trust.TrustEvaluator`'s
"expired" means for the outcome.

How. :meth:`PastTrust.at` hands the question to pyhanko-certvalidator, the validator pyHanko's
own AdES processes use: a ``ValidationContext`` whose ``moment`` is the timestamp's ``genTime``
(RFC 3161 §2.4.2), with ``retroactive_revinfo`` so that revocation data issued after that
moment counts (a CRL published today still says whether the certificate had been revoked
before), and every intermediate checked (``revocation_mode="require"`` when the trust policy
requires revocation). Its errors are read with pyHanko's own translation into AdES
sub-indications (``generic_cms.handle_certvalidator_errors``). No date arithmetic of our own.

The revocation data comes from the trust evaluator's cache and fetch layer
(:meth:`signing.trust.TrustEvaluator.crls_for_chain`): the one network path of the hub, with
its timeouts, CRL files and isolated-network grace, and no second HTTP client inside pyHanko.
A PAdES B-LT document adds what its DSS holds (pyHanko's ``DocumentSecurityStore``).

Contract: :meth:`PastTrust.at` never raises for a bad certificate; it returns a frozen
:class:`~signing.verdicts.TrustStatus` whose ``detail`` names the moment it was judged at.
Cost: a chain build and CRL checks per call (≈ the cost of one fresh trust decision); it is only
called for an expired signer with a good timestamp, and the PDF verdict cache covers repeats.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.generic_cms import handle_certvalidator_errors
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import InsufficientRevinfoError, StaleRevinfoError
from pyhanko_certvalidator.path import ValidationPath

from signing.trust import TrustEvaluator
from signing.verdicts import RevocationSource, Trust, TrustStatus

#: pyHanko's AdES sub-indication → the trust outcome it means for the signer.
_FROM_ADES: dict[AdESIndeterminate, Trust] = {
    AdESIndeterminate.REVOKED_NO_POE: Trust.REVOKED,
    AdESIndeterminate.REVOKED_CA_NO_POE: Trust.REVOKED,
    AdESIndeterminate.OUT_OF_BOUNDS_NO_POE: Trust.EXPIRED,
    AdESIndeterminate.NOT_YET_VALID: Trust.NOT_YET_VALID,
    AdESIndeterminate.TRY_LATER: Trust.UNKNOWN_REVOCATION,
    AdESIndeterminate.NO_POE: Trust.UNKNOWN_REVOCATION,
}


class _NoRevocationData(Exception):
    """Revocation data required at the moment could not be had (kept apart from other chain
    failures: pyHanko's translation reports it as a general chain failure)."""


async def _checked(validator: CertificateValidator) -> ValidationPath:
    try:
        path: ValidationPath = await validator.async_validate_usage(set())  # type: ignore[no-untyped-call]
    except InsufficientRevinfoError as exc:
        if isinstance(exc, StaleRevinfoError):
            raise  # pyHanko reads a stale one as TRY_LATER itself
        raise _NoRevocationData from exc
    return path


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


class PastTrust:
    """Judges a signer certificate at a past moment, with the evaluator's anchors and data."""

    def __init__(self, evaluator: TrustEvaluator) -> None:
        self.evaluator = evaluator
        self._roots = [_asn1(c) for c in evaluator.store.anchors]
        self._intermediates = [_asn1(c) for c in evaluator.store.intermediates]

    async def at(
        self,
        cert: x509.Certificate,
        extra: Sequence[x509.Certificate],
        moment: dt.datetime,
        *,
        dss: DocumentSecurityStore | None = None,
    ) -> TrustStatus:
        """The trust decision for ``cert`` as of ``moment`` (a verified timestamp's time).

        ``dss`` is the document's security store (PAdES B-LT, ETSI EN 319 142-1 §5.4): its
        certificates, CRLs and OCSP answers join the evaluator's, so a B-LT signature can be
        judged on an isolated network.
        """
        now = dt.datetime.now(dt.UTC)
        policy = self.evaluator.policy
        if not self._roots:
            return TrustStatus(Trust.UNTRUSTED, now, detail="no trust anchor is configured")
        crls = []
        if policy.check_revocation:
            # The evaluator may fetch over the network (blocking I/O): off the event loop.
            found = await asyncio.to_thread(self.evaluator.crls_for_chain, cert, extra)
            crls = [crl.public_bytes(Encoding.DER) for crl in found]
        required = policy.check_revocation and policy.require_revocation
        settings: dict[str, Any] = {
            "trust_roots": self._roots,
            "other_certs": [*self._intermediates, *(_asn1(c) for c in extra)],
            "moment": moment,
            "allow_fetching": False,  # the evaluator fetched what could be fetched
            "crls": crls,
            "revocation_mode": "require" if required else "soft-fail",
            "retroactive_revinfo": True,
            "time_tolerance": policy.clock_skew,
        }
        context = (
            dss.as_validation_context(settings)
            if dss is not None
            else ValidationContext(**settings)
        )
        leaf = _asn1(cert)
        validator = CertificateValidator(leaf, validation_context=context)
        when = moment.isoformat(timespec="seconds")
        try:
            result = await handle_certvalidator_errors(leaf, _checked(validator))
        except _NoRevocationData as exc:
            return TrustStatus(
                Trust.UNKNOWN_REVOCATION,
                now,
                detail=f"judged at the signature timestamp {when}: no usable revocation data "
                f"({exc.__cause__})",
            )
        path = result.success_result or result.error_path
        chain = (
            tuple(
                x509.load_der_x509_certificate(c.dump()).subject.rfc4514_string()
                for c in reversed(list(path))
            )
            if path is not None
            else ()
        )
        if result.success_result is not None:
            return TrustStatus(
                Trust.TRUSTED,
                now,
                revocation_source=RevocationSource.CRL if crls else RevocationSource.NONE,
                chain=chain,
                detail=f"judged at the signature timestamp {when}",
            )
        sub = result.error_subindic
        status = _FROM_ADES.get(sub, Trust.UNTRUSTED) if sub is not None else Trust.UNTRUSTED
        revoked_at = result.revo_details.revocation_date if result.revo_details else None
        return TrustStatus(
            status,
            now,
            revoked_at=revoked_at,
            chain=chain,
            detail=f"judged at the signature timestamp {when}: "
            + (sub.name if sub is not None else "no valid chain"),
        )
