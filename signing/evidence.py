"""The evidence chain's cryptography: RFC 3161 timestamps and the hub's CMS receipts.

* :class:`HttpTimestamper` — :class:`hub.evidence.Timestamper` over HTTP (pyHanko's RFC 3161
  client, as the PAdES B-T signer uses it). The imprint sent is the chain head hash itself
  (SHA-256), so ``openssl ts -verify -digest <head hex>`` checks a token without our code.
  Every failure to get a token is :class:`hub.errors.PeerUnavailable` (``tsa.unavailable``).
* :class:`CmsReceiptSigner` — :class:`hub.evidence.ReceiptSigner` with a loaded key (``file:``
  or ``pkcs11:``, :mod:`signing.keys`): a detached CMS ``SignedData`` with CAdES-BES signed
  attributes (content-type, message-digest, signing-time, signing-certificate-v2; ETSI EN 319
  122-1 §5.2), the signer's certificate and chain embedded.
* :func:`check_cms` / :func:`check_timestamp` — offline verdicts against given CA certificates
  only (no network, no revocation fetching: the verifier of an archived container may be
  anywhere). Verdicts are values; an exception means the bytes could not be read at all.

pyHanko's API is asynchronous; these run it to completion in the calling thread (the sealer and
the CLI are threads of their own, never the event loop).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509

from hub.errors import KeyAccessError, PeerUnavailable
from signing.keys import LoadedKey


class HttpTimestamper:
    """An RFC 3161 TSA at ``url`` (HTTP POST ``application/timestamp-query``)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        from signing.pdf_sign import http_timestamper

        self.url = url
        self._client = http_timestamper(url, timeout=timeout)

    def __repr__(self) -> str:
        return f"<HttpTimestamper {self.url}>"

    def stamp(self, imprint: bytes) -> bytes:
        from pyhanko.sign.timestamps.common_utils import TimestampRequestError

        try:
            token = asyncio.run(self._client.async_timestamp(imprint, "sha256"))
        except (TimestampRequestError, OSError) as exc:
            # RFC 3161 §3.4: the TSA is reached over HTTP; an outage is the peer's, retry later.
            raise PeerUnavailable(
                f"the timestamp authority did not answer: {exc}",
                message_vi=f"máy chủ dấu thời gian không phản hồi: {exc}",
                code="tsa.unavailable",
            ) from exc
        except Exception as exc:  # requests' own errors, a malformed answer
            raise PeerUnavailable(
                f"the timestamp authority's answer is unusable: {type(exc).__name__}",
                message_vi="câu trả lời của máy chủ dấu thời gian không dùng được",
                code="tsa.unavailable",
            ) from exc
        return bytes(token.dump())


class CmsReceiptSigner:
    """Signs receipts with the hub's key: detached CMS, CAdES-BES attributes."""

    def __init__(self, key: LoadedKey) -> None:
        self.key = key

    def __repr__(self) -> str:
        return f"<CmsReceiptSigner {self.key.ref.describe()}>"

    def sign(self, data: bytes) -> bytes:
        from pyhanko.sign.general import SigningError

        signer = self.key.pyhanko_signer()
        try:
            info = asyncio.run(
                signer.async_sign_general_data(data, "sha256", detached=True, use_cades=True)
            )
        except SigningError as exc:
            raise KeyAccessError(
                f"the receipt could not be signed: {exc}",
                message_vi=f"không ký được biên nhận: {exc}",
                code="evidence.sign_failed",
            ) from exc
        return bytes(info.dump())


@dataclass(frozen=True, slots=True)
class Verdict:
    """One signature or timestamp checked offline."""

    intact: bool
    """The signed bytes are the ones given (message digest / imprint match)."""
    valid: bool
    """The signature value verifies with the signer's certificate."""
    trusted: bool
    """The signer's certificate chains to one of the given CA certificates."""
    signer: str
    at: dt.datetime | None = None
    """The timestamp's ``genTime`` (timestamps) or the claimed signing time (CMS)."""
    problem: str | None = None

    @property
    def bottom_line(self) -> bool:
        return self.intact and self.valid and self.trusted


def _context(ca_certs: list[bytes], moment: dt.datetime | None = None) -> Any:
    from pyhanko_certvalidator import ValidationContext

    roots = [asn1_x509.Certificate.load(c) for c in ca_certs]
    # Offline by design: revocation is not fetched (the verifier may be air-gapped years
    # later); the certificates are checked for chain, validity period and key usage —
    # at ``moment`` when given (a timestamp's own time), else now.
    return ValidationContext(
        trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail", moment=moment
    )


def _signer_name(signed_data: cms.SignedData) -> str:
    sid = signed_data["signer_infos"][0]["sid"]
    serial = sid.chosen["serial_number"].native if sid.name == "issuer_and_serial_number" else None
    for cert in signed_data["certificates"] or ():
        c = cert.chosen
        if isinstance(c, asn1_x509.Certificate) and c.serial_number == serial:
            return str(c.subject.human_friendly)
    return "?"


def check_cms(content: bytes, signature: bytes, ca_certs: list[bytes]) -> Verdict:
    """Check a detached CMS signature over ``content`` against ``ca_certs`` (DER)."""
    from pyhanko.sign.validation.generic_cms import async_validate_detached_cms

    try:
        info = cms.ContentInfo.load(signature)
        signed = info["content"]
        name = _signer_name(signed)
    except (ValueError, TypeError, KeyError) as exc:
        return Verdict(False, False, False, "?", problem=f"not a CMS signature: {exc}")
    try:
        status = asyncio.run(
            async_validate_detached_cms(
                content, signed, signer_validation_context=_context(ca_certs)
            )
        )
    except Exception as exc:  # pyHanko reports structural failures as exceptions
        return Verdict(False, False, False, name, problem=f"{type(exc).__name__}: {exc}")
    problem = None if status.bottom_line else status.summary()
    return Verdict(
        status.intact, status.valid, status.trusted, name, status.signer_reported_dt, problem
    )


def timestamp_info(token: bytes) -> tsp.TSTInfo:
    """The ``TSTInfo`` inside a ``TimeStampToken`` (raises ``ValueError`` when it is none)."""
    info = cms.ContentInfo.load(token)
    content = info["content"]["encap_content_info"]["content"]
    parsed = content.parsed if content is not None else None
    if not isinstance(parsed, tsp.TSTInfo):
        raise ValueError("the token does not hold a TSTInfo")
    return parsed


def check_timestamp(token: bytes, imprint: bytes, ca_certs: list[bytes]) -> Verdict:
    """Check an RFC 3161 token: its imprint is SHA-256 ``imprint``, its TSA chains to
    ``ca_certs`` (DER) with the ``timeStamping`` usage."""
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko.sign.validation.status import TimestampSignatureStatus

    try:
        tst = timestamp_info(token)
        signed = cms.ContentInfo.load(token)["content"]
        name = _signer_name(signed)
    except (ValueError, TypeError, KeyError) as exc:
        return Verdict(False, False, False, "?", problem=f"not a timestamp token: {exc}")
    algo = tst["message_imprint"]["hash_algorithm"]["algorithm"].native
    if algo != "sha256":
        return Verdict(False, False, False, name, problem=f"imprint algorithm {algo}")
    try:
        # The TSA's certificate is judged at the token's genTime: evidence is read years
        # later, after that certificate expired (RFC 3161 §4.3 leaves this to the verifier).
        context = _context(ca_certs, moment=tst["gen_time"].native)
        kwargs = asyncio.run(validate_tst_signed_data(signed, context, lambda _alg: imprint))
        status = TimestampSignatureStatus(**kwargs)
    except Exception as exc:
        return Verdict(False, False, False, name, problem=f"{type(exc).__name__}: {exc}")
    ok = status.intact and status.valid and status.trusted
    problem = None if ok else status.summary()
    return Verdict(status.intact, status.valid, status.trusted, name, status.timestamp, problem)
